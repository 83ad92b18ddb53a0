"""`winnow data pull` / `data status` for the data root's files outside eval/ (issue 20 item 5):
the tokenizer, banlists and reference table from their pinned upstream (served here by a local
HTTP server: nothing is downloaded), sha256-checked; files without a public upstream say so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.test_fetch import HTTPFixtureServer

from winnow import rootdata
from winnow.paths import DataRootError, data_root

try:
    DATA = data_root()
except DataRootError:  # pragma: no cover
    pytest.skip("no data root", allow_module_level=True)

TABLE = rootdata.load_table()
SMALL = [n for n, e in TABLE.items() if e.get("url") and e["bytes"] < 100_000]  # the banlists


def _table_with_local_urls(tmp_path: Path, base: str) -> Path:
    """The committed table with each upstream URL moved to the local server (same path)."""
    table = json.loads(rootdata.TABLE_PATH.read_text())
    for name, entry in table["files"].items():
        if entry.get("url"):
            entry["url"] = f"{base}/{entry['url'].split('://', 1)[1]}"
    out = tmp_path / "table.json"
    out.write_text(json.dumps(table))
    return out


def test_table_matches_the_project_data_folder():
    for row in rootdata.status(DATA):
        assert row.status == "present", row
    assert {n for n, e in TABLE.items() if not e.get("url")} == {"banlists/ldnoobw.txt", "pool/"}
    for name, entry in TABLE.items():
        if entry.get("url"):
            assert entry["url"].startswith("https://raw.githubusercontent.com/mlfoundations/dclm/361714b")


def test_pull_fetches_verifies_and_says_what_has_no_upstream(tmp_path):
    served = {f"raw.githubusercontent.com/{e['url'].split('raw.githubusercontent.com/', 1)[1]}":
              (DATA / n).read_bytes() for n, e in TABLE.items() if n in SMALL}
    with HTTPFixtureServer(served) as server:
        table = _table_with_local_urls(tmp_path, server.url)
        dest = tmp_path / "data"
        said: list[str] = []
        # only the small files are served: the others fail with a clear error, after the rest landed
        with pytest.raises(rootdata.RootDataError, match="could not be fetched"):
            rootdata.pull(dest, table=table, say=said.append, retries=0)
        for name in SMALL:
            assert (dest / name).read_bytes() == (DATA / name).read_bytes()
        rows = {r.path: r for r in rootdata.status(dest, table=table)}
        assert rows["pool/"].status == "no-upstream" and "no single upstream file" in rows["pool/"].detail
        assert rows["banlists/ldnoobw.txt"].status == "no-upstream"
        assert any(m.startswith("pool/: not fetched") for m in said)
        # a file that does not verify is refused and nothing is written
        bad = dict(served)
        key = next(iter(bad))
        bad[key] = b"not the banlist\n"
    with HTTPFixtureServer(bad) as server:
        table = _table_with_local_urls(tmp_path, server.url)
        with pytest.raises(rootdata.RootDataError, match="could not be fetched"):
            rootdata.pull(tmp_path / "other", table=table, say=None, retries=0)
        assert not (tmp_path / "other" / SMALL[0]).exists()
        assert (tmp_path / "other" / SMALL[1]).read_bytes() == (DATA / SMALL[1]).read_bytes()


def test_pull_from_a_mirror_of_a_data_root(tmp_path):
    """--mirror: a copy of a whole data root (here file:// to the project's), ldnoobw included."""
    dest = tmp_path / "data"
    rootdata.pull(dest, base_url=DATA.as_uri(), say=None)
    for name, entry in TABLE.items():
        if not name.endswith("/"):
            assert (dest / name).read_bytes() == (DATA / name).read_bytes(), name
    assert [r.status for r in rootdata.status(dest) if r.path != "pool/"] == ["present"] * (len(TABLE) - 1)
