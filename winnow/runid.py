"""A run's identity from its resolved config alone: its key, its folder name, each source's seed.

``winnow.run`` names a run folder and seeds its stages with these functions, and the leaderboard
(``winnow.leaderboard.identity``) recomputes them from a row's ``run.json``, so a seed, scale or
submission edited in ``run.json`` (or a row copied into another folder) no longer agrees with the
run id, the manifests or the folder and is refused. Kept apart from ``winnow.run`` so that the
leaderboard does not import the stages (torch, the engines) to check a row.
"""

from __future__ import annotations

from winnow.manifest import hash_obj

# What the run seed drives, each overridable alone by ``seeds.<source>`` (conf/run.yaml) so the
# noise study can vary one source at a time.
SEED_SOURCES = ("curate", "fill", "order", "init")


class RunIdError(ValueError):
    pass


def run_key_of(cfg: dict, submission: str, fingerprint: str) -> str:
    """The run key of a resolved run config: submission name and fingerprint, scale, suite, seed,
    pool, and the noise-study ``seeds`` when any is set."""
    parts = {"submission": submission, "fingerprint": fingerprint, "scale": cfg["scale"],
             "suite": cfg["suite"], "seed": cfg["seed"], "pool": cfg["pool"]}
    if seeds := {k: v for k, v in (cfg.get("seeds") or {}).items() if v is not None}:
        parts["seeds"] = seeds  # only when set, so every earlier run keeps its folder
    return hash_obj(parts)


def run_id_of(submission: str, scale: str, key: str) -> str:
    """The run folder's name: ``<submission slug>__<scale>__<key8>``."""
    return f"{submission.replace('/', '-')}__{scale}__{key[:8]}"


def source_seed(cfg: dict, source: str) -> int | None:
    """The seed of one noise source (``SEED_SOURCES``) in a resolved run config: ``seeds.<source>``
    when the noise study sets it, else the scale's (``seeds:`` in the scale YAML: a number holds
    that source fixed for every run seed; ``run`` makes it follow the run seed), else the run
    seed; ``order`` defaults to None (rows stay in packed order)."""
    if source not in SEED_SOURCES:
        raise KeyError(f"unknown seed source {source!r}; known: {', '.join(SEED_SOURCES)}")
    seed = int(cfg["seed"])
    for fixed in ((cfg.get("seeds") or {}).get(source), (cfg["scale"].get("seeds") or {}).get(source)):
        if fixed == "run":
            return seed
        if fixed is not None:
            try:
                return int(fixed)
            except (TypeError, ValueError):
                raise RunIdError(f"seeds.{source} must be a whole number or 'run', got {fixed!r}") from None
    return None if source == "order" else seed
