"""The worked examples of submissions/README.md run as written, at the debug scale.

Every folder under ``submissions/examples/`` validates (the plugin one only with code allowed),
curates and packs at the debug scale with what its README section promises (the plugin steps'
drop reasons, exactly the listed ids, the external documents, the order track's stage labels);
one more test runs each through training and evaluation to a leaderboard row (written to the
tests' temporary board, never the repository's; CI runs the plugin example's, ``-m slow`` all).
"""

from __future__ import annotations

import pytest

from winnow.curate import validate_recipe
from winnow.docs import read_docs
from winnow.io import read_json
from winnow.paths import REPO_ROOT
from winnow.stages import CURATE

EXAMPLES_DIR = REPO_ROOT / "submissions" / "examples"
EXAMPLES = sorted(p.parent.name for p in EXAMPLES_DIR.glob("*/recipe.yaml"))
TRACKS = {"builtin_steps": "filtering", "plugin": "filtering", "id_list": "filtering",
          "mixing": "mixing", "order": "order"}


def overrides(name: str) -> list[str]:
    return ["scale=debug", f"submission=submissions/examples/{name}", "allow_code=true",
            "progress=false", "engine.workers=1"]


def curated_docs(run) -> list[dict]:
    return [d for p in sorted((run.folder(CURATE) / "shards").glob("*.jsonl.zst")) for d in read_docs(p)]


def test_every_track_has_an_example_and_each_validates():
    assert EXAMPLES == sorted(TRACKS)
    for name in EXAMPLES:
        assert validate_recipe(EXAMPLES_DIR / name, allow_code=True) == [], name
    # plugin code needs the opt-in, and the message names the real way to give it
    (problem,) = validate_recipe(EXAMPLES_DIR / "plugin")
    assert "allow_code=true" in problem


@pytest.mark.parametrize("name", sorted(TRACKS))
def test_example_curates_and_packs_at_debug(name, mini_pool):
    from winnow.run import prepare, run_stages

    run = prepare(overrides(name))
    assert run.submission.recipe.track == TRACKS[name] and run.rc.official
    done = run_stages(run, ("pool", "curate", "tokenize"))
    assert done["curate"].kind == "curated" and done["tokenize"].kind == "tokenized"
    docs = curated_docs(run)
    assert docs
    stats = read_json(run.folder(CURATE) / "stats.json")
    reasons = {r for s in stats["steps"] for r in s["dropped"]}
    if name == "plugin":
        assert {"too_many_digits", "below_length_percentile"} <= reasons
        assert run.submission.recipe.plugins
    elif name == "builtin_steps":
        assert {"wrong_language", "too_few_words"} <= reasons
    elif name == "id_list":
        wanted = (EXAMPLES_DIR / "id_list" / "kept.txt").read_text().split()
        assert sorted(d["id"] for d in docs) == wanted
    elif name == "mixing":
        ext = [d for d in docs if d["id"].startswith("ext/")]
        assert len(ext) == 6 and {d["source"] for d in ext} == {"external/my_docs"}
    elif name == "order":
        assert {d["meta"]["stage"] for d in docs} == {0, 1, 2, 3}
        assert len(done["tokenize"].config["stages"]) == 4


@pytest.mark.parametrize("name", [n if n == "plugin" else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(TRACKS)])  # ~5 s each; CI runs the plugin one
def test_example_runs_to_a_leaderboard_row(name, mini_pool):
    """The README's command, `winnow run ... --submit`, in-process: a row in the test board."""
    from winnow.leaderboard.submit import submit
    from winnow.run import STAGES, prepare, run_stages

    run = prepare(overrides(name))
    run_stages(run, STAGES)
    row = read_json(submit(run.dir))
    assert row["submission"] == f"examples/{name}" and row["track"] == TRACKS[name]
    assert row["scale"] == "debug" and row["seed"] == 0 and row["aggregates"]
    assert row["flags"]["plugin_code"] == (name == "plugin")
    assert row["flags"]["ids_list"] == (name == "id_list")
    assert row["flags"]["external_data"] == (name == "mixing")
