"""Documents that winnow's docstrings and messages point to exist in the repository (issue 22).

Module docstrings cited a DESIGN.md, and one a DEVELOPERS.md, that were never in the
repository, so a reader following them (``help()`` on a plugin base class does) found nothing.
Every ``*.md`` path named in ``winnow/`` must be a file of the checkout, except the data root's
own ``SOURCE.md`` files (named as the data folder's); a section cited as ``README "Title"`` or
``submissions/README.md, "Title"`` must be a heading (or a bold paragraph label) of that file.
"""

from __future__ import annotations

import re

from tests.helpers import REPO

WINNOW = REPO / "winnow"
DATA_ROOT_DOCS = {"SOURCE.md", "eval/SOURCE.md", "pool/SOURCE.md"}   # files of the data root, not the repo
MD = re.compile(r"(?<![\w/<>.-])((?:\.\./)?[\w./-]*\w\.md)\b")
SECTION = re.compile(r'(?<![\w/.-])((?:[\w-]+/)*README(?:\.md)?)\s*,?\s*\(?"([A-Z][^"\n]+)"')


def _sources():
    for path in sorted(WINNOW.rglob("*.py")):
        yield path, path.read_text(encoding="utf-8")


def test_every_markdown_file_named_in_winnow_exists():
    missing = []
    for path, text in _sources():
        for m in MD.finditer(text):
            name = m.group(1)
            if name in DATA_ROOT_DOCS:
                continue
            target = (path.parent / name) if name.startswith("../") else REPO / name.lstrip("/")
            if name.startswith("../"):   # a link written into a generated page under docs/
                target = REPO / "docs" / name
            if not target.resolve().is_file():
                line = text.count("\n", 0, m.start()) + 1
                missing.append(f"{path.relative_to(REPO)}:{line}: {name}")
    assert not missing, "documents named but not in the repository:\n" + "\n".join(missing)


def _headings(md: str) -> set[str]:
    """A file's headings and its bold paragraph labels (``**Deviations.**``)."""
    text = (REPO / md).read_text(encoding="utf-8")
    return ({h.strip() for h in re.findall(r"^#+\s+(.+)$", text, re.M)}
            | {h.strip().rstrip(".:") for h in re.findall(r"^\*\*([^*\n]+)\*\*", text, re.M)})


def test_cited_sections_are_headings_of_their_file():
    wrong = []
    for path, text in _sources():
        for m in SECTION.finditer(text):
            md = m.group(1) if m.group(1).endswith(".md") else m.group(1) + ".md"
            title = " ".join(m.group(2).split())
            heads = _headings(md)
            if not any(h == title or re.sub(r"^\d+\.\s*", "", h).startswith(title) for h in heads):
                wrong.append(f"{path.relative_to(REPO)}: {md} has no section {title!r}")
    assert not wrong, "\n".join(wrong)


def test_readme_says_how_to_reach_the_installed_winnow():
    """``make install`` puts winnow in the Makefile's virtual environment; the README's commands
    are that environment's, so it says how to activate it (a new participant had to guess)."""
    venv = re.search(r"^VENV\s*:=\s*(\S+)$", (REPO / "Makefile").read_text(), re.M).group(1)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert f"source {venv}/bin/activate" in quickstart and f"{venv}/bin/winnow" in quickstart


def test_the_template_tries_a_submission_at_debug_before_any_submit():
    """The template's first run is the debug scale, whose rows never touch the checkout; it does
    not send a first try to the repository's leaderboard with --submit."""
    text = (REPO / "submissions" / "template" / "README.md").read_text(encoding="utf-8")
    runs = [line for line in text.splitlines() if line.startswith("winnow run ")]
    assert runs and "scale=debug" in runs[0] and not any("--submit" in r.split("#")[0] for r in runs)
