"""Submissions: a folder holding ``recipe.yaml``, named ``<folder>/<name>`` (DESIGN.md Contracts).

``baselines/random`` and ``submissions/random`` never collide because the parent folder is part
of the name. Paths are resolved against the current directory, then the checkout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from winnow.paths import REPO_ROOT


class SubmissionError(ValueError):
    pass


@dataclass
class Submission:
    name: str          # e.g. "baselines/random"
    folder: Path
    recipe: object     # winnow.curate.recipe.Recipe

    @property
    def slug(self) -> str:
        return self.name.replace("/", "-")

    @property
    def fingerprint(self) -> str:
        return self.recipe.fingerprint()


def resolve_folder(ref: str | Path) -> Path:
    for base in (Path.cwd(), REPO_ROOT):
        p = (base / ref).resolve()
        if p.is_file() and p.suffix in (".yaml", ".yml"):
            p = p.parent
        if (p / "recipe.yaml").is_file():
            return p
    raise SubmissionError(
        f"submission {str(ref)!r}: no recipe.yaml found in {Path.cwd() / ref} or {REPO_ROOT / ref}; "
        "a submission is a folder with recipe.yaml (copy submissions/template to start one)")


def load_submission(ref: str | Path, allow_code: bool = False) -> Submission:
    from winnow.curate.recipe import load_recipe

    folder = resolve_folder(ref)
    name = f"{folder.parent.name}/{folder.name}"
    return Submission(name=name, folder=folder, recipe=load_recipe(folder / "recipe.yaml",
                                                                   allow_code=allow_code))
