"""Compose run configs with Hydra and decide whether a run is official.

Compute verbs are thin wrappers around pure functions; this module turns their command-line
overrides into one resolved config (a plain dict) with Hydra's compose API over ``conf/``. A run
is *official* only when its scale and suite equal the committed YAML files: any ``scale.*`` or
``suite.*`` override is recorded and makes the leaderboard refuse the row
(submissions/README.md, "Official and unofficial runs").

Boolean settings are parsed strictly (``parse_bool``): Hydra hands ``allow_code=no`` or
``allow_code='false'`` over as a string, and any non-empty string is truthy in Python, so without
this check those spellings would switch plugin code *on*. Every key whose committed value is a
boolean (``allow_code``, ``progress``, ``scale.train.compile``, ...) accepts true/false/1/0/yes/no
in any case and nothing else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from winnow.paths import conf_dir, is_url
from winnow.registry import suggest


class ConfigError(ValueError):
    pass


TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")
# boolean settings whose committed value is null (null: the default), so the YAML cannot say
# they are booleans
NULLABLE_BOOLS = ("runtime.activation_checkpointing",)


def parse_bool(value, name: str) -> bool:
    """``value`` as a boolean, strictly: True/False, 1/0, or the strings true/false/1/0/yes/no in
    any case; anything else (``'off'``, ``2``, ``''``, a list) raises ConfigError naming ``name``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise ConfigError(f"{name}={value!r} is not a boolean: write {name}=true or {name}=false "
                      f"(also accepted, in any case: {'/'.join(TRUE_WORDS)} and {'/'.join(FALSE_WORDS)})")


def _bool_paths(committed: dict, prefix: str = "") -> list[str]:
    """Dotted paths of the boolean leaves of a committed config."""
    out = []
    for k, v in committed.items():
        if isinstance(v, dict):
            out += _bool_paths(v, f"{prefix}{k}.")
        elif isinstance(v, bool):
            out.append(f"{prefix}{k}")
    return out


def coerce_bools(cfg: dict, committed: dict) -> None:
    """Parse (in place, strictly) every value of ``cfg`` whose committed counterpart in
    ``committed`` is a boolean, and the ``NULLABLE_BOOLS`` when set."""
    for path in _bool_paths(committed) + list(NULLABLE_BOOLS):
        *parents, leaf = path.split(".")
        node = cfg
        for k in parents:
            node = node.get(k) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            continue
        if node[leaf] is None and path in NULLABLE_BOOLS:
            continue
        node[leaf] = parse_bool(node[leaf], path)


MAX_SEED = 2**32 - 1  # numpy's and every other seeded library's range


def check_seeds(cfg: dict) -> None:
    """``seed`` (and any ``seeds.<source>`` set) is a whole number in 0..MAX_SEED (``run`` also for
    ``seeds.*``): checked when the config is composed, before any folder is made."""
    def bad(value) -> bool:
        return isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED

    if bad(cfg.get("seed")):
        raise ConfigError(f"seed={cfg.get('seed')!r} is not a whole number from 0 to {MAX_SEED}: write e.g. seed=0 "
                          "(rows with several seeds are averaged)")
    for source, value in (cfg.get("seeds") or {}).items():
        if value is not None and value != "run" and bad(value):
            raise ConfigError(f"seeds.{source}={value!r} is not a whole number from 0 to {MAX_SEED} (or 'run')")


MAX_WORKERS = 4096   # processes a curation may start on one machine


def _number_paths(committed: dict, prefix: str = "") -> list[tuple[str, int | float]]:
    """(dotted path, committed value) of the numeric (not boolean) leaves of a committed config."""
    out = []
    for k, v in committed.items():
        if isinstance(v, dict):
            out += _number_paths(v, f"{prefix}{k}.")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append((f"{prefix}{k}", v))
    return out


