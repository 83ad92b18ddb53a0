"""Compose run configs with Hydra and decide whether a run is official.

Compute verbs are thin wrappers around pure functions; this module turns their command-line
overrides into one resolved config (a plain dict) with Hydra's compose API over ``conf/``. A run
is *official* only when its scale and suite equal the committed YAML files: any ``scale.*`` or
``suite.*`` override is recorded and makes the leaderboard refuse the row (DESIGN.md "Scale").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from winnow.paths import conf_dir


class ConfigError(ValueError):
    pass


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
        from winnow.registry import suggest

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


def load_run_config(overrides: list[str] | None = None) -> RunConfig:
    overrides = list(overrides or [])
    cfg = _compose(overrides)
    if cfg["suite"].get("name") == "auto":
        cfg = _compose(overrides + [f"suite={cfg['scale']['suite']}"])
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
    if paths.get("home"):
        os.environ["WINNOW_HOME"] = str(Path(paths["home"]).expanduser())
    if paths.get("data"):
        os.environ["WINNOW_DATA"] = str(Path(paths["data"]).expanduser())
