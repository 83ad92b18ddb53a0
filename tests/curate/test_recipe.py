"""Recipe loading: every validation error names what, where and how to fix; plugin opt-in;
fingerprint stability; compilation into segments."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from winnow.curate.base import STEPS
from winnow.curate.recipe import RecipeError, load_recipe, validate_recipe
from tests.helpers import CURATE_FIXTURES



def write(folder: Path, text: str, name: str = "recipe.yaml") -> Path:
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))
    return p


def error_of(path: Path, **kw) -> str:
    with pytest.raises(RecipeError) as e:
        load_recipe(path, **kw)
    return str(e.value)


HEAD = "name: t\ntrack: filtering\n"


def test_fixture_recipe_loads():
    r = load_recipe(CURATE_FIXTURES / "basic")  # a submission folder holding recipe.yaml
    assert r.name == "basic" and r.track == "filtering"
    assert [s.name for s in r.steps] == ["line_cleanup", "length_filter", "exact_dedup",
                                         "word_count_filter"]
    assert [s.index for s in r.steps] == [1, 2, 3, 4]
    assert r.flags() == {"plugin_code": False, "external_data": False, "ids_list": False}


def test_misspelled_step_suggests(tmp_path):
    p = write(tmp_path, HEAD + "steps:\n  - step: length_filtr\n    min_chars: 3\n")
    msg = error_of(p)
    assert "step 1 (length_filtr)" in msg and "did you mean 'length_filter'" in msg
    assert str(p) in msg


def test_unknown_parameter_is_named_with_accepted_ones(tmp_path):
    p = write(tmp_path, HEAD + "steps:\n  - step: length_filter\n  - step: length_filter\n"
                               "    min_char: 3\n")
    msg = error_of(p)
    assert "step 2 (length_filter)" in msg and "unknown parameter 'min_char'" in msg
    assert "did you mean 'min_chars'" in msg and "takes: min_chars, max_chars" in msg


def test_wrong_type(tmp_path):
    p = write(tmp_path, HEAD + "steps:\n  - step: length_filter\n    min_chars: ten\n"
                               "  - step: exact_dedup\n    normalize: 1\n"
                               "  - step: length_filter\n    max_chars: 1e5\n")
    problems = validate_recipe(p)
    assert len(problems) == 3  # every problem is reported at once
    assert "step 1 (length_filter): parameter 'min_chars' must be an integer, got a string" \
        in problems[0]
    assert "parameter 'normalize' must be a boolean" in problems[1]
    assert "max_chars" in problems[2] and "1.0e+5" in problems[2]  # the YAML 1e5 pitfall


def test_missing_required_parameter(tmp_path):
    p = write(tmp_path, HEAD + "steps:\n  - step: select_ids\n")
    msg = error_of(p)
    assert "step 1 (select_ids): missing required parameter 'ids_file'" in msg


def test_constructor_value_error_names_step_and_parameter(tmp_path):
    p = write(tmp_path, HEAD + "steps:\n  - step: word_count_filter\n    min_words: 5\n"
                               "    max_words: 2\n  - step: random_sample\n")
    problems = validate_recipe(p)
    assert "step 1 (word_count_filter): parameter 'max_words': must be >= min_words" in problems[0]
    assert "step 2 (random_sample): parameter 'tokens'" in problems[1]


def test_missing_referenced_files(tmp_path):
    p = write(tmp_path, HEAD + "ids: kept_ids.txt\n")
    msg = error_of(p)
    assert "kept_ids.txt" in msg and "does not exist" in msg
    p = write(tmp_path, HEAD + "steps:\n  - step: select_ids\n    ids_file: lists/ids.txt\n")
    msg = error_of(p)
    assert "step 1 (select_ids)" in msg and str(tmp_path / "lists" / "ids.txt") in msg
    p = write(tmp_path, HEAD + "plugins: [missing_plugin.py]\nsteps: []\n")
    assert "missing_plugin.py" in error_of(p, allow_code=True)


def test_empty_and_malformed_yaml(tmp_path):
    assert "the file is empty" in error_of(write(tmp_path, "\n# only a comment\n"))
    msg = error_of(write(tmp_path, "name: t\ntrack: filtering\nsteps:\n  - step: a\n   x: 1\n"))
    assert "recipe.yaml:5:" in msg and "malformed YAML" in msg and "   x: 1" in msg
    msg = error_of(write(tmp_path, "name: a\nname: b\ntrack: filtering\nsteps: []\n"))
    assert "duplicate key 'name'" in msg
    assert "must be a mapping" in error_of(write(tmp_path, "- step: length_filter\n"))


def test_top_level_problems(tmp_path):
    problems = validate_recipe(write(tmp_path, "trak: filtering\nsteps: []\n"))
    text = "\n".join(problems)
    assert "missing `name:`" in text and "missing `track:`" in text
    assert "unknown top-level key 'trak'" in text and "did you mean 'track'" in text
    bad_track = write(tmp_path, "name: t\ntrack: filter\nsteps: []\n")
    assert "unknown track 'filter'" in error_of(bad_track)
    assert "not neither" in error_of(write(tmp_path, HEAD))
    (tmp_path / "ids.txt").write_text("a\n")
    assert "not both" in error_of(write(tmp_path, HEAD + "ids: ids.txt\nsteps: []\n"))
    not_a_step = write(tmp_path, HEAD + "steps:\n  - 3\n")
    assert "must be a mapping `- step: <name>`" in error_of(not_a_step)
    msg = error_of(write(tmp_path, HEAD + "steps: []\nexternal: [s3://bucket/x.jsonl]\n"))
    assert "only allowed on the mixing track" in msg
    (tmp_path / "a.jsonl").write_text('{"text": "hello"}\n')
    r = load_recipe(write(tmp_path, "name: t\ntrack: mixing\nsteps: []\nexternal: [a.jsonl]\n"))
    assert [f.label for f in r.external] == ["a.jsonl"] and r.flags()["external_data"]
    fp = r.fingerprint()
    (tmp_path / "a.jsonl").write_text('{"text": "hello!"}\n')  # other bytes: another submission
    assert load_recipe(tmp_path / "recipe.yaml").fingerprint() != fp
    msg = error_of(write(tmp_path, "name: t\ntrack: mixing\nsteps: []\nexternal: [b.jsonl, https://x/y.jsonl]\n"))
    assert "b.jsonl not found" in msg and "pin it as {url: https://x/y.jsonl, sha256:" in msg


def test_ids_recipe_compiles_to_select_ids(tmp_path):
    (tmp_path / "ids.txt").write_text("a\nb\nc\n")
    r = load_recipe(write(tmp_path, HEAD + "ids: ids.txt\n"))
    assert [(s.name, s.kind) for s in r.steps] == [("select_ids", "global")]
    assert r.steps[0].params["ids_file"] == str(tmp_path / "ids.txt")
    assert r.ids_file == tmp_path / "ids.txt"
    (tmp_path / "ids.txt").write_text("b\na\n")
    msg = error_of(tmp_path / "recipe.yaml")
    assert "ids" in msg and "sorted" in msg and "LC_ALL=C sort -u" in msg


PLUGIN = """
from pathlib import Path
from winnow.curate.base import STEPS, Filter

