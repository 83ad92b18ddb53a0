"""The whole chain in miniature: debug scale, mini pool, curate -> ... -> leaderboard row.

One module-scoped run is shared by the checks: manifests and verification (a changed byte is
named), skip-on-rerun, determinism across homes, submit/check/build, and refusal of unofficial
runs and edited rows.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from winnow.io import read_json
from winnow.manifest import read_manifest

DEBUG = ["scale=debug", "submission=baselines/simple_heuristics", "progress=false", "engine.workers=1"]


@pytest.fixture(scope="module")
def debug_run(mini_pool):
    from winnow.run import STAGES, prepare, run_stages

    run = prepare(DEBUG)
    manifests = run_stages(run, STAGES)
    return run, manifests


def test_every_stage_has_a_manifest_and_the_chain_links(debug_run):
    run, ms = debug_run
    assert [m.kind for m in ms.values()] == ["pool", "curated", "tokenized", "train", "eval"]
    assert ms["curate"].parents["pool"] == ms["pool"].content_id
    assert ms["tokenize"].parents["curated"] == ms["curate"].content_id
    assert ms["train"].parents["tokenized"] == ms["tokenize"].content_id
    assert ms["eval"].parents["train"] == ms["train"].content_id
    res = read_json(run.dir / "eval" / "debug" / "results.json")
    assert res["tasks"] and "prob_mean_v1" in res["aggregates"]
    assert res["heldout"]["model"]["bits_per_byte"] > 0 and res["heldout"]["unigram"]["bits_per_byte"] > 0
    info = read_json(run.dir / "run.json")
    assert info["official"] and info["submission"] == "baselines/simple_heuristics"


def test_train_stage_writes_a_complete_hf_model_and_hashes_it(debug_run):
    """The model folder carries its code and tokenizer (tests/train/test_hf_ecosystem.py loads such a
    folder without winnow); every file of it is content of the train stage."""
    from winnow.io import sha256_file

    run, ms = debug_run
    files = set(ms["train"].files)
    for name in ("config.json", "model.safetensors", "modeling_openlm.py", "tokenizer.json",
                 "tokenizer_config.json", "special_tokens_map.json"):
        assert f"model/{name}" in files
    assert sha256_file(run.dir / "train" / "model" / "tokenizer.json") == run.scale["tokenizer"]["sha256"]
    assert read_json(run.dir / "train" / "model" / "tokenizer_config.json")["model_max_length"] == 128


def test_inspect_shows_drops_with_reasons(debug_run):
    from winnow.curate.inspect import inspect_run

    run, _ = debug_run
    text = inspect_run(run.dir, step="length_filter", reason="too_short", limit=2)
    assert "dropped by length_filter for too_short" in text
    assert "[length_filter/too_short]" in text
    with pytest.raises(ValueError, match="did you mean 'length_filter'"):
        inspect_run(run.dir, step="lenght_filter")


def test_rerun_skips_every_stage(debug_run):
    from winnow.run import STAGES, prepare, run_stages

    run, ms = debug_run
    again = run_stages(prepare(DEBUG), STAGES)
    assert {k: m.content_id for k, m in again.items()} == {k: m.content_id for k, m in ms.items()}


def test_runtime_settings_keep_the_run_official_and_its_stages(debug_run):
    """runtime.* (micro batch, threads, activation checkpointing) change how, not what: same run
    folder, official, every stage up to date; a setting that changes the model is refused."""
    from winnow.run import STAGES, StageError, prepare, run_stages, runtime_train

    run, ms = debug_run
    fast = prepare(DEBUG + ["runtime.micro_batch_size=2", "runtime.threads=1"])
    assert fast.dir == run.dir and fast.rc.official
    assert runtime_train(fast) == {"micro_batch_size": 2, "threads": 1}
    again = run_stages(fast, STAGES)
    assert {k: m.content_id for k, m in again.items()} == {k: m.content_id for k, m in ms.items()}
    with pytest.raises(StageError, match="runtime.lr changes what is trained"):
        runtime_train(prepare(DEBUG + ["+runtime.lr=0.1"]))


def test_rerunning_from_another_checkout_keeps_the_runs_record(debug_run, tmp_path):
    """run.json records the invocation that made the run: a rerun from a second checkout (another
    submission folder, other runtime settings) leaves it byte for byte, so a row submitted from the
    first keeps matching its evidence. A record whose run settings were edited, or whose checkout
    is gone, is rewritten."""
    from winnow.run import prepare

    run, _ = debug_run
    record = run.dir / "run.json"
    prepare(DEBUG)   # whichever test ran this run last, its record now names a folder that exists
    before = record.read_bytes()
    clone = tmp_path / "clone" / "baselines" / "simple_heuristics"
    shutil.copytree(run.submission.folder, clone)
    other = [o for o in DEBUG if not o.startswith("submission=")] + [f"submission={clone}", "runtime.threads=1"]
    assert prepare(other).dir == run.dir
    assert record.read_bytes() == before
    edited = read_json(record)
    lr = edited["config"]["scale"]["train"]["lr"]
    edited["config"]["scale"]["train"]["lr"] = 123.0
    record.write_text(json.dumps(edited))
    prepare(DEBUG)
    assert read_json(record)["config"]["scale"]["train"]["lr"] == lr
    # a record whose checkout is gone is replaced by the checkout that runs it now
    record.write_text(json.dumps({**read_json(record), "submission_folder": str(tmp_path / "deleted")}))
    prepare(DEBUG)
    assert read_json(record)["submission_folder"] == str(run.submission.folder)


def test_verify_names_a_changed_file(debug_run, tmp_path):
    from winnow.leaderboard.verify import verify_run

    run, _ = debug_run
    assert verify_run(run.dir) == []
    shard = sorted((run.dir / "curated" / "shards").glob("*.jsonl.zst"))[0]
    saved = tmp_path / "saved"
    shutil.copy2(shard, saved)
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    try:
        problems = verify_run(run.dir)
        assert any(str(shard) in p and "sha256" in p for p in problems), problems
    finally:
        shutil.copy2(saved, shard)
    assert verify_run(run.dir) == []


def test_submit_check_build_and_tamper(debug_run):
    from winnow.leaderboard.build import build
    from winnow.leaderboard.evidence import bundle_path
    from winnow.leaderboard.submit import submit
    from winnow.leaderboard.verify import check_row, check_rows

    run, _ = debug_run
    path = submit(run.dir)
    assert path.parent.parent.name == "debug" and path.parent.name == "filtering"
    assert path.name.startswith("baselines-simple_heuristics__seed0__")
    row = read_json(path)
    assert row["manifests"]["eval"] == read_manifest(run.dir / "eval" / "debug").content_id
    problems, n = check_rows()
    assert n == 1 and problems == []
    out = build()
    assert "baselines/simple_heuristics" in out[0].read_text()
    # an edited number fails, even when the row hash is recomputed after the edit
    from winnow.leaderboard.rows import row_hash

    task = next(iter(row["tasks"]))
    row["tasks"][task]["acc"] = 0.99
    row["row_hash"] = row_hash(row)
    edited = path.with_name("edited.json")
    edited.write_text(json.dumps(row))
    try:
        probs = check_row(edited)
        assert any(f"{task}.acc" in p for p in probs), probs
    finally:
        edited.unlink()
    # the run started again and not finished (only run.json yet): the row's bundle is its evidence
    aside = run.dir.with_name(run.dir.name + ".aside")
    run.dir.rename(aside)
    try:
        run.dir.mkdir()
        shutil.copy2(aside / "run.json", run.dir / "run.json")
        assert check_row(path) == []
        bundle = bundle_path(path)
        bundle.rename(bundle.with_name("b.tmp"))
        try:   # without its bundle the unfinished folder is named
            assert any("has not finished" in p for p in check_row(path))
        finally:
            bundle.with_name("b.tmp").rename(bundle)
    finally:
        shutil.rmtree(run.dir)
        aside.rename(run.dir)


def test_unofficial_run_is_refused(debug_run):
    from winnow.leaderboard.rows import RowError
    from winnow.leaderboard.submit import submit
    from winnow.run import prepare

    run = prepare(DEBUG + ["scale.train.lr=0.01"])
    assert not run.rc.official and any("scale.train.lr" in u for u in run.rc.unofficial)
    with pytest.raises(RowError, match="unofficial"):
        submit(run.dir)


def test_same_seed_in_a_fresh_home_gives_identical_ids_and_numbers(debug_run, tmp_path):
    from winnow.run import STAGES, prepare, run_stages

    run, ms = debug_run
    old = os.environ["WINNOW_HOME"]
    os.environ["WINNOW_HOME"] = str(tmp_path / "home2")
    try:
        run2 = prepare(DEBUG)
        ms2 = run_stages(run2, STAGES)
    finally:
        os.environ["WINNOW_HOME"] = old
    assert {k: m.content_id for k, m in ms2.items()} == {k: m.content_id for k, m in ms.items()}
    assert (run2.dir / "eval/debug/results.json").read_bytes() == (run.dir / "eval/debug/results.json").read_bytes()


def test_noise_study_seeds_vary_one_source_each_and_make_the_run_unofficial(debug_run):
    """seeds.init changes the trained weights but not the data; seeds.fill the tokens but not the
    curation; each gets its own run folder and marks the run unofficial."""
    from winnow.run import STAGES, prepare, run_stages

    run, ms = debug_run
    init = prepare(DEBUG + ["seeds.init=7"])
    assert init.dir != run.dir and not init.rc.official
    assert any(u.startswith("seeds.init: 7") for u in init.rc.unofficial)
    assert init.seed_for("init") == 7 and init.seed_for("fill") == init.seed == 0 and init.seed_for("order") is None
    got = run_stages(init, STAGES)
    assert got["tokenize"].content_id == ms["tokenize"].content_id
    assert got["train"].content_id != ms["train"].content_id
    fill = prepare(DEBUG + ["seeds.fill=7", "seeds.order=3"])
    got = run_stages(fill, ("pool", "curate", "tokenize"))
    assert got["curate"].content_id == ms["curate"].content_id
    assert got["tokenize"].content_id != ms["tokenize"].content_id
    assert read_json(fill.dir / "tokenized" / "order.json")["row_order_seed"] == 3


def test_run_entry_runs_every_seed_the_scale_needs(debug_run, capsys):
    """`winnow run --entry` runs seeds 0..n-1 of the scale's leaderboard.seeds; a seed= override
    beside it is refused with a message, not a traceback."""
    from winnow.cli import main
    from winnow.run import entry_seeds

    assert entry_seeds(["scale=debug"]) == [0]
    two = DEBUG + ["+scale.leaderboard.seeds=2"]
    assert entry_seeds(two) == [0, 1]
    assert main(["run", *two, "seed=3", "--entry"]) == 2
    assert "--entry runs the seeds the scale needs; drop 'seed=3'" in capsys.readouterr().err
    assert main(["run", *two, "--entry"]) == 0
    out = capsys.readouterr().out
    assert "entry: seeds 0, 1" in out
    folders = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("run folder: ")]
    assert len(folders) == 2 and [read_json(os.path.join(f, "run.json"))["seed"] for f in folders] == [0, 1]


def test_a_scale_can_fix_the_curation_seed(debug_run):
    """A scale's `seeds: {curate: k}` makes every run seed curate with k (an entry's seeds then
    train one dataset) while init and data order follow the run seed; a study override wins."""
    from winnow.run import curation_seed, prepare

    run = prepare(DEBUG + ["+scale.seeds.curate=0", "seed=1"])
    assert curation_seed(run) == 0 and run.seed_for("init") == run.seed_for("fill") == 1
    assert curation_seed(prepare(DEBUG + ["+scale.seeds.curate=0", "seed=1", "seeds.curate=4"])) == 4
    assert curation_seed(prepare(DEBUG + ["seed=1"])) == 1


def test_a_scale_can_hold_the_documents_fixed_and_let_the_run_seed_order_the_rows(debug_run):
    """seeds: {fill: 0, order: run}: every run seed trains the same documents, packed the same
    way, in a row order of its own; a seed that is neither a number nor 'run' is refused."""
    from winnow.run import StageError, prepare

    run = prepare(DEBUG + ["+scale.seeds.fill=0", "+scale.seeds.order=run", "seed=5"])
    assert run.seed_for("fill") == 0 and run.seed_for("order") == 5 and run.seed_for("init") == 5
    assert run.seed_for("curate") == 5
    with pytest.raises(StageError, match="seeds.order must be a whole number or 'run'"):
        prepare(DEBUG + ["+scale.seeds.order=sometimes"]).seed_for("order")


def test_a_run_that_differs_only_in_ranking_adopts_the_tokens_and_model_it_would_recompute(debug_run, caplog):
    """Another leaderboard setting gives another run folder, but its tokenize and train stages
    have the debug run's input keys: they are adopted (hard links, the log names the run), not
    recomputed, and eval runs in the new folder."""
    import logging

    from winnow.run import STAGES, prepare, run_stages

    run, ms = debug_run
    other = prepare(DEBUG + ["+scale.leaderboard.seeds=3"])
    assert other.dir != run.dir
    with caplog.at_level(logging.INFO):
        got = run_stages(other, STAGES)
    assert got["tokenize"].content_id == ms["tokenize"].content_id
    assert got["train"].content_id == ms["train"].content_id
    assert f"train: reusing the finished output of run {run.dir.name}" in caplog.text
    assert os.stat(other.dir / "train/model/model.safetensors").st_ino == os.stat(run.dir / "train/model/model.safetensors").st_ino
    assert (other.dir / "eval/debug/results.json").read_bytes() == (run.dir / "eval/debug/results.json").read_bytes()


def test_submitting_a_run_again_keeps_its_unchanged_row(debug_run, capsys):
    """A second submit of the same finished run leaves the row and bundle byte for byte (its date
    stays the one committed) and says so; a row that no longer says what the run says is rewritten."""
    from winnow.leaderboard.evidence import bundle_path
    from winnow.leaderboard.submit import submit

    run, _ = debug_run
    path = submit(run.dir)
    before, bundle = path.read_bytes(), bundle_path(path).read_bytes()
    capsys.readouterr()
    assert submit(run.dir) == path and path.read_bytes() == before and bundle_path(path).read_bytes() == bundle
    assert "already on the board, unchanged since" in capsys.readouterr().out
    bundle_path(path).write_bytes(bundle + b" ")     # a bundle that is not the run's evidence: rewritten
    submit(run.dir)
    assert bundle_path(path).read_bytes() == bundle
    row = read_json(path)
    row["heldout"]["bits_per_byte"] = 9.9            # an edited row is replaced by the run's own
    path.write_text(json.dumps(row))
    submit(run.dir)
    assert read_json(path)["heldout"]["bits_per_byte"] != 9.9
