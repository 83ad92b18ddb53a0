"""The Ray engine: the local engine's shard work, scheduled as Ray tasks (``engine=ray``).

One Ray task processes one input shard of one document segment with the very code the local
engine runs in its worker processes (``winnow.curate.engine.ShardRunner.process``), so a task
writes the same four files in the same order: the output shard, the dropped-document sample,
the per-shard counters and, last, the ``.done`` marker. Consequences:

* the curated bytes (and the curated content id) are the same as ``engine=local`` for the same
  recipe, seed and input shards, for any cluster size;
* resume is the local engine's: a rerun skips every shard whose marker, output and counters
  exist, on either engine (a run killed on Ray may be finished locally, and back);
* the segment's totals are merged from the per-shard counter files by the driver, exactly as
  the local engine merges them.

Where it runs:

* ``address: null`` starts a local Ray cluster with ``num_cpus`` CPUs (null: every core) the
  first time a segment runs, and keeps it for the next segments; Ray stops it when the driver
  exits (or call ``close()``). If Ray is already initialised in this process, it is used as is.
* ``address: auto`` (or ``host:port``, ``ray://host:10001``) connects to a running cluster.
  Every node must then see the input shards, the output folder and any plugin file under the
  same paths (a shared filesystem), and have the same version of winnow installed (or ship it
  with ``runtime_env``). A task that cannot see its input shard fails with a message saying so.

Each worker process builds a segment's steps (``setup()`` included) once and keeps them for the
next shards of the same segment, like the local engine's pool workers. A task asks for
``cpus_per_task`` CPUs (Ray then sets ``OMP_NUM_THREADS`` to match). A worker that dies (out of
memory, a lost node) is retried by Ray up to ``max_retries`` times; this is safe because a shard's
files are written atomically and its marker last. Errors raised by a step come back as the
step's own exception (``StepError``, ``DocumentError``), not wrapped in a Ray traceback.

GlobalSteps (dedup, selection) still run on the driver, as under the local engine, with
``workers`` processes (``StepContext.workers``; null = one per core of the driver machine).

Ray is an optional dependency (``pip install 'winnow[ray]'``); without it, constructing the
engine raises ``RayNotInstalled`` (a ``ConfigError``: the CLI prints it and exits with status 2).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from winnow.config import ConfigError
from winnow.curate.base import SegmentJob, SegmentResult, StepError
from winnow.curate.engine import ShardRunner, merge_counters, pending_shards
from winnow.docs import DocumentError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'winnow[ray]'"


class RayNotInstalled(ConfigError):
    """``engine=ray`` was asked for, but the ``ray`` package cannot be imported."""


def import_ray() -> Any:
    """The ``ray`` module, or ``RayNotInstalled`` with the install command."""
    try:
        import ray
    except ImportError as e:
        raise RayNotInstalled(
            f"engine=ray needs the Ray package, which is not installed ({e}). Install it with "
            f"`{INSTALL_HINT}` (Ray is for curating on clusters; the default `engine=local` "
            "needs nothing more)") from None
    return ray


# --------------------------------------------------------------------------- worker side

# Per worker process: the runner of the segment it last worked on (``(token, runner)``).
_RUNNER: dict[str, Any] = {}


def _process_shard(token: str, job: SegmentJob, opts: dict, src: str, seg_dir: str) -> dict:
    """Body of the Ray task: one shard of one segment (the local engine's work, unchanged)."""
    if not Path(src).is_file():
        raise StepError(f"input shard {src} is not visible on Ray node {socket.gethostname()}; "
                        "engine=ray needs the input shards, the output folder and plugin files "
                        "on a filesystem every node sees, under the same paths")
    if _RUNNER.get("token") != token:
        _RUNNER.clear()  # free the previous segment's steps (models) before building new ones
        _RUNNER["runner"] = ShardRunner(job, **opts)
        _RUNNER["token"] = token
    return _RUNNER["runner"].process(Path(src), Path(seg_dir))


_REMOTE: dict[str, Any] = {}


def _remote(ray: Any) -> Any:
    fn = _REMOTE.get("fn")
    if fn is None:
        fn = _REMOTE["fn"] = ray.remote(_process_shard)
    return fn


# --------------------------------------------------------------------------- the engine

class RayEngine:
    """Runs document segments as Ray tasks, one per shard (see the module docstring).

    address: None starts a local cluster (or uses ``RAY_ADDRESS`` when it is set); ``"auto"``,
        ``"host:port"`` or ``"ray://host:port"`` connect to a running one.
    num_cpus: CPUs of a local cluster started here (None: every core); ignored when connecting.
    workers: processes that GlobalSteps on the driver may use (None: one per core), as for the
        local engine; the parallelism of document segments is the cluster's CPUs.
    cpus_per_task: CPUs each shard task asks Ray for.
    max_retries: how often Ray reruns a task whose worker died.
    runtime_env: passed to ``ray.init`` (e.g. ``{"pip": [...]}`` or ``{"py_modules": [...]}``).
    worker_niceness: nice value of the task workers of a local cluster started here (0, like
        the local engine's processes; Ray's own default is 15). None: Ray's default.
    init_kwargs: more keyword arguments for ``ray.init``.
    """

    name = "ray"

    def __init__(self, workers: int | None = None, *, address: str | None = None,
                 num_cpus: int | None = None, cpus_per_task: float = 1, max_retries: int = 3,
                 batch_size: int = 1000, drop_samples: int = 20, progress: bool | None = None,
                 runtime_env: dict | None = None, include_dashboard: bool = False,
                 log_to_driver: bool = True, worker_niceness: int | None = 0,
                 init_kwargs: dict | None = None):
        self._ray = import_ray()
        self.workers = max(1, int(workers if workers is not None else (os.cpu_count() or 1)))
        self.address = address or None
        self.num_cpus = None if num_cpus is None else int(num_cpus)
        self.cpus_per_task = cpus_per_task
        self.max_retries = int(max_retries)
        self.batch_size = batch_size
        self.drop_samples = drop_samples
        self.progress = progress  # None: tqdm decides (shown on a terminal)
        self.runtime_env = dict(runtime_env) if runtime_env else None
        self.include_dashboard = include_dashboard
        self.log_to_driver = log_to_driver
        self.worker_niceness = worker_niceness
        self.init_kwargs = dict(init_kwargs or {})
        self._started = False  # this engine called ray.init (and may shut it down)

    # ----------------------------------------------------------------- cluster

    def say(self, msg: str) -> None:
        """Tell the user something (stderr, above the progress bar) and log it."""
        log.info(msg)
        if self.progress is not False:
            from tqdm import tqdm

            tqdm.write(msg, file=sys.stderr)

    def connect(self) -> None:
        """Start or join the Ray cluster (once; a no-op when Ray is already initialised)."""
        ray = self._ray
        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {"log_to_driver": self.log_to_driver,
                                  "include_dashboard": self.include_dashboard}
        if self.runtime_env:
            kwargs["runtime_env"] = self.runtime_env
        joining = bool(self.address or os.environ.get("RAY_ADDRESS"))
        if self.address:
            kwargs["address"] = self.address
        if not joining and self.num_cpus is not None:
            kwargs["num_cpus"] = self.num_cpus
        if not joining and self.worker_niceness is not None:
            # Ray runs task workers at nice 15 by default; on a shared machine that starves
            # them (2x slower here beside other jobs). A local cluster started for one run
            # gets the priority of the local engine's processes instead.
            kwargs["_system_config"] = {"worker_niceness": int(self.worker_niceness)}
        if joining:
            kwargs.pop("include_dashboard")  # a setting of the cluster, not of a client
        kwargs.update(self.init_kwargs)
        t0 = time.perf_counter()
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = self.address or os.environ.get("RAY_ADDRESS") or "a new local cluster"
            raise ConfigError(f"engine=ray could not start or reach Ray at {where}: "
                              f"{type(e).__name__}: {e}") from e
        self._started = True
        cpus = ray.cluster_resources().get("CPU", 0)
        self.say(f"ray: {'connected to' if joining else 'started'} a cluster with {cpus:g} CPUs "
                 f"in {time.perf_counter() - t0:.1f} s")

    def close(self) -> None:
        """Shut Ray down if this engine started or joined it (safe to call twice)."""
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False

    def __enter__(self) -> "RayEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------- segments

    def run_segment(self, job: SegmentJob, input_shards: list[Path],
                    seg_dir: Path) -> SegmentResult:
        """Process every shard not already done into ``seg_dir``; merge and return the counters."""
        seg_dir, shards, todo, skipped = pending_shards(Path(seg_dir), input_shards, self.say)
        names = [p.name for p in shards]
        t0 = time.perf_counter()
        if todo:
            self._run_tasks(job, todo, seg_dir, len(shards), skipped)
        return SegmentResult(*merge_counters(job, seg_dir, names),
                             shards=[seg_dir / n for n in names], skipped=skipped,
                             seconds=time.perf_counter() - t0)

    def _run_tasks(self, job: SegmentJob, todo: list[Path], seg_dir: Path, total: int,
                   skipped: int) -> None:
        from tqdm import tqdm

        ray = self._ray
        self.connect()
        opts = {"batch_size": self.batch_size, "drop_samples": self.drop_samples}
        task = _remote(ray).options(num_cpus=self.cpus_per_task, max_retries=self.max_retries,
                                    retry_exceptions=False)
        token = uuid.uuid4().hex  # one per segment run: workers rebuild steps once for it
        job_ref = ray.put(job)
        refs = [task.remote(token, job_ref, opts, str(p.resolve()), str(seg_dir.resolve()))
                for p in todo]
        bar = tqdm(total=total, initial=skipped, unit="shard", desc=seg_dir.name,
                   disable=False if self.progress else (None if self.progress is None else True),
                   file=sys.stderr, dynamic_ncols=True)
        docs_seen = 0
        t0 = time.perf_counter()
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                summary = self._get(ray, ready[0], seg_dir)
                docs_seen += summary["docs_in"]
                rate = docs_seen / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix_str(f"{rate:,.0f} docs/s", refresh=False)
                bar.update(1)
        except BaseException:
            for ref in pending:
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001  (best effort: the task may have finished)
                    pass
            raise
        finally:
            bar.close()

    def _get(self, ray: Any, ref: Any, seg_dir: Path) -> dict:
        """One task's summary; a step's own exception is re-raised without Ray's wrapper."""
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as e:
            cause = getattr(e, "cause", None)
            if isinstance(cause, (StepError, DocumentError, ConfigError, ImportError)):
                raise cause from None
            raise StepError(f"{seg_dir.name}: a Ray task failed: {e}") from e
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.RayError) as e:
            raise StepError(
                f"{seg_dir.name}: a Ray worker died and its retries ({self.max_retries}) ran "
                f"out ({type(e).__name__}: {e}). Likely causes: out of memory (ask for more "
                "cpus_per_task so fewer tasks share a node) or a lost node; rerun to resume "
                "from the shards already done") from e