Path(__file__).with_name("IMPORTED").write_text("yes")

@STEPS.register("{name}")
class ShortLines(Filter):
    version = 1

    def __init__(self, max_lines: int = 3):
        self.max_lines = max_lines

    def keep(self, doc):
        return True if doc["text"].count("\\n") < self.max_lines else "too_many_lines"
"""


def test_plugins_are_not_imported_without_allow_code(tmp_path):
    (tmp_path / "my_steps.py").write_text(PLUGIN.format(name="plugin_lines_a"))
    p = write(tmp_path, HEAD + "plugins: [my_steps.py]\nsteps:\n  - step: plugin_lines_a\n")
    msg = error_of(p)
    assert "plugin code" in msg and "allow_code=true" in msg and "my_steps.py" in msg
    assert not (tmp_path / "IMPORTED").exists()
    assert validate_recipe(p) and not (tmp_path / "IMPORTED").exists()

    r = load_recipe(p, allow_code=True)
    assert (tmp_path / "IMPORTED").exists()
    assert r.flags()["plugin_code"] and r.steps[0].kind == "docs"
    # plugin steps are scoped to the recipe: the global registry is unchanged
    assert "plugin_lines_a" not in STEPS
    assert r.build(r.steps[0]).keep({"text": "a\nb\nc\nd"}) == "too_many_lines"
    # parameters of plugin steps are checked like built-ins
    p2 = write(tmp_path, HEAD + "plugins: [my_steps.py]\nsteps:\n  - step: plugin_lines_a\n"
                                "    max_line: 2\n", "r2.yaml")
    assert "did you mean 'max_lines'" in error_of(p2, allow_code=True)


def test_two_submissions_may_define_the_same_plugin_step(tmp_path):
    for sub in ("one", "two"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "steps.py").write_text(PLUGIN.format(name="plugin_same_name")
                                                 + f"\n# {sub}\n")
        write(tmp_path / sub, HEAD + "plugins: [steps.py]\nsteps:\n  - plugin_same_name\n")
    a = load_recipe(tmp_path / "one", allow_code=True)
    b = load_recipe(tmp_path / "two", allow_code=True)
    assert a.fingerprint() != b.fingerprint()  # plugin content is part of the fingerprint


def test_fingerprint(tmp_path):
    a = load_recipe(write(tmp_path, HEAD + "steps:\n  - step: length_filter\n    min_chars: 5\n"
                                           "  - exact_dedup\n", "a.yaml"))
    # comments, the name, explicit defaults and the folder do not change it
    b = load_recipe(write(tmp_path / "elsewhere", "# hello\nname: other\ntrack: filtering\n"
                                                  "steps:\n  - {step: length_filter, min_chars: 5,"
                                                  " max_chars: null}\n"
                                                  "  - step: exact_dedup\n    normalize: false\n",
                          "b.yaml"))
    assert a.fingerprint() == b.fingerprint()
    c = load_recipe(write(tmp_path, HEAD + "steps:\n  - step: length_filter\n    min_chars: 6\n"
                                           "  - exact_dedup\n", "c.yaml"))
    assert a.fingerprint() != c.fingerprint()
    # referenced file content is part of it
    (tmp_path / "ids.txt").write_text("a\nb\n")
    f1 = load_recipe(write(tmp_path, HEAD + "ids: ids.txt\n", "i.yaml")).fingerprint()
    (tmp_path / "ids.txt").write_text("a\nc\n")
    f2 = load_recipe(tmp_path / "i.yaml").fingerprint()
    assert f1 != f2 and len(f1) == 64


def test_segments_split_at_global_steps(tmp_path):
    r = load_recipe(write(tmp_path, HEAD + "steps:\n"
                                           "  - line_cleanup\n"
                                           "  - length_filter\n"
                                           "  - exact_dedup\n"
                                           "  - {step: random_sample, fraction: 0.5}\n"
                                           "  - word_count_filter\n"))
    segs = r.segments()
    assert [(s.dirname, [x.name for x in s.steps]) for s in segs] == [
        ("seg_0_docs", ["line_cleanup", "length_filter"]),
        ("seg_1_global", ["exact_dedup"]),
        ("seg_2_global", ["random_sample"]),
        ("seg_3_docs", ["word_count_filter"]),
    ]


# --------------------------------------------------------------------------- fields (needs/provides)

def test_a_needed_field_without_its_provider_names_both_steps_and_the_fix(tmp_path):
    p = write(tmp_path, HEAD + "steps:\n  - line_cleanup\n"
                               "  - {step: language_filter, keep_languages: [en]}\n")
    msg = error_of(p)   # the run would fail after curation started: "meta.lang is missing"
    assert "step 2 (language_filter) needs meta.lang, which no earlier step provides: " \
           "add `- step: language_id` before step 2" in msg
    p = write(tmp_path, HEAD + "steps:\n  - {step: language_filter, keep_languages: [en]}\n"
                               "  - language_id\n", "late.yaml")
    assert "step 1 (language_filter) needs meta.lang, which step 2 (language_id) provides only " \
           "after it: move language_id before step 1" in error_of(p)
    ok = write(tmp_path, HEAD + "steps:\n  - language_id\n  - exact_dedup\n"
                                "  - {step: language_filter, keep_languages: [en]}\n", "ok.yaml")
    assert [s.provides for s in load_recipe(ok).steps][:2] == [("meta.lang", "meta.lang_score"), ()]


def test_fields_named_by_parameters(tmp_path):
    p = write(tmp_path, HEAD + "steps:\n  - {step: word_counter_enricher, key: before}\n"
                               "  - {step: word_removal_ratio_filter, prev_word_count_key: words}\n")
    assert ("step 2 (word_removal_ratio_filter) needs meta.words, which no earlier step provides: "
            "add `- step: word_counter_enricher` with `key: words` before step 2") in error_of(p)
    ok = write(tmp_path, HEAD + "steps:\n  - {step: word_counter_enricher, key: words}\n"
                                "  - line_cleanup\n"
                                "  - {step: word_removal_ratio_filter, prev_word_count_key: words}\n",
               "ok.yaml")
    assert load_recipe(ok).steps[0].provides == ("meta.words",)


def test_declarations_leave_the_fingerprint_alone(tmp_path):
    """needs/provides are metadata: a step's canonical form (and so every fingerprint) is the same
    with or without them."""
    r = load_recipe(write(tmp_path, HEAD + "steps:\n  - language_id\n"
                                           "  - {step: language_filter, keep_languages: [en]}\n"))
    assert r.steps[1].needs == ("meta.lang",)
    assert [s.canonical for s in r.steps] == [
        {"step": "language_id", "version": 1, "params": {"model": "fasttext", "seed": 0}},
        {"step": "language_filter", "version": 1,
         "params": {"keep_languages": ["en"], "threshold": 0.0}}]


FIELD_PLUGIN = """
from winnow.curate import STEPS, Filter, Mapper

