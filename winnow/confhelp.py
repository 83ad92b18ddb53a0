"""``--help`` and ``--info`` of the compute verbs, as a Hydra app prints them, from the real config.

Nothing here is a hand-kept list: the config groups and their options are the YAML files under
``conf/<group>/``, the keys a user may override are the leaves of the config composed for the
command line given (``winnow run scale=debug --help`` shows the debug scale's values), their
descriptions are the trailing ``# comments`` of the YAML lines that set them, and what overriding
each one does (unofficial, another run, or only how this machine runs it) is
``winnow.config.override_effect``, the rule ``load_run_config`` applies (tests/test_confhelp.py
checks every printed claim against it and the run key).

``--info`` follows Hydra's ``--info [all|config|defaults|searchpath]``: the config search path,
the defaults list with the option chosen for each group (and where the choice came from), the
composed config's official status, and where WINNOW_HOME and the data root are.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from winnow.config import (DERIVED_KEYS, RUN_KEYS, UNOFFICIAL_KEYS, ConfigError, load_run_config,
                           override_effect)
from winnow.paths import DataRootError, LocationError, conf_dir, data_root, winnow_home

INFO_SECTIONS = ("all", "config", "defaults", "searchpath")
EFFECT_TITLES = {
    "unofficial": "changing these makes the run unofficial (recorded in run.json; the leaderboard refuses it)",
    "run": "these name another run (its own run folder and row), still official",
    "runtime": "these say how this machine runs the job: outside the run key, never unofficial",
}
_KEY_LINE = re.compile(r"^(\s*)([A-Za-z_][\w.-]*)\s*:(.*)$")


def yaml_comments(path: Path, prefix: str = "") -> dict[str, str]:
    """``{dotted key: its trailing comment}`` for the block-style keys of a YAML file."""
    out: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _KEY_LINE.match(line)
        if not m or line.lstrip().startswith(("#", "-")):
            continue
        indent, key, rest = len(m.group(1)), m.group(2), m.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([k for _, k in stack] + [key])
        stack.append((indent, key))
        if "#" in rest and not rest.strip().startswith(("'", '"')):
            comment = rest.split("#", 1)[1].strip()
            if comment:
                out[prefix + dotted] = comment
    return out


def groups() -> dict[str, list[str]]:
    """The config groups of ``conf/run.yaml``'s defaults list and their options (file stems)."""
    from omegaconf import OmegaConf

    defaults = OmegaConf.to_container(OmegaConf.load(conf_dir() / "run.yaml"))["defaults"]
    names = [next(iter(d)) for d in defaults if isinstance(d, dict)]
    return {g: sorted(p.stem for p in (conf_dir() / g).glob("*.yaml")) for g in names}


