"""The data and model-file verbs: ``data pull|pack|status`` (a whole data release: winnow.release), ``tokenizer show|train``, ``check-aggregates``
and ``convert``. ``convert`` imports ``winnow.train.convert`` (which loads torch) only when it runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from winnow import release, rootdata
from winnow.config import ConfigError, group_file
from winnow.eval.data import data_status, default_dest, format_status, pull, resolve_root
from winnow.eval.dclm_database import check_dclm_database
from winnow.paths import DataRootError, data_root, data_root_candidates, env_data_dir
from winnow.pool.build import build_pool, pool_shards
from winnow.tokenize import bpe
from winnow.tokenize.registry import EXTERNAL


def cmd_data(args) -> int:
    if args.action == "pack":
        root = Path(args.root) if args.root else data_root()
        out, sha = release.pack(root, args.out, args.version)
        pinned = release.pin()
        print(f"data release of {root}: {out} (release.json sha256 {sha})")
        print("  the project's pinned release" if sha == pinned["sha256"] else
              f"  not the project's pinned release v{pinned['version']} (conf/data_release.json): pull it with "
              f"--release-sha256 {sha}, or bump version and sha256 there to make it the project's")
        print("  serve the folder over http(s) or put it on any fsspec store, then: winnow data pull --from URL")
        return 0
    if args.action == "pull":
        return _pull(args)
    root = resolve_root(args.root)
    statuses = data_status(root=root)
    print(format_status(statuses, root))
    others = rootdata.status(root)
    print(rootdata.format_status(others))
    return 1 if any(s.status == "modified" for s in [*statuses, *others]) else 0


def _pull(args) -> int:
    """``data pull``: the whole data release (--from or $WINNOW_DATA_RELEASE_URL), else the files
    with a pinned upstream; ``--if-missing`` first looks for a data root and stops if there is one."""
    url = release.release_url(args.release)
    if args.if_missing:
        env_data_dir()   # a remote WINNOW_DATA is an error, not a missing data root
        try:
            print(f"winnow data pull: data root found at {data_root()}; nothing to pull "
                  "(`winnow data status` checks its files)")
            return 0
        except DataRootError:
            looked = ", ".join(str(path) for _, path in data_root_candidates())
            if not url:
                raise DataRootError(
                    f"no data root found (looked in {looked}), and no data release to pull one from: the "
                    f"pool has no upstream file. Set {release.RELEASE_URL_ENV}=<URL of a release made by "
                    "`winnow data pack`> (or pass --from URL), or set WINNOW_DATA to a copy of the project's "
                    "data folder") from None
            print(f"winnow data pull: no data root found (looked in {looked}); pulling the data release from {url}")
    if url:
        if args.only or args.base_url or args.mirror:
            raise DataRootError("--only, --base-url and --mirror fetch single files from their upstream or a "
                                "copy; --from fetches a whole data release: use one or the other")
        dest = Path(args.dest).expanduser() if args.dest else default_dest()
        got = release.pull(url, dest, sha256=args.release_sha256, force=args.force)
        print(f"data root {dest}: {got.files} files verified ({len(got.fetched)} fetched, "
              f"{len(got.skipped)} already present)")
        try:
            active = data_root()
        except DataRootError:
            active = None
        if active is None or active.resolve() != dest.resolve():
            print(f"note: winnow reads its data root from {active or 'nowhere yet'}; set WINNOW_DATA={dest} "
                  "to use these files")
        return 0
    if args.release_sha256:
        raise DataRootError(f"--release-sha256 pins a data release: give its URL with --from (or {release.RELEASE_URL_ENV})")
    mirror = args.mirror.rstrip("/") if args.mirror else None
    base_url = args.base_url or (f"{mirror}/eval" if mirror else None)
    pull(dest=args.dest, files=args.only, base_url=base_url, force=args.force)
    if not args.only:  # the tokenizer, banlists, reference table (winnow.rootdata)
        rootdata.pull(Path(args.dest).expanduser() if args.dest else default_dest(), base_url=mirror,
                      force=args.force)
    return 0


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
    try:
        report = check_dclm_database(csv_path)
    except ValueError as e:   # not the database's CSV: the message names the file and what is wrong
        print(f"winnow check-aggregates: error: {e}", file=sys.stderr)
        return 2
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
    except (ConvertError, OSError, ValueError) as e:   # a missing or malformed checkpoint, folder or JSON
        print(f"winnow convert: error: {e}", file=sys.stderr)
        return 2
    return 0
