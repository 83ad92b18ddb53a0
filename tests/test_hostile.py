"""Trust under hostile input (issue 21): code runs only when truly allowed, rows cannot be
relabelled or counted twice, files stay inside the submission, bad data gets a clear error.

Each class of bad input has a few hand-written cases here; every one must end in the
harness's own error (a message naming what is wrong and the fix), never a traceback and never a
silent accept. The cases that need a whole debug run are marked ``slow``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from winnow.config import ConfigError, parse_bool
from winnow.curate.recipe import RecipeError

PLUGIN = '''
from pathlib import Path
Path(__file__).with_name("PLUGIN_RAN").write_text("imported")
from winnow.curate.base import STEPS, Mapper

@STEPS.register("hostile_noop_{tag}")
class Noop(Mapper):
    version = 1
    def __call__(self, doc):
        return [doc]
'''


def _plugin_submission(root: Path, tag: str) -> Path:
    folder = root / "submissions" / f"plug_{tag}"
    folder.mkdir(parents=True)
    (folder / "steps.py").write_text(PLUGIN.replace("{tag}", tag))
    (folder / "recipe.yaml").write_text(f"name: plug_{tag}\ntrack: filtering\nplugins: [steps.py]\n"
                                        f"steps:\n  - {{step: hostile_noop_{tag}}}\n")
    return folder


# ----------------------------------------------------------------------- 1. strict booleans
@pytest.mark.parametrize("spelling", ["no", "'false'", "False", "FALSE", "0", "No", "'no'", "'0'", "false"])
def test_allow_code_false_spellings_never_run_plugin_code(tmp_path, spelling):
    from winnow.run import prepare

    folder = _plugin_submission(tmp_path, f"f{abs(hash(spelling)) % 10**6}")
    with pytest.raises(RecipeError, match="allow_code=true"):
        prepare(["scale=debug", f"submission={folder}", f"allow_code={spelling}"])
    assert not (folder / "PLUGIN_RAN").exists()


@pytest.mark.parametrize("spelling", ["off", "2", "''", "null", "[true]", "enabled", "-1"])
def test_allow_code_other_spellings_are_an_error_before_any_code(tmp_path, spelling):
    from winnow.run import prepare

    folder = _plugin_submission(tmp_path, f"o{abs(hash(spelling)) % 10**6}")
    with pytest.raises(ConfigError, match="allow_code=.* is not a boolean"):
        prepare(["scale=debug", f"submission={folder}", f"allow_code={spelling}"])
    assert not (folder / "PLUGIN_RAN").exists()


@pytest.mark.parametrize("spelling", ["true", "True", "yes", "YES", "1", "'true'"])
def test_allow_code_true_spellings_run_plugin_code_and_say_so(tmp_path, spelling):
    from winnow.io import read_json
    from winnow.run import prepare

    folder = _plugin_submission(tmp_path, f"t{abs(hash(spelling)) % 10**6}")
    run = prepare(["scale=debug", f"submission={folder}", f"allow_code={spelling}"])
    assert (folder / "PLUGIN_RAN").exists()
    assert read_json(run.dir / "run.json")["allow_code"] is True


def test_every_boolean_flag_is_strict():
    from winnow.config import load_run_config

    cfg = load_run_config(["scale=debug", "progress=no", "scale.train.compile=No",
                           "runtime.activation_checkpointing=0"]).cfg
    assert cfg["progress"] is False and cfg["scale"]["train"]["compile"] is False
    assert cfg["runtime"]["activation_checkpointing"] is False
    for bad in ("progress=nope", "scale.train.compile=maybe", "runtime.activation_checkpointing=2"):
        with pytest.raises(ConfigError, match="not a boolean"):
            load_run_config(["scale=debug", bad])
    assert parse_bool(" Yes ", "x") is True and parse_bool(0, "x") is False
    with pytest.raises(ConfigError):
        parse_bool(0.0, "x")
