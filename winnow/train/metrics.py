"""Training metrics: ``metrics.jsonl`` kept to the steps a resumed run has, and the optional sinks.

``metrics.jsonl`` (rank 0) gets one JSON line per logged step from ``winnow.train.loop``; on
resume, ``truncate_metrics`` drops the lines a killed run logged after its last checkpoint, so
each step appears once. Optional sinks, off by default and never required: TensorBoard
(``tensorboard: true`` or ``WINNOW_TENSORBOARD=1``, into ``tensorboard/``) and W&B (when
``WANDB_PROJECT`` is set). Either one missing its package is a warning, not a failure.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from winnow.io import atomic_open

logger = logging.getLogger("winnow.train")


def truncate_metrics(path: Path, last_step: int) -> None:
    """Keep metric lines for steps <= last_step (a killed run may have logged past its checkpoint)."""
    if not path.exists():
        return
    kept = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                if json.loads(line)["step"] <= last_step:
                    kept.append(line if line.endswith("\n") else line + "\n")
            except (json.JSONDecodeError, KeyError):
                continue  # a line cut short by a kill
    with atomic_open(path, "wt") as f:
        f.writelines(kept)


class MetricSinks:
    """Optional metric sinks besides metrics.jsonl: TensorBoard and W&B, only on rank 0."""

    def __init__(self, cfg: dict, out_dir: Path, run_config: dict, enabled: bool):
        self.tb = self.wandb = None
        if not enabled:
            return
        if cfg["tensorboard"] or os.environ.get("WINNOW_TENSORBOARD") == "1":
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.warning("TensorBoard logging was asked for but tensorboard is not installed; skipping it")
            else:
                self.tb = SummaryWriter(log_dir=str(out_dir / "tensorboard"))
        if os.environ.get("WANDB_PROJECT"):
            try:
                import wandb
            except ImportError:
                logger.warning("WANDB_PROJECT is set but wandb is not installed; skipping W&B logging")
            else:
                self.wandb = wandb.init(project=os.environ["WANDB_PROJECT"], config=run_config, dir=str(out_dir),
                                        name=os.environ.get("WANDB_NAME") or out_dir.name)

    def log(self, row: dict) -> None:
        values = {k: v for k, v in row.items() if k != "step" and isinstance(v, (int, float)) and v is not None}
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(f"train/{k}", v, row["step"])
        if self.wandb is not None:
            self.wandb.log(values, step=row["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()
