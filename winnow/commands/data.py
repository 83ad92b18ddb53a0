"""The data and model-file verbs: ``data pull|status``, ``tokenizer show|train``, ``check-aggregates``
and ``convert``. ``convert`` imports ``winnow.train.convert`` (which loads torch) only when it runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from winnow import rootdata
from winnow.config import ConfigError, group_file
from winnow.eval.data import data_status, default_dest, format_status, pull, resolve_root
from winnow.eval.dclm_database import check_dclm_database
from winnow.paths import data_root
from winnow.pool.build import build_pool, pool_shards
from winnow.tokenize import bpe
from winnow.tokenize.registry import EXTERNAL


def cmd_data(args) -> int:
    if args.action == "pull":
        mirror = args.mirror.rstrip("/") if args.mirror else None
        base_url = args.base_url or (f"{mirror}/eval" if mirror else None)
        pull(dest=args.dest, files=args.only, base_url=base_url, force=args.force)
        if not args.only:  # the tokenizer, banlists, reference table (winnow.rootdata)
            rootdata.pull(Path(args.dest).expanduser() if args.dest else default_dest(), base_url=mirror,
                          force=args.force)
        return 0
    root = resolve_root(args.root)
    statuses = data_status(root=root)
    print(format_status(statuses, root))
    others = rootdata.status(root)
    print(rootdata.format_status(others))
    return 1 if any(s.status == "modified" for s in [*statuses, *others]) else 0


def cmd_tokenizer(args) -> int:
    """`winnow tokenizer train NAME` reproduces a committed BPE; `show NAME` prints what a scale's
    tokenizer name resolves to (file, sha256 check, sizes, special tokens)."""
    if args.action == "show":
        return _show_tokenizer(args.name)

    name = args.name
    if name not in bpe.RECIPES:
        why = ("is built from a file under the data root, not trained (`winnow tokenizer show "
               f"{name}`)") if name in EXTERNAL else f"has no training recipe (known: {', '.join(sorted(bpe.RECIPES))})"
        raise ConfigError(f"tokenizer {name!r} {why}")
    pool_name, _, version = bpe.RECIPES[name]["pool"].partition("@v")
    cfg = group_file("pool", pool_name)
    if int(version) != cfg["version"]:
        raise SystemExit(f"tokenizer {name} was trained on {pool_name}@v{version}; conf has v{cfg['version']}")
    build_pool(cfg)
    s = bpe.train(name, pool_shards(cfg))
    print(f"{s.path}: sha256 {s.sha256}, {s.bytes_per_token} bytes/token")
    return 0


def _show_tokenizer(name: str) -> int:
    from tokenizers import Tokenizer

    s = bpe.spec(name)
    path = bpe.tokenizer_file(name)
    tok = Tokenizer.from_file(str(path))
    info = s.describe() if hasattr(s, "describe") else {
        "name": name, "source": str(s.path), "sha256": s.sha256, "vocab_size": s.vocab_size,
        "trained on": s.pool, "bytes_per_token": s.bytes_per_token}
    info["tokenizer json"] = str(path)
    info["ids"] = tok.get_vocab_size(with_added_tokens=True)
    info["special"] = ", ".join(f"{t.content}={i}" for i, t in sorted(tok.get_added_tokens_decoder().items())
                                if t.special) or "-"
    width = max(map(len, info))
    for k, v in info.items():
        print(f"{k:<{width}}  {v}")
    print(f"{'sha256 check':<{width}}  ok")
    return 0


def cmd_check_aggregates(args) -> int:
    """Recompute DCLM's published Core/Extended from its per-task columns (winnow.eval.dclm_database)."""
    csv_path = Path(args.csv) if args.csv else data_root() / "reference" / "dclm_model_database.csv"
    if not csv_path.is_file():
        print(f"winnow check-aggregates: error: no DCLM model database at {csv_path}; pass --csv PATH "
              "(DCLM's dclm_model_database.csv, kept under <data root>/reference/)", file=sys.stderr)
        return 2
    report = check_dclm_database(csv_path)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def cmd_convert(args) -> int:
    """`winnow convert from-open-lm|to-open-lm`: open_lm (DCLM) checkpoints <-> winnow HF folders."""
    from winnow.train.convert import ConvertError, from_open_lm, to_open_lm

    try:
        if args.direction == "from-open-lm":
            params = dict(json.loads(Path(args.params).read_text(encoding="utf-8"))) if args.params else {}
            for key in ("n_heads", "seq_len", "hidden_dim", "n_layers", "vocab_size"):
                if getattr(args, key) is not None:
                    params[key] = getattr(args, key)
            out = from_open_lm(args.source, args.out, params=params, tokenizer=args.tokenizer)
            print(f"winnow model folder: {out}")
        else:
            pt, js = to_open_lm(args.source, args.out, params_out=args.params_out,
                                allow_nonstandard=args.allow_nonstandard)
            print(f"open_lm checkpoint: {pt}\nopen_lm model JSON: {js}")
    except (ConvertError, json.JSONDecodeError, FileNotFoundError) as e:
        print(f"winnow convert: error: {e}", file=sys.stderr)
        return 2
    return 0
