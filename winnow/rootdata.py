"""The data root's files outside eval/ (tokenizer, banlists, reference table, pool): status and pull.

The table ``conf/data_root_files.json`` (versioned, in the repository) lists them by path under
``<data>/``, with the pinned upstream URL the data folder's SOURCE.md gives (mlfoundations/dclm at
one commit) and the sha256 / git blob id of the project's copy. Choices:

- A download goes through :func:`winnow.fetch.fetch`: verified (sha256 and git blob id) before an
  atomic rename, resumed when interrupted; a file already verified is skipped.
- ``url: null`` means no public upstream file exists (the embedded pool is assembled offline from
  many sources; the LDNOOBW list has no pinned commit in SOURCE.md): `status` says so and how to
  get it (the data release, ``winnow data pull --from URL``: winnow.release; a copy of a data root;
  or ``winnow data pull --mirror`` to a copy of a data root); `pull` fetches such a file only from
  a mirror, and never a folder entry (``pool/``).
- Evaluation files keep their own table and rules (winnow.eval.data).
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from winnow.fetch import FetchError, fetch, file_hashes
from winnow.paths import REPO_ROOT

TABLE_PATH = REPO_ROOT / "conf" / "data_root_files.json"


class RootDataError(FileNotFoundError):
    """A data-root file is missing, unverifiable, or could not be fetched."""


@dataclass(frozen=True)
class RootFile:
    path: str       # under <data>/
    status: str     # present, modified, missing, no-upstream (missing and no public upstream)
    detail: str


def load_table(path: Path | None = None) -> dict[str, dict]:
    return json.loads(Path(path or TABLE_PATH).read_text(encoding="utf-8"))["files"]


def _status(name: str, entry: dict, root: Path | None) -> RootFile:
    target = root / name if root else None
    if name.endswith("/"):  # a folder entry (the pool): present when the folder holds files
        if target is not None and target.is_dir() and any(target.iterdir()):
            return RootFile(name, "present", "folder present (verified by its own manifest when used)")
        return RootFile(name, "no-upstream", entry["how"])
    if target is None or not target.is_file():
        if entry.get("url"):
            return RootFile(name, "missing", f"fetch it with: winnow data pull (from {entry['url']})")
        return RootFile(name, "no-upstream", entry["how"])
    sha, blob = file_hashes(target)
    if sha == entry["sha256"] or blob == entry["git_blob"]:
        return RootFile(name, "present", f"verified (sha256 {sha[:12]})")
    return RootFile(name, "modified", f"matches neither sha256 {entry['sha256'][:12]} nor git blob "
                                      f"{entry['git_blob'][:12]}; replace it with: winnow data pull --force")


def status(root: Path | None, table: Path | None = None) -> list[RootFile]:
    return [_status(name, entry, root) for name, entry in load_table(table).items()]


def format_status(rows: list[RootFile]) -> str:
    width = max(len(r.path) for r in rows)
    lines = ["other data-root files:"]
    for r in rows:
        lines.append(f"  {r.status:<14}{r.path:<{width}}  {r.detail if r.status != 'present' else ''}".rstrip())
    return "\n".join(lines)


def pull(dest: Path, base_url: str | None = None, force: bool = False, table: Path | None = None,
         say: Callable[[str], None] | None = print, retries: int = 3) -> list[RootFile]:
    """Fetch every file of the table that has a source into ``<dest>/<path>``, verified."""
    say = say or (lambda _m: None)
    out, failed = [], []
    for name, entry in load_table(table).items():
        st = _status(name, entry, dest)
        if name.endswith("/") or (st.status == "present" and not force):
            out.append(st)
            if st.status != "present":
                say(f"{name}: not fetched: {st.detail}")
            continue
        url = (base_url.rstrip("/") + "/" + urllib.parse.quote(name)) if base_url else entry.get("url")
        if not url:
            say(f"{name}: not fetched: {st.detail}")
            out.append(st)
            continue
        try:
            got = fetch(url, dest / name, sha256=entry["sha256"], git_blob=entry["git_blob"],
                        size=entry.get("bytes"), reuse=False, retries=retries, progress=False)
        except FetchError as e:  # VerifyError too: nothing was written
            failed.append(f"{name}: {e}")
            continue
        say(f"{name}: downloaded from {url}: {got.size:,} bytes, verified (sha256 {got.sha256[:12]})")
        out.append(RootFile(name, "present", "downloaded"))
    if failed:
        raise RootDataError(f"{len(failed)} data-root file(s) could not be fetched:\n"
                            + "\n".join(f"  - {m}" for m in failed))
    return out