@STEPS.register("{name}_tagger")
class Tagger(Mapper):          # declares nothing: it may write any field
    version = 1
    def __call__(self, doc):
        doc["meta"]["lang"] = "en"
        return [doc]

@STEPS.register("{name}_lang")
class Lang(Mapper):
    version = 1
    provides = ("meta.lang",)
    def __call__(self, doc):
        doc["meta"]["lang"] = "en"
        return [doc]

@STEPS.register("{name}_check")
class Check(Filter):           # an undeclared Filter only keeps or drops
    version = 1
    def keep(self, doc):
        return True

@STEPS.register("{name}_wants")
class Wants(Filter):
    version = 1
    needs = ("meta.colour",)
    def keep(self, doc):
        return doc["meta"]["colour"] == "red" or "not_red"

@STEPS.register("{name}_bad")
class Bad(Filter):
    version = 1
    needs = ("meta.{{nope}}",)
    def keep(self, doc):
        return True
"""


@pytest.mark.parametrize("steps, problem", [
    (["tagger", "lang_filter"], None),        # undeclared Mapper: validation cannot know
    (["lang", "lang_filter"], None),          # declared provider
    (["check", "lang_filter"], "step 2 (language_filter) needs meta.lang, which no earlier step "
                               "provides: add one of `- step: language_id`, `- step: fp_lang` "
                               "before step 2"),   # the recipe's own plugin steps are offered too
    (["wants"], "step 1 (fp_wants) needs meta.colour, which no earlier step provides: no registered "
                "step writes meta.colour: add a step of your own that does (and declares "
                "`provides = (\"meta.colour\",)`)"),
    (["bad"], "step 1 (fp_bad): the step's field declaration is wrong: `needs` entry "
              "'meta.{nope}' names no parameter of the step"),
])
def test_plugin_steps_declare_fields_too(tmp_path, steps, problem):
    (tmp_path / "fields.py").write_text(FIELD_PLUGIN.format(name="fp"))
    items = "".join("  - {step: language_filter, keep_languages: [en]}\n" if s == "lang_filter"
                    else f"  - fp_{s}\n" for s in steps)
    p = write(tmp_path, HEAD + "plugins: [fields.py]\nsteps:\n" + items)
    if problem is None:
        load_recipe(p, allow_code=True)
        return
    assert problem in error_of(p, allow_code=True)


def test_validate_prints_one_line_per_field_problem(tmp_path, capsys):
    from winnow.cli import main

    p = write(tmp_path, HEAD + "steps:\n  - {step: language_filter, keep_languages: [en]}\n")
    assert main(["validate", str(p)]) == 2
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        f"{p}: INVALID",
        f"  - {p}: step 1 (language_filter) needs meta.lang, which no earlier step provides: "
        "add `- step: language_id` before step 1"]
    assert "Traceback" not in out.err


@pytest.mark.parametrize("plugin, recipe_extra, expected", [
    ("import sys\nsys.exit(3)\n", "", "plugin file {folder}/p.py failed to import: SystemExit: 3"),
    ("from winnow.curate import STEPS, Mapper\n@STEPS.register('labels_boom')\nclass L(Mapper):\n"
     "    version = 1\n    @staticmethod\n    def stage_labels(params):\n        raise ValueError('boom')\n",
     "track: order\nstages: {count: 2}\n",
     "step 1 (labels_boom): its stage_labels(params) failed: ValueError: boom"),
])
def test_plugin_mistakes_are_one_problem_not_a_traceback(tmp_path, plugin, recipe_extra, expected):
    (tmp_path / "p.py").write_text(plugin)
    head = HEAD if not recipe_extra else "name: t\n" + recipe_extra
    p = write(tmp_path, head + "plugins: [p.py]\nsteps: [labels_boom]\n")
    assert expected.format(folder=tmp_path) in error_of(p, allow_code=True)


def test_yaml_nested_too_deep_is_one_problem(tmp_path):
    p = write(tmp_path, HEAD + "steps: " + "[" * 20000 + "]" * 20000 + "\n")
    assert "the YAML nests too deep to read" in error_of(p)
