"""``python -m winnow.train``: train from a scale YAML or JSON configs; prints the stats as JSON.

Runs under ``torchrun`` unchanged (``torchrun --nproc_per_node 8 -m winnow.train ...``): every
rank trains its share, rank 0 writes the outputs and prints the stats. ``winnow train`` (the
pipeline verb) trains a run's tokenized stage; this entry point trains any token file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import yaml

from winnow.train.loop import train_model


def main(argv: list[str] | None = None) -> int:
    """Train from a scale YAML (``--scale``) or JSON configs; print the stats as JSON."""
    p = argparse.ArgumentParser(prog="python -m winnow.train", description=main.__doc__)
    p.add_argument("--scale", type=Path, help="a scale YAML (conf/scale/NAME.yaml): its model: and train: blocks")
    p.add_argument("--model-cfg", help="the scale's model: block, as JSON (instead of --scale)")
    p.add_argument("--train-cfg", help="the scale's train: block, as JSON (instead of --scale)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="override one train key, e.g. --set micro_batch_size=4 (repeatable)")
    p.add_argument("--tokens", required=True, type=Path, help="tokens.npy from the tokenize stage")
    p.add_argument("--heldout", type=Path, default=None, help="optional held-out token file (same layout)")
    p.add_argument("--out", required=True, type=Path, help="output folder (checkpoints, metrics, model)")
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--stop-after-step", type=int, default=None)
    args = p.parse_args(argv)
    if args.scale is not None:
        if args.model_cfg or args.train_cfg:
            p.error("give --scale or --model-cfg/--train-cfg, not both")
        scale = yaml.safe_load(args.scale.read_text(encoding="utf-8"))
        if not isinstance(scale, dict) or "model" not in scale or "train" not in scale:
            p.error(f"{args.scale} has no model: and train: blocks")
        model_cfg, train_cfg = scale["model"], scale["train"]
    elif args.model_cfg and args.train_cfg:
        model_cfg, train_cfg = json.loads(args.model_cfg), json.loads(args.train_cfg)
    else:
        p.error("give --scale, or both --model-cfg and --train-cfg")
    train_cfg = dict(train_cfg)
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--set expects KEY=VALUE, got {item!r}")
        try:
            train_cfg[key] = json.loads(value)
        except json.JSONDecodeError:
            train_cfg[key] = value
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, format="%(name)s: %(message)s")
    stats = train_model(
        model_cfg=model_cfg,
        train_cfg=train_cfg,
        tokens_path=args.tokens,
        out_dir=args.out,
        seed=args.seed,
        progress=not args.no_progress,
        stop_after_step=args.stop_after_step,
        heldout_path=args.heldout,
    )
    if rank == 0:
        json.dump(stats, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