def leaves(node, prefix: str = "") -> list[tuple[str, object]]:
    """(dotted key, value) of every leaf of a composed config; lists are leaves."""
    out = []
    for k, v in node.items():
        if isinstance(v, dict) and v:
            out += leaves(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out


def _show(value) -> str:
    if isinstance(value, list):
        return f"[{len(value)} items]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if not isinstance(value, dict) else "{}"


def _descriptions(cfg: dict) -> dict[str, str]:
    notes = yaml_comments(conf_dir() / "run.yaml")
    for group in groups():
        name = (cfg.get(group) or {}).get("name") if group != "paths" else "default"
        path = conf_dir() / group / f"{name}.yaml"
        if path.is_file():
            notes.update(yaml_comments(path, f"{group}."))
    return notes


def override_table(overrides: list[str]) -> dict[str, list[tuple[str, str, str]]]:
    """``{effect: [(key, value shown, description)]}`` for every key of the composed config."""
    cfg = load_run_config(overrides).cfg
    notes = _descriptions(cfg)
    table: dict[str, list[tuple[str, str, str]]] = {e: [] for e in EFFECT_TITLES}
    for key, value in leaves({k: v for k, v in cfg.items() if k not in DERIVED_KEYS}):
        if key.endswith(".name") and key.split(".")[0] in groups():
            continue  # a group's name is its choice (scale=NAME), listed with the groups
        table[override_effect(key)].append((key, _show(value), notes.get(key, "")))
    return table


def help_text(overrides: list[str], verb: str = "run") -> str:
    """The config part of ``winnow <verb> --help`` for these overrides."""
    rc = load_run_config(overrides)
    lines = ["", "Config groups (conf/<group>/<option>.yaml; choose one with group=option; * = chosen now):"]
    chosen = {g: (rc.cfg.get(g) or {}).get("name") for g in groups()}
    chosen["paths"] = "default"
    for g, options in groups().items():
        shown = ", ".join(f"{o}*" if o == chosen.get(g) else o for o in options)
        note = ""
        if g == "scale":
            note = "  (another committed scale stays official)"
        elif g == "suite":
            note = (f"  (auto = the scale's own suite, here {rc.cfg['scale']['suite']}; any other choice "
                    "makes the run unofficial)")
        lines.append(f"  {g:<7} {shown}{note}")
    lines += ["", f"Keys you may override (key=value; the values shown are this command line's composed "
              f"config: `winnow {verb} scale=NAME --help` shows another scale's):"]
    for effect, rows in override_table(overrides).items():
        if not rows:
            continue
        lines.append(f"  {EFFECT_TITLES[effect]}:")
        width = min(max(len(f"{k}={v}") for k, v, _ in rows), 44)
        for key, value, note in rows:
            text = f"{key}={value}"
            lines.append(f"    {text:<{width}}  # {note}".rstrip(" #") if note else f"    {text}")
    lines += ["", f"The pool is not a key: it is scale.pool.name's conf/pool file ({rc.cfg['pool']['name']} here).",
              "Sweep with -m/--multirun key=a,b (one job after another, each its own run folder); "
              f"`winnow {verb} --cfg job ...` prints the composed config, `--info` where it came from."]
    return "\n".join(lines)


def _compose_hydra(overrides: list[str]):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose(config_name="run", overrides=overrides, return_hydra_config=True).hydra


def info_text(overrides: list[str], section: str = "all", verb: str = "run") -> str:
    """``winnow <verb> --info [section]``: search path, defaults list, composed config, locations."""
    import hydra
    import omegaconf
    import yaml

    if section not in INFO_SECTIONS:
        raise ConfigError(f"--info {section!r}: choose one of {', '.join(INFO_SECTIONS)}")
    rc = load_run_config(overrides)
    final = list(overrides)
    if rc.cfg["suite"]["name"] != "auto" and not any(o.lstrip("+").startswith("suite=") for o in overrides):
        final.append(f"suite={rc.cfg['suite']['name']}")
    hyd = _compose_hydra(final)
    lines = [f"winnow {verb} --info (Hydra {hydra.__version__}, OmegaConf {omegaconf.__version__})"]
    if section in ("all", "searchpath"):
        lines += ["", "Config search path:"]
        for src in hyd.runtime.config_sources:
            if src.path:
                lines.append(f"  {src.provider:<7} {src.schema}://{src.path}")
    if section in ("all", "defaults"):
        given = {o.lstrip("+").split("=", 1)[0] for o in overrides if "=" in o}
        lines += ["", "Defaults list (conf/run.yaml), in composition order:"]
        for g in groups():
            choice = hyd.runtime.choices[g]
            how = "command line" if g in given else ("suite: auto, the scale's own" if g == "suite" else "default")
            lines.append(f"  {g + ':':<8} {choice:<12} conf/{g}/{choice}.yaml  ({how})")
        lines.append("  _self_   conf/run.yaml")
        lines.append(f"  (then pool: {rc.cfg['pool']['name']}, conf/pool/{rc.cfg['pool']['name']}.yaml, "
                     "from scale.pool.name)")
    if section in ("all", "config"):
        lines += ["", f"Overrides: {' '.join(overrides) or '(none)'}",
                  "Official: " + ("yes" if rc.official else "no: " + "; ".join(rc.unofficial))]
        lines.append(f"Keys that change the run key: {', '.join(f'{k}*' for k in UNOFFICIAL_KEYS)} "
                     f"(unofficial), {', '.join(RUN_KEYS)}; `winnow {verb} --help` lists every key")
        try:
            lines.append(f"WINNOW_HOME: {winnow_home()}")
        except LocationError as e:
            lines.append(f"WINNOW_HOME: not usable: {e}")
        try:
            lines.append(f"data root: {data_root()}")
        except (DataRootError, LocationError) as e:
            lines.append("data root: none usable: " + str(e).replace("\n", "\n  "))
        if section == "config":
            lines += ["", yaml.safe_dump(rc.cfg, sort_keys=False).rstrip()]
    return "\n".join(lines)


def print_help(parser, overrides: list[str], verb: str) -> int:
    """The verb's argparse help, then the config's groups and keys (stdout)."""
    sys.stdout.write(parser.format_help())
    print(help_text(list(overrides), verb))
    return 0
