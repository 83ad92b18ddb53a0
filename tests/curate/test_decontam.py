"""decontaminate: made-up eval items planted in made-up documents are found per task, only the
planted ones; removal drops them with reason `contaminated`; results are deterministic and land
in curate()'s stats.json; missing task files are skipped with a note."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from winnow.curate import StepContext, curate, load_recipe
from winnow.curate.base import ParamError
from winnow.curate.engine import LocalEngine
from winnow.curate.steps.decontam import Decontaminate, item_text, words
from winnow.docs import read_docs, write_docs

CTX = StepContext(seed=0, workers=1)
TASKS = ["arc_easy", "lambada_openai", "winogrande", "copa"]  # copa's file is left missing

ARC = [  # multiple choice: query + gold choice
    {"query": "Question: Which gas do green plants take in from the air to make their own food "
              "during photosynthesis in bright sunlight?", "choices": ["oxygen", "carbon dioxide"],
     "gold": 1},
    {"query": "Question: A student drops a rubber ball and a steel marble from the top of the "
              "same tall building at exactly the same moment; which lands first?",
     "choices": ["the ball", "both at once"], "gold": 1},
    {"query": "Question: Which organ pumps blood?", "choices": ["heart", "lung"], "gold": 0},  # short
]
LAMBADA = [  # language modelling: context + continuation
    {"context": "The old lighthouse keeper climbed the spiral staircase every evening at dusk, "
                "carrying a brass lantern that had belonged to his grandfather, and each night he",
     "continuation": "lit it"},
    {"context": "Marguerite folded the letter twice, slipped it under the blue porcelain vase on "
                "the mantelpiece, and waited for her brother to come home from the", "continuation":
     "harbour"},
]
WINOGRANDE = [  # schema: gold context option + continuation
    {"context_options": ["The trophy would not fit into the brown suitcase because the trophy",
                         "The trophy would not fit into the brown suitcase because the suitcase"],
     "continuation": "was far too large for it to close properly over the lid.", "gold": 0},
]
TEMPLATE = ("Choose the single best answer to the following question using only the information "
            "given in the passage below")  # 18 words shared by many items: prompt boilerplate

FILLER = ("Weather reports for the coastal towns were calm this week, and the ferry schedule "
          "returned to normal after the long holiday weekend. ")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    arc = ARC + [{"query": f"{TEMPLATE}: item number {i} asks about topic {i}?",
                  "choices": ["yes", "no"], "gold": 0} for i in range(12)]
    write_jsonl(root / "eval" / "world_knowledge" / "arc_easy.jsonl", arc)
    write_jsonl(root / "eval" / "language_understanding" / "lambada_openai.jsonl", LAMBADA)
    write_jsonl(root / "eval" / "language_understanding" / "winogrande.jsonl", WINOGRANDE)
    monkeypatch.setenv("WINNOW_DATA", str(root))
    return root


def docs() -> list[dict]:
    """Clean documents, with eval items planted in some (case and punctuation changed)."""
    arc0 = item_text(ARC[0], "multiple_choice").upper().replace("?", " ... ")
    lam0 = item_text(LAMBADA[0], "language_modeling")
    wino = item_text(WINOGRANDE[0], "schema")
    partial = " ".join(words(lam0)[:12])  # 12 words: below the 13-gram, not a match
    rows = [
        ("clean-1", FILLER * 3),
        ("arc-0", FILLER + arc0 + " " + FILLER),
        ("lam-0", FILLER + lam0),
        ("both", lam0 + "\n\n" + wino + "\n" + FILLER),
        ("partial", FILLER + partial + " and then something else entirely happened"),
        ("template", FILLER + TEMPLATE + " " + FILLER),  # boilerplate only: ignored
        ("short-item", FILLER + "Question: Which organ pumps blood? heart " + FILLER),  # 6 words
        ("clean-2", FILLER),
    ]
    return [{"id": i, "text": t, "url": None, "source": "web", "meta": {"pool_id": i}}
            for i, t in rows]


def shards(folder: Path) -> list[Path]:
    d = docs()
    paths = []
    for k in range(2):
        p = folder / f"shard_{k:05d}.jsonl.zst"
        write_docs(p, d[k::2])
        paths.append(p)
    return paths


def run_step(tmp_path: Path, name: str, **params):
    step = Decontaminate(tasks=TASKS, **params)
    step.step_name, step.step_index = "decontaminate", 1
    out = tmp_path / name
    out.mkdir()
    inp = tmp_path / f"{name}_in"
    inp.mkdir()
    outs = step.run(shards(inp), out, CTX)
    return step, out, outs


def test_measures_per_task_and_keeps_everything(tmp_path, data_root, caplog):
    step, out, outs = run_step(tmp_path, "measure")
    info = step.counters.info
    assert info["arc_easy/contaminated_items"] == 1 and info["arc_easy/contaminated_docs"] == 1
    assert info["lambada_openai/contaminated_items"] == 1
    assert info["lambada_openai/contaminated_docs"] == 2  # lam-0 and both
    assert info["winogrande/contaminated_items"] == 1 and info["winogrande/contaminated_docs"] == 1
    assert info["arc_easy/items"] == 15 and info["lambada_openai/items"] == 2
    assert info["copa/missing"] == 1 and "copa/items" not in info
    assert info["contaminated_docs"] == 3  # arc-0, lam-0, both
    assert info["eval_items_too_short"] == 1  # the 6-word arc item
    assert "copa skipped" in caplog.text
    c = step.counters
    assert (c.docs_in, c.docs_out, c.dropped) == (8, 8, {})
    assert sorted(d["id"] for p in outs for d in read_docs(p)) == sorted(d["id"] for d in docs())
    report = json.loads((out / "contamination.json").read_text())
    assert report["tasks"]["arc_easy"]["example_doc_ids"] == ["arc-0"]
    assert report["tasks"]["arc_easy"]["example_item_rows"] == [0]
    assert sorted(report["tasks"]["lambada_openai"]["example_doc_ids"]) == ["both", "lam-0"]
    assert report["tasks"]["copa"]["missing"] is True
    assert report["template_ngrams_ignored"] > 0


def test_remove_drops_contaminated_documents(tmp_path, data_root):
    step, out, outs = run_step(tmp_path, "remove", remove=True)
    kept = sorted(d["id"] for p in outs for d in read_docs(p))
    assert kept == ["clean-1", "clean-2", "partial", "short-item", "template"]
    assert step.counters.dropped == {"contaminated": 3}
    sampled = [d for p in sorted((out / "dropped").iterdir()) for d in read_docs(p)]
    assert sorted(d["id"] for d in sampled) == ["arc-0", "both", "lam-0"]
    assert {d["reason"] for d in sampled} == {"contaminated"}


def test_shorter_ngram_and_min_ngram(tmp_path, data_root):
    # with 6-grams the 12-word partial overlap counts, and the 6-word item is checked whole
    step, _, _ = run_step(tmp_path, "six", ngram=6, min_ngram=6)
    info = step.counters.info
    assert info["lambada_openai/contaminated_docs"] == 3  # + partial
    assert info["eval_items_too_short"] == 0
    assert info["arc_easy/contaminated_items"] == 2  # + the short item, planted in short-item


def test_deterministic(tmp_path, data_root):
    a, out_a, outs_a = run_step(tmp_path, "a", remove=True)
    b, out_b, outs_b = run_step(tmp_path, "b", remove=True)
    assert a.counters.to_dict() | {"seconds": 0, "cpu_seconds": 0} == b.counters.to_dict() | {"seconds": 0, "cpu_seconds": 0}
    assert [p.read_bytes() for p in outs_a] == [p.read_bytes() for p in outs_b]
    assert (out_a / "contamination.json").read_text() == (out_b / "contamination.json").read_text()


def test_params_are_checked():
    with pytest.raises(ParamError, match="hellaswg"):
        Decontaminate(tasks=["hellaswg"])
    with pytest.raises(ParamError, match="min_ngram"):
        Decontaminate(ngram=5, min_ngram=8)
    with pytest.raises(ParamError, match="suite"):
        Decontaminate(suite="no_such_suite")
    assert len(Decontaminate(suite="all").specs) == 53
    assert [t.name for t in Decontaminate(suite="debug").specs] == [
        "arc_easy", "winogrande", "lambada_openai"]


def test_in_curate_stats(tmp_path, data_root):
    (tmp_path / "r").mkdir()
    r = tmp_path / "r" / "recipe.yaml"
    r.write_text("name: d\ntrack: filtering\nsteps:\n  - step: decontaminate\n"
                 f"    tasks: {TASKS}\n    remove: true\n")
    (tmp_path / "in").mkdir()
    stats = curate(load_recipe(r), shards(tmp_path / "in"), tmp_path / "out", CTX,
                   LocalEngine(1, progress=False))
    row = next(s for s in stats["steps"] if s["step"] == "decontaminate")
    assert row["dropped"] == {"contaminated": 3} and row["in"] == 8 and row["out"] == 5
    assert row["info"]["winogrande/contaminated_docs"] == 1
    assert stats["totals"]["docs_out"] == 5
