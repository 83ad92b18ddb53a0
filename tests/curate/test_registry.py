"""The step registry is whole and the step reference is generated from it.

Every ``BUILTIN_STEPS`` target imports and is the registered class; every recipe under
``baselines/`` and ``submissions/`` validates (plugins allowed: validation imports them, runs
nothing); ``winnow ls steps`` lists every step with a summary and ``winnow ls steps NAME``
prints its parameters and defaults, read from the class (``winnow.curate.stepdoc``); no step
module imports another step module (shared machinery is in ``winnow.curate.common``).
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from winnow.cli import main
from winnow.curate.base import STEPS, step_kind
from winnow.curate.recipe import validate_recipe
from winnow.curate.stepdoc import describe, markdown, render, step_table
from winnow.curate.steps import BUILTIN_STEPS
from winnow.paths import REPO_ROOT, DataRootError, data_root

RECIPES = sorted(p.parent.relative_to(REPO_ROOT).as_posix()
                 for top in ("baselines", "submissions")
                 for p in (REPO_ROOT / top).glob("*/recipe.yaml"))
STEP_MODULES = sorted((REPO_ROOT / "winnow" / "curate" / "steps").glob("*.py"))


@pytest.mark.parametrize("name", sorted(BUILTIN_STEPS))
def test_every_builtin_step_resolves_to_its_registered_class(name):
    module, _, attr = BUILTIN_STEPS[name].partition(":")
    cls = STEPS.get(name)
    assert name in STEPS.names()
    assert (cls.__module__, cls.__qualname__) == (module, attr)
    assert step_kind(cls) in ("docs", "global")
    inspect.signature(cls)  # parameters are introspectable (the validator and the reference)


def test_every_recipe_is_found():
    assert len(RECIPES) >= 17 and "submissions/template" in RECIPES
    assert {"baselines/dsir", "baselines/fasttext_quality", "baselines/c4"} <= set(RECIPES)


@pytest.mark.parametrize("folder", RECIPES)
def test_every_committed_recipe_validates(folder):
    try:
        has_banlists = (data_root() / "banlists").is_dir()
    except DataRootError:
        has_banlists = False
    text = (REPO_ROOT / folder / "recipe.yaml").read_text(encoding="utf-8")
    if "data_banlist" in text and not has_banlists:
        pytest.skip("the recipe reads a banlist from the data root, which is absent")
    assert validate_recipe(REPO_ROOT / folder / "recipe.yaml", allow_code=True) == []


def test_ls_steps_lists_every_step_with_a_summary(capsys):
    assert main(["ls", "steps"]) == 0
    out = capsys.readouterr().out
    listed = {line.split()[0]: line for line in out.splitlines() if line and line[0].isalpha()}
    assert set(BUILTIN_STEPS) <= set(listed)
    for name in BUILTIN_STEPS:
        assert len(listed[name].split()) >= 3, f"{name} has no summary"
    assert step_table() == out.rstrip("\n")


def test_ls_steps_name_prints_parameters_defaults_and_meanings(capsys):
    assert main(["ls", "steps", "substring_line_modifier"]) == 0
    out = capsys.readouterr().out
    assert "Mapper, version 1, winnow.curate.steps.refinedweb:SubstringLineModifier" in out
    rows = {line.split()[0]: line for line in out.split("parameters:")[1].splitlines()
            if line.startswith("  ")}
    assert "required" in rows["banlist"] and "regular expressions" in rows["banlist"]
    assert "'any'" in rows["location"] and "of the line" in rows["location"]
    assert "False" in rows["case_sensitive"]


@pytest.mark.parametrize("name", sorted(BUILTIN_STEPS))
def test_ls_steps_name_lists_each_parameter_once_and_whole(name):
    """Issue 22: the table was followed by the class docstring's own parameter list, a second list
    that left out the parameters documented elsewhere (target_classifier's selection modes). Now
    the table is the only list: every parameter of the constructor once, its meaning uncut, and
    no ``name``: meaning below it."""
    d = describe(name)
    text = render(d)
    head, _, below = text.partition("parameters:")
    table = [line.split()[0] for line in below.splitlines() if line.startswith("  ")]
    assert table == [p.name for p in d.params]
    for p in d.params:
        row = next(line for line in below.splitlines() if line.startswith(f"  {p.name} "))
        assert p.meaning and row.endswith(p.meaning) and "…" not in row
        after_table = below.split("\n\n", 1)[1] if "\n\n" in below else ""
        assert not re.search(f"``{p.name}(: [^`]*)?``:", after_table)
    assert text.count(d.summary) == 1


def test_step_reference_reads_shared_and_own_parameter_docs():
    d = {p.name: p for p in describe("fasttext_quality").params}
    assert d["dim"].default == "64" and "embedding" in d["dim"].meaning
    assert "best-scored" in d["keep_fraction"].meaning  # from winnow.curate.common.scoring
    assert d["seed"].default == "None"
    for name in BUILTIN_STEPS:  # every step describes itself
        doc = describe(name)
        assert doc.summary and doc.kind in ("Filter", "Mapper", "GlobalStep")


@pytest.mark.parametrize("name", sorted(BUILTIN_STEPS))
def test_every_parameter_of_a_builtin_step_has_a_meaning(name):
    """`winnow ls steps NAME` reads a meaning for every parameter: the docstring convention
    ````name````: *meaning* (winnow.curate.stepdoc) must cover each one."""
    missing = [p.name for p in describe(name).params if not p.meaning]
    assert not missing, (f"{name}: no meaning for {', '.join(missing)}; document each in the step's "
                         "docstring as ``name``: meaning (see winnow/curate/stepdoc.py)")


def test_ls_steps_unknown_name_suggests(capsys):
    assert main(["ls", "steps", "dsri"]) == 2
    assert "did you mean 'dsir'" in capsys.readouterr().err


@pytest.mark.parametrize("path", STEP_MODULES, ids=lambda p: p.name)
def test_no_step_module_imports_another_step_module(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            mod = node.module
            names = [a.name for a in node.names]
            assert not mod.startswith("winnow.curate.steps"), f"{path.name} imports {mod}"
            for n in names:
                assert not n.startswith("_") or n == "__future__", f"{path.name} imports {mod}.{n}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                assert not a.name.startswith("winnow.curate.steps"), f"{path.name} imports {a.name}"


def test_docs_steps_md_is_generated_from_the_registry(capsys):
    """docs/steps.md is `winnow ls steps --markdown` (linked from README.md and
    submissions/README.md); a step, parameter or meaning changed without regenerating it fails."""
    committed = (REPO_ROOT / "docs" / "steps.md").read_text(encoding="utf-8")
    assert committed == markdown(), ("docs/steps.md is stale: regenerate it with "
                                     "`winnow ls steps --markdown > docs/steps.md`")
    assert main(["ls", "steps", "--markdown"]) == 0
    assert capsys.readouterr().out == committed
    for name in BUILTIN_STEPS:
        assert f"\n## {name}\n" in committed and f"[`{name}`](#{name})" in committed
    assert "*needs* `meta.lang`" in committed and "*provides* `meta.lang`, `meta.lang_score`" in committed
    for readme in ("README.md", "submissions/README.md"):
        assert "docs/steps.md" in (REPO_ROOT / readme).read_text(encoding="utf-8")
    assert main(["ls", "scales", "--markdown"]) == 2
