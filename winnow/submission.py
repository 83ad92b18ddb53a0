"""Submissions: a folder holding ``recipe.yaml``, named ``<folder>/<name>`` (submissions/README.md),
or a plain id file (one pool document id a line), named ``<its folder>/<file stem>``.

``baselines/random`` and ``submissions/random`` never collide because the parent folder is part
of the name. Paths are resolved against the current directory, then the checkout. A ``file://``
URL is its local path; any other URL (s3://, gs://, hf://, memory://, ...) is copied through fsspec
into a content-addressed local cache first (winnow.remote), then used like a local folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from winnow.curate.recipe import is_id_list, load_recipe
from winnow.paths import REPO_ROOT, is_url, local_path
from winnow.remote import copy_submission


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


def resolve_recipe(ref: str | Path) -> Path:
    """The recipe file a submission reference names: ``<folder>/recipe.yaml`` for a folder (or a
    .yaml file in it), or the file itself for a plain id file (``winnow.curate.recipe.is_id_list``)."""
    if is_url(ref):
        ref = local_path(ref) or copy_submission(str(ref))
    looked: list[str] = []
    for base in (Path.cwd(), REPO_ROOT):
        p = (base / ref).resolve()
        if is_id_list(p):
            return p
        if p.is_file() and p.suffix in (".yaml", ".yml"):
            p = p.parent
        if (p / "recipe.yaml").is_file():
            return p / "recipe.yaml"
        if str(p) not in looked:
            looked.append(str(p))
    raise SubmissionError(
        f"submission {str(ref)!r}: no recipe.yaml found in {' or '.join(looked)}; a submission is a "
        "folder with recipe.yaml (copy submissions/template to start one) or a plain id file "
        "(one pool document id a line, sorted; `winnow pool ids --scale S --out FILE` lists them)")


def resolve_folder(ref: str | Path) -> Path:
    """The folder of a submission reference (the id file's folder for an id file)."""
    return resolve_recipe(ref).parent


def load_submission(ref: str | Path, allow_code: bool = False) -> Submission:
    path = resolve_recipe(ref)
    folder = path.parent
    # a folder submission is <parent>/<folder>; an id file is <its folder>/<file stem>
    name = f"{folder.name}/{path.stem}" if is_id_list(path) else f"{folder.parent.name}/{folder.name}"
    return Submission(name=name, folder=folder, recipe=load_recipe(path, allow_code=allow_code))
