"""Data-parallel training under ``torchrun``: process group, FSDP2 sharding, gathered state dicts.

``winnow.train.loop.train_model`` calls into this module; single-process runs never touch
``torch.distributed``. Choices:

* A process is distributed when torchrun's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` are set and
  WORLD_SIZE > 1. The backend is NCCL on CUDA (device ``cuda:LOCAL_RANK``) and gloo on CPU.
  A process group that the caller already initialised is used as is and left open.
* FSDP2 (``torch.distributed.fsdp.fully_shard``) per transformer block, then the root (which
  holds the embedding, final norm and head). bf16 on CUDA adds ``MixedPrecisionPolicy(
  param_dtype=bf16, reduce_dtype=fp32)``: fp32 master weights and optimizer state, bf16
  compute and gathers, fp32 gradient reduction. Gradients are averaged over ranks by FSDP.
* Every rank builds the full model with the same seed before sharding, so a sharded run starts
  from the very weights a single process would (the cost: each rank holds one unsharded copy
  while building, in host memory, then on its GPU until ``fully_shard`` frees the rest).
* Checkpoints keep the single-process format so a run can resume with any world size:
  ``full_model_state`` / ``full_optimizer_state`` gather full, CPU-offloaded state dicts on rank
  0 (collectives: every rank must call them), the optimizer state keyed by parameter index as
  ``torch.optim.Optimizer.state_dict()`` keys it. Loading broadcasts rank 0's copy, so only
  rank 0 reads the files.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

logger = logging.getLogger("winnow.train")

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits: rank, world size, local rank, its device, and who owns the group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # True when init() created the process group (and close() ends it)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_from_torchrun(environ=os.environ) -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's variables; (0, 1, 0) when they are absent."""
    present = [k for k in ENV_KEYS if k in environ]
    if not present:
        return 0, 1, 0
    missing = [k for k in ENV_KEYS if k not in environ]
    if missing and "WORLD_SIZE" in missing:
        raise ValueError(f"torchrun environment is incomplete: {', '.join(present)} set but not {', '.join(missing)}")
    try:
        rank = int(environ.get("RANK", 0))
        world = int(environ["WORLD_SIZE"])
        local = int(environ.get("LOCAL_RANK", rank))
    except ValueError as e:
        raise ValueError(f"torchrun environment is not numeric: {e}") from None
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK={rank} is not a rank of WORLD_SIZE={world}")
    return rank, world, local


def init(timeout_s: float = 1800.0) -> DistEnv:
    """Set up this process: the process group when distributed, and the device either way."""
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", rank))
        owns = False
    else:
        rank, world, local = env_from_torchrun()
        owns = world > 1
    if torch.cuda.is_available():
        if world > 1 and local >= torch.cuda.device_count():
            raise ValueError(
                f"LOCAL_RANK={local} but this node has {torch.cuda.device_count()} GPUs; "
                "run torchrun with --nproc_per_node at most the GPU count"
            )
        device = torch.device("cuda", local if world > 1 else torch.cuda.current_device())
        if world > 1:
            torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if owns:
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s), **kwargs)
        logger.info("distributed: rank %d of %d (%s, %s)", rank, world, backend, device)
    return DistEnv(rank=rank, world_size=world, local_rank=local, device=device, owns_group=owns)


def close(env: DistEnv) -> None:
    if env.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def broadcast_object(env: DistEnv, obj):
    """Rank 0's ``obj`` on every rank (a no-op for a single process)."""
    if not env.distributed:
        return obj
    box = [obj if env.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_mean(env: DistEnv, t: torch.Tensor) -> torch.Tensor:
    if not env.distributed:
        return t
    t = t.clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t / env.world_size


def all_reduce_sum(env: DistEnv, t: torch.Tensor) -> torch.Tensor:
    if not env.distributed:
        return t
    t = t.clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def shard_model(model, *, bf16_params: bool) -> None:
    """FSDP2 in place: ``fully_shard`` each block, then the root. ``bf16_params`` (CUDA bf16
    runs) gathers and computes in bf16 and reduces gradients in fp32."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    kwargs = {}
    if bf16_params:
        kwargs["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    last = len(model.layers) - 1
    for i, block in enumerate(model.layers):
        # The last block's parameters are needed again first in backward: keeping them gathered
        # after forward saves one all-gather per step (torchtitan does the same).
        fully_shard(block, reshard_after_forward=i < last, **kwargs)
    fully_shard(model, **kwargs)


def _options(**kw):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(**kw)


def param_names(model) -> list[str]:
    """Parameter names in ``model.parameters()`` order: the index keys of the optimizer state."""
    return [name for name, _ in model.named_parameters()]


def full_model_state(model) -> dict[str, torch.Tensor]:
    """The full (unsharded) state dict on rank 0, on CPU; an empty dict on other ranks."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_options(full_state_dict=True, cpu_offload=True))


def full_optimizer_state(model, optimizer) -> dict:
    """Rank 0: the full optimizer state in ``Optimizer.state_dict()`` form (parameters by index),
    so single-process code loads it unchanged. Other ranks: an empty dict."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    osd = get_optimizer_state_dict(model, optimizer, options=_options(full_state_dict=True, cpu_offload=True))
    if not osd:
        return {}
    index = {name: i for i, name in enumerate(param_names(model))}
    missing = [k for k in osd["state"] if k not in index]
    if missing:
        raise RuntimeError(f"optimizer state names {missing[:3]} are not parameters of the model")
    return {
        "state": {index[k]: v for k, v in osd["state"].items()},
        "param_groups": [{**g, "params": [index[n] for n in g["params"]]} for g in osd["param_groups"]],
    }


def load_full_state(env: DistEnv, model, optimizer, model_sd: dict | None, optim_sd: dict | None) -> None:
    """Load full state dicts (single-process format, read on rank 0 only) into a sharded model
    and its optimizer; rank 0's tensors are broadcast and every rank keeps its shard."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    names = param_names(model)
    set_model_state_dict(model, model_sd if env.is_main else {},
                         options=_options(full_state_dict=True, broadcast_from_rank0=True))
    if env.is_main:
        fqn = {
            "state": {names[int(i)]: v for i, v in optim_sd["state"].items()},
            "param_groups": [{**g, "params": [names[int(i)] for i in g["params"]]} for g in optim_sd["param_groups"]],
        }
    else:
        fqn = {}
    set_optimizer_state_dict(model, optimizer, fqn,
                             options=_options(full_state_dict=True, broadcast_from_rank0=True))


def load_full_model_state(env: DistEnv, model, model_sd: dict | None) -> None:
    """Load a full model state dict (read on rank 0 only) into a sharded model, without touching
    any optimizer: rank 0's tensors are broadcast and every rank keeps its shard."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    set_model_state_dict(model, model_sd if env.is_main else {},
                         options=_options(full_state_dict=True, broadcast_from_rank0=True))


def all_reduce_max(env: DistEnv, t: torch.Tensor) -> torch.Tensor:
    if not env.distributed:
        return t
    t = t.clone()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t