def check_numbers(cfg: dict, committed: dict) -> None:
    """Every setting whose committed value is a number must stay one: an integer where the file
    has an integer, finite, and positive where the file's value is (non-negative where it is 0);
    ``engine.workers`` is null or 1..MAX_WORKERS. Checked when the config is composed, before any
    folder is made: a string learning rate or a zero sequence length would otherwise fail (as a
    traceback) stages later."""
    for path, want in _number_paths(committed):
        *parents, leaf = path.split(".")
        node = cfg
        for k in parents:
            node = node.get(k) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node or node[leaf] == want:
            continue
        v = node[leaf]
        kind = "a whole number" if isinstance(want, int) else "a number"
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")
        if ok and isinstance(want, int) and not isinstance(v, int):
            ok = False
        if ok and (v <= 0 if want > 0 else v < 0 if want == 0 else False):
            ok, kind = False, f"{kind} {'> 0' if want > 0 else '>= 0'}"
        if not ok:
            raise ConfigError(f"{path}={v!r} is not {kind} (conf has {want!r}); give {kind}, e.g. {path}={want!r}")
    workers = (cfg.get("engine") or {}).get("workers")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or not 1 <= workers <= MAX_WORKERS):
        raise ConfigError(f"engine.workers={workers!r} is not a number of processes from 1 to {MAX_WORKERS} "
                          "(or null: one per CPU core)")


def scale_plan(cfg: dict) -> dict:
    """The scale's training plan (``winnow.train.plan.derive``), or a ConfigError when its model and
    training settings make none (heads that do not divide the width, a budget below one batch...):
    ``winnow.run.prepare`` asks before it makes the run folder."""
    from winnow.train.plan import derive   # light (stdlib only); kept here to keep config's imports few

    scale = cfg.get("scale") or {}
    try:
        return derive(scale["model"], scale["train"])
    except (ValueError, TypeError, ZeroDivisionError, KeyError) as e:
        raise ConfigError(f"scale {scale.get('name')!r}: its model and train settings do not make a training plan: "
                          f"{type(e).__name__ if isinstance(e, (ZeroDivisionError, KeyError)) else ''}"
                          f"{': ' if isinstance(e, (ZeroDivisionError, KeyError)) else ''}{e} (check the scale.* overrides)"
                          ) from None


# What overriding a key does to a run, by its first dotted part (``winnow run --help`` prints
# it for every key; tests/test_confhelp.py checks each claim against load_run_config and the run
# key). Every other key (allow_code, progress, runtime.*, engine.*, paths.*) says how this machine
# runs the job: outside the run key, never unofficial.
UNOFFICIAL_KEYS = ("scale", "suite", "seeds")   # a changed value makes the run unofficial
RUN_KEYS = ("submission", "seed")               # another run (its own folder), still official
# the composed config's keys that are filled in from others, not overridden (pool: scale.pool.name)
DERIVED_KEYS = ("pool",)


def override_effect(key: str) -> str:
    """``unofficial``, ``run`` or ``runtime``: what overriding ``key`` (dotted) does to a run."""
    head = key.lstrip("+~").split(".", 1)[0]
    if head in UNOFFICIAL_KEYS:
        return "unofficial"
    return "run" if head in RUN_KEYS else "runtime"


def _committed(cfg: dict) -> dict:
    """The committed values the composed ``cfg`` is compared with: ``conf/run.yaml``'s own keys
    and the files of the chosen scale, suite and engine."""
    own = OmegaConf.to_container(OmegaConf.load(conf_dir() / "run.yaml"), resolve=False)
    own.pop("defaults", None)
    for group in ("scale", "suite", "engine"):
        name = (cfg.get(group) or {}).get("name")
        if isinstance(name, str) and (conf_dir() / group / f"{name}.yaml").exists():
            own[group] = group_file(group, name)
    return own


@dataclass
class RunConfig:
    cfg: dict
    overrides: list[str]
    unofficial: list[str] = field(default_factory=list)   # what differs from the committed files

    @property
    def official(self) -> bool:
        return not self.unofficial


