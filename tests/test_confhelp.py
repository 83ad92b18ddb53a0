"""`winnow run --help` / `--info` (winnow.confhelp): the groups and keys come from the composed
config, and every "unofficial / another run / runtime" claim the help prints holds when that key
is overridden (checked against load_run_config and the run key)."""

from __future__ import annotations

import pytest

from winnow.cli import main
from winnow.config import load_run_config, override_effect
from winnow.confhelp import EFFECT_TITLES, override_table, yaml_comments
from winnow.paths import conf_dir
from winnow.runid import run_key_of


def _flat(node, prefix=""):
    out = {}
    for k, v in node.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) and v else {f"{prefix}{k}": v})
    return out


def _changed(key: str, value, tmp_path):
    """Another value for ``key`` as a Hydra override (None: a list, not probed here)."""
    if key in ("scale.suite", "scale.pool.name"):  # names of other config files: existing ones
        return f"{key}={'cpu' if key == 'scale.suite' else 'embedded'}"
    if isinstance(value, bool) or key == "runtime.activation_checkpointing":
        return f"{key}={str(not value).lower()}"
    if isinstance(value, int):
        return f"{key}={value + 1}"
    if isinstance(value, float):
        return f"{key}={value * 2}"
    if isinstance(value, str):
        return f"{key}=baselines/other" if key == "submission" else f"{key}={value}x"
    if value is None:
        return f"{key}={tmp_path}" if key.startswith("paths.") else f"{key}=3"
    return None


def test_help_lists_groups_and_every_key_with_its_effect(capsys):
    assert main(["run", "scale=debug", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: winnow run")
    for stem in (p.stem for p in (conf_dir() / "scale").glob("*.yaml")):
        assert stem in out.split("scale   ", 1)[1].split("\n", 1)[0]
    assert "debug*" in out
    cfg = load_run_config(["scale=debug"]).cfg
    keys = [k for k in _flat({k: v for k, v in cfg.items() if k != "pool"})
            if not (k.endswith(".name") and k.split(".")[0] in ("scale", "suite", "engine"))]
    sections = {e: out.split(EFFECT_TITLES[e], 1)[1] for e in EFFECT_TITLES}
    for key in keys:  # each key in its own section, before the next section starts
        section = sections[override_effect(key)]
        nxt = min([section.find(t) for t in EFFECT_TITLES.values() if t in section] + [len(section)])
        assert f"\n    {key}=" in section[:nxt], key
    for key in ("allow_code=false", "progress=true", "runtime.threads=null", "runtime.micro_batch_size=null"):
        assert key in sections["runtime"]
    assert "# import the submission's plugins" in out      # descriptions are the YAML comments
    assert "scale.train.tokens=98304" in sections["unofficial"]


def test_every_printed_effect_holds(tmp_path, monkeypatch):
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))   # paths.home=... sets these
    monkeypatch.setenv("WINNOW_DATA", str(conf_dir().parent.parent / "shared" / "data"))
    base = ["scale=debug"]
    cfg = load_run_config(base).cfg
    key0 = run_key_of(cfg, cfg["submission"], "fp")
    probed = 0
    for effect, rows in override_table(base).items():
        for key, _shown, _note in rows:
            override = _changed(key, _flat(cfg)[key], tmp_path)
            if override is None:
                assert key == "suite.tasks"   # the only list
                continue
            rc = load_run_config(base + [override])
            key1 = run_key_of(rc.cfg, rc.cfg["submission"], "fp")
            assert rc.official == (effect != "unofficial"), (override, rc.unofficial)
            assert (key1 != key0) == (effect in ("unofficial", "run")), override
            probed += 1
    assert probed > 40


def test_suite_choice_is_official_only_when_it_is_the_scales(capsys):
    assert load_run_config(["scale=debug", "suite=debug"]).official
    assert not load_run_config(["scale=debug", "suite=cpu"]).official
    assert main(["run", "scale=debug", "-h"]) == 0
    assert "any other choice makes the run unofficial" in capsys.readouterr().out


def test_info_shows_search_path_defaults_and_status(capsys):
    assert main(["run", "scale=debug", "scale.train.lr=0.01", "--info"]) == 0
    out = capsys.readouterr().out
    assert f"file://{conf_dir()}" in out
    assert "scale:   debug        conf/scale/debug.yaml  (command line)" in out
    assert "suite:   debug" in out and "engine:  local" in out
    assert "Official: no: scale.train.lr: 0.003 -> 0.01" in out
    assert main(["curate", "scale=debug", "--info", "defaults"]) == 0
    out = capsys.readouterr().out
    assert "Defaults list" in out and "Official" not in out and "Config search path" not in out
    assert main(["run", "scale=debug", "--info", "config"]) == 0
    assert "Official: yes" in (out := capsys.readouterr().out) and "\nscale:\n  name: debug" in out


def test_bad_override_with_help_is_one_error_line(capsys):
    assert main(["run", "scale=nope", "--help"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("winnow run: error:") and "scale/nope" in err and "Traceback" not in err


def test_yaml_comments_follow_nesting(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("a: 1   # top\nb:\n  c: null  # nested\n  d: 2\n# alone\ne: {x: 1}  # flow\n- item # no\n")
    assert yaml_comments(f, "g.") == {"g.a": "top", "g.b.c": "nested", "g.e": "flow"}


@pytest.mark.parametrize("key,effect", [("scale.train.lr", "unofficial"), ("suite.limit", "unofficial"),
                                        ("seeds.init", "unofficial"), ("seed", "run"), ("submission", "run"),
                                        ("allow_code", "runtime"), ("runtime.threads", "runtime"),
                                        ("+engine.x", "runtime")])
def test_override_effect(key, effect):
    assert override_effect(key) == effect
