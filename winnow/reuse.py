"""Reuse of a finished stage output that another run folder computed under the same input key.

A stage's input key (``winnow.run``) names everything its output depends on, so two runs whose
tokenize or train stage has the same key compute the same bytes. That happens whenever a scale
version changes only how runs are evaluated or ranked (a new aggregate as the primary metric, a
new suite version), when a noise-study run's overrides equal an official run's settings, or when
a run folder is made again under a new name. Training is the costly stage (20+ CPU-minutes at
tiny-1x), so before computing, ``winnow run`` looks for a finished folder of the same stage and
key among the other run folders of ``$WINNOW_HOME/runs`` and adopts it.

Notable choices:

* Hard links, not a symlink or a store: the run folder stays self-contained (removing the other
  run leaves it whole) and every reader of ``<run>/train`` works unchanged; files are written
  once and replaced by rename, never modified in place, so sharing inodes is safe. Where a hard
  link is impossible (another file system) the file is copied.
* The source must be intact (``winnow.manifest.damaged``), and the copy is assembled under a
  temporary name with the manifest copied last, then renamed into place: a kill leaves either
  no adopted folder or a complete one, never a manifest over missing files.
* Resumable work is not adopted (``checkpoints/``): the result is finished, and the other run's
  checkpoints stay its own.
* Only a single-process launch adopts: under torchrun every rank enters the train stage, and
  one rank returning early would leave the others waiting in a collective.
* The log says which run's output was reused and why it is the same (the key), so a reuse is
  never silent (as for the curated store, ``winnow.curate.store``).
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path

from winnow.manifest import MANIFEST, Manifest, damaged, read_manifest

log = logging.getLogger(__name__)

NOT_ADOPTED = ("checkpoints",)  # resumable work of the other run: not part of its finished output


def find_finished(runs_root: Path, folder_name: str, key: str, exclude: Path) -> tuple[Path, Manifest] | None:
    """The first run folder under ``runs_root`` (sorted by name, ``exclude`` skipped) whose
    ``folder_name`` stage finished under ``key`` and is intact, with its manifest; else None."""
    if not runs_root.is_dir():
        return None
    for run_dir in sorted(runs_root.iterdir()):
        if run_dir == exclude or not run_dir.is_dir():
            continue
        src = run_dir / folder_name
        try:
            m = read_manifest(src)
        except (OSError, ValueError):   # unreadable or not a manifest (ManifestError): not a candidate
            continue
        if m is not None and m.input_key == key and not damaged(src, m):
            return src, m
    return None


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def adopt(stage: str, out: Path, key: str, runs_root: Path, world_size: int = 1) -> Manifest | None:
    """Make ``out`` (a run's ``stage`` folder) a copy of a finished folder of the same stage and
    input ``key`` from another run under ``runs_root``; its manifest, or None when there is none
    (or under a multi-process launch). Whatever ``out`` held (a partial attempt) is replaced."""
    if world_size > 1:
        return None
    found = find_finished(runs_root, out.name, key, exclude=out.parent)
    if found is None:
        return None
    src, m = found
    tmp = out.parent / f".{out.name}.adopt-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copytree(src, tmp, copy_function=_link_or_copy, symlinks=True,
                        ignore=shutil.ignore_patterns(*NOT_ADOPTED, MANIFEST, ".*"))
        _link_or_copy(str(src / MANIFEST), str(tmp / MANIFEST))   # the manifest last
        if out.is_symlink() or out.is_file():
            out.unlink()
        elif out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("%s: reusing the finished output of run %s (same input key %s), content id %s",
             stage, src.parent.name, key[:8], m.short)
    return m