def _compose(overrides: list[str]) -> dict:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            cfg = compose(config_name="run", overrides=overrides)
    except HydraException as e:
        raise ConfigError(f"bad override in {overrides}: {e}") from None
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def group_file(group: str, name: str) -> dict:
    path = conf_dir() / group / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))
        raise ConfigError(f"no {group} named {name!r} in {conf_dir() / group}: {suggest(name, known)}")
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)  # type: ignore[return-value]


def _diff(a, b, prefix: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}.{k}")
        return out
    return [] if a == b else [f"{prefix}: {b!r} -> {a!r}"]


def sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """The jobs of a ``--multirun``: Hydra's basic sweeper, the product of every sweep override
    (``seed=0,1``, ``seed=range(0,3)``, ``submission=A,B``) in command-line order, the last key
    varying fastest; each job is the overrides with one value per swept key. Parsed by Hydra's
    own override grammar, so ``key=[a,b]`` stays a list and ``key='a,b'`` a string."""
    import itertools

    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
        choices = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override()
                   else [o.input_line] for o in parsed]
    except HydraException as e:
        raise ConfigError(f"bad override in {overrides}: {e} (winnow's sweeps take key=a,b and "
                          "key=range(start,stop[,step]); glob() is not supported)") from None
    return [list(job) for job in itertools.product(*choices)]


GROUPS = ("scale", "suite", "engine", "pool", "paths")   # conf/<group>/: an override picks one file


def load_run_config(overrides: list[str] | None = None) -> RunConfig:
    overrides = list(overrides or [])
    for o in overrides:   # Hydra merges every file of `scale=[a,b]` and keeps the last one's values
        key, _, value = o.lstrip("+~").partition("=")
        if key in GROUPS and value.strip().startswith("["):
            raise ConfigError(f"{o}: {key} takes one name (`winnow ls {key}s` lists them); to run several, "
                              f"use a sweep: winnow run -m {key}=a,b")
    # suite: auto is the scale's suite, which only the scale names: compose without suite.* keys
    # first (conf/suite/auto.yaml has none of them), then with the scale's suite, so
    # `scale=debug suite.limit=3` changes the debug suite's limit as `suite=debug suite.limit=3` does
    own = [o for o in overrides if not o.lstrip("+~").startswith("suite.")]
    cfg = _compose(own)
    if cfg["suite"].get("name") == "auto":
        cfg = _compose(overrides + [f"suite={cfg['scale']['suite']}"])
    elif own != overrides:
        cfg = _compose(overrides)
    committed = _committed(cfg)
    coerce_bools(cfg, committed)
    check_seeds(cfg)
    check_numbers(cfg, committed)
    apply_paths(cfg)
    unofficial = _diff(cfg["scale"], group_file("scale", cfg["scale"]["name"]), "scale")
    unofficial += _diff(cfg["suite"], group_file("suite", cfg["suite"]["name"]), "suite")
    if cfg["suite"]["name"] != cfg["scale"]["suite"]:
        unofficial.append(f"suite: {cfg['scale']['suite']!r} -> {cfg['suite']['name']!r}")
    unofficial += [f"seeds.{k}: {v!r} (a noise-study seed)" for k, v in sorted((cfg.get("seeds") or {}).items())
                   if v is not None]
    cfg["pool"] = group_file("pool", cfg["scale"]["pool"]["name"])
    return RunConfig(cfg=cfg, overrides=overrides, unofficial=unofficial)


def apply_paths(cfg: dict) -> None:
    """``paths.home`` / ``paths.data`` overrides become WINNOW_HOME / WINNOW_DATA for this process."""
    paths = cfg.get("paths") or {}
    for key, env in (("home", "WINNOW_HOME"), ("data", "WINNOW_DATA")):
        if value := paths.get(key):   # a URL as given (winnow.paths reads file:// and refuses others)
            os.environ[env] = str(value) if is_url(value) else str(Path(value).expanduser())
