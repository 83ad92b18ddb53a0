"""Evaluation data: file status, `winnow data pull` (verify, skip, resume, refuse bad bytes), GPQA derivation.

Most tests use small made-up files and a made-up table passed as an argument, so they need no real
data; the tests of the real table and of GPQA run against the project's data root when it is there
and are skipped with the reason otherwise.
"""

from __future__ import annotations

import collections
import hashlib
import json
import random
import subprocess
from pathlib import Path

import pytest

from tests.test_fetch import HTTPFixtureServer
from winnow import fetch as F
from winnow.eval import data as D
from winnow.paths import DataRootError, data_root

UPSTREAM = {
    "cat/exact.jsonl": b'{"query": "q1", "choices": ["a", "b"], "gold": 0}\n' * 50,
    "cat/recon.jsonl": b'{"context": "upstream bytes", "continuation": "x"}\n' * 40,
    "other/nocopy.jsonl": b'{"context": "only upstream has me", "continuation": "y"}\n' * 30,
}
RECONSTRUCTION = b'{"context": "rebuilt bytes!!", "continuation": "x"}\n' * 40


def blob(b: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(b) + b).hexdigest()


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def upstream(tmp_path) -> Path:
    """A local mirror laid out like <data>/eval/."""
    base = tmp_path / "upstream"
    for name, content in UPSTREAM.items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_bytes(content)
    return base


@pytest.fixture
def table(upstream) -> dict:
    def url(name):
        return (upstream / name).as_uri()

    return {"files": {
        "cat/exact.jsonl": {"url": url("cat/exact.jsonl"), "git_blob": blob(UPSTREAM["cat/exact.jsonl"]),
                            "sha256": sha(UPSTREAM["cat/exact.jsonl"]), "bytes": len(UPSTREAM["cat/exact.jsonl"]),
                            "rows": 50, "status": "exact", "tasks": ["exact_task"]},
        "cat/recon.jsonl": {"url": url("cat/recon.jsonl"), "git_blob": blob(UPSTREAM["cat/recon.jsonl"]),
                            "sha256": sha(RECONSTRUCTION), "bytes": len(RECONSTRUCTION), "rows": 40,
                            "status": "reconstructed", "tasks": ["recon_task", "recon_zeroshot"]},
        "other/nocopy.jsonl": {"url": url("other/nocopy.jsonl"), "git_blob": blob(UPSTREAM["other/nocopy.jsonl"]),
                               "sha256": None, "bytes": None, "rows": 30, "status": "missing",
                               "tasks": ["nocopy_task"]},
    }}


@pytest.fixture
def root(tmp_path) -> Path:
    """A data root holding the exact file, the reconstruction, and not the third file."""
    r = tmp_path / "data"
    (r / "eval" / "cat").mkdir(parents=True)
    (r / "eval" / "cat" / "exact.jsonl").write_bytes(UPSTREAM["cat/exact.jsonl"])
    (r / "eval" / "cat" / "recon.jsonl").write_bytes(RECONSTRUCTION)
    return r


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and p.name.startswith("."))


# ------------------------------------------------------------------------------------ hashing
def test_git_blob_id_matches_git_hash_object(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_bytes(b'{"a": "caf\xc3\xa9"}\n' * 1000 + b"no trailing newline")
    want = subprocess.run(["git", "hash-object", str(f)], capture_output=True, text=True, check=True).stdout.strip()
    assert D.git_blob_id(f) == want
    assert F.git_blob_id_bytes(f.read_bytes()) == want
    assert F.git_blob_id_bytes(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's empty blob


# ------------------------------------------------------------------------------------- status
def test_status_of_present_reconstructed_missing(root, table):
    got = {s.path: s for s in D.data_status(root=root, table=table)}
    assert got["cat/exact.jsonl"].status == "present"
    assert got["cat/recon.jsonl"].status == "reconstructed"
    assert got["other/nocopy.jsonl"].status == "missing"
    assert "winnow data pull --only other/nocopy.jsonl" in got["other/nocopy.jsonl"].detail
    assert D.file_status("cat/exact.jsonl", root=root, table=table).git_blob == blob(UPSTREAM["cat/exact.jsonl"])


def test_modified_file_is_reported_with_expected_and_got(root, table):
    f = root / "eval" / "cat" / "exact.jsonl"
    f.write_bytes(f.read_bytes() + b"\n")
    s = D.file_status("cat/exact.jsonl", root=root, table=table)
    assert s.status == "modified"
    assert blob(UPSTREAM["cat/exact.jsonl"])[:12] in s.detail and s.git_blob[:12] in s.detail
    assert "--force" in s.detail
    # a reconstruction entry: a file matching neither the reconstruction nor upstream is modified too
    (root / "eval" / "cat" / "recon.jsonl").write_bytes(b"{}\n")
    assert D.file_status("cat/recon.jsonl", root=root, table=table).status == "modified"


def test_upstream_bytes_make_a_reconstructed_or_missing_entry_present(root, table):
    (root / "eval" / "cat" / "recon.jsonl").write_bytes(UPSTREAM["cat/recon.jsonl"])
    (root / "eval" / "other").mkdir()
    (root / "eval" / "other" / "nocopy.jsonl").write_bytes(UPSTREAM["other/nocopy.jsonl"])
    assert {s.status for s in D.data_status(root=root, table=table)} == {"present"}


def test_task_data_status_is_the_worst_of_its_files(root, table):
    assert D.task_data_status(["cat/exact.jsonl"], root=root, table=table) == "present"
    assert D.task_data_status(["cat/exact.jsonl", "cat/recon.jsonl"], root=root, table=table) == "reconstructed"
    assert D.task_data_status(["cat/recon.jsonl", "other/nocopy.jsonl"], root=root, table=table) == "missing"
    (root / "eval" / "cat" / "exact.jsonl").write_bytes(b"changed\n")
    assert D.task_data_status(["cat/exact.jsonl", "cat/recon.jsonl"], root=root, table=table) == "modified"
    assert D.worst_status(["present", "modified", "missing"]) == "missing"
    with pytest.raises(D.EvalDataError, match="not an evaluation data file.*cat/exact.jsonl"):
        D.task_data_status(["cat/exakt.jsonl"], root=root, table=table)


def test_files_for_task_accepts_dclm_prefix(table):
    assert D.files_for_task("dclm_recon_zeroshot", table=table) == ["cat/recon.jsonl"]
    assert D.files_for_task("nocopy_task", table=table) == ["other/nocopy.jsonl"]
    with pytest.raises(D.EvalDataError, match="no_such_task"):
        D.files_for_task("no_such_task", table=table)


@pytest.mark.parametrize("change,needle", [
    (lambda e: e.pop("git_blob"), "'git_blob' is required"),
    (lambda e: e.update(status="fine"), "status 'fine' is not one of"),
    (lambda e: e.update(sha256=None), "needs the sha256"),
])
def test_bad_table_entries_are_named(table, change, needle):
    change(table["files"]["cat/exact.jsonl"])
    with pytest.raises(D.EvalDataError, match=needle) as e:
        D.load_table(table)
    assert "cat/exact.jsonl" in str(e.value)


def test_bad_table_file_is_named(tmp_path):
    p = tmp_path / "t.json"
    p.write_text("{not json")
    with pytest.raises(D.EvalDataError, match=f"{p}.*not valid JSON"):
        D.load_table(p)


# --------------------------------------------------------------------------------------- pull
def test_pull_from_local_base_dir(tmp_path, upstream, table):
    dest = tmp_path / "dest"
    lines: list[str] = []
    results = D.pull(dest=dest, base_url=str(upstream), table=table, progress=lines.append)
    assert [r.action for r in results] == ["downloaded"] * 3
    for name, content in UPSTREAM.items():
        assert (dest / "eval" / name).read_bytes() == content
    assert {s.status for s in D.data_status(root=dest, table=table)} == {"present"}
    assert sum(f"{name}: downloaded from" in line for line in lines for name in UPSTREAM) == 3
    assert leftovers(dest) == []


def test_pull_uses_the_table_urls_by_default(tmp_path, table):
    dest = tmp_path / "dest"
    D.pull(dest=dest, files=["other/nocopy.jsonl"], table=table, progress=None)  # file:// URLs in the table
    assert D.file_status("other/nocopy.jsonl", root=dest, table=table).status == "present"
    assert not (dest / "eval" / "cat").exists()


def test_pull_refuses_bytes_that_do_not_verify_and_leaves_nothing(tmp_path, upstream, table):
    (upstream / "cat" / "exact.jsonl").write_bytes(b"tampered\n")
    dest = tmp_path / "dest"
    with pytest.raises(D.EvalDataError) as e:
        D.pull(dest=dest, base_url=upstream.as_uri(), table=table, progress=None)
    msg = str(e.value)
    assert "1 of 3" in msg and "cat/exact.jsonl" in msg
    assert blob(UPSTREAM["cat/exact.jsonl"]) in msg and blob(b"tampered\n") in msg  # expected and got
    assert "Nothing was written" in msg
    assert not (dest / "eval" / "cat" / "exact.jsonl").exists()
    assert leftovers(dest) == []
    # the other files were still fetched
    assert (dest / "eval" / "cat" / "recon.jsonl").read_bytes() == UPSTREAM["cat/recon.jsonl"]


def test_pull_skips_verified_files(tmp_path, upstream, table, root):
    exact = root / "eval" / "cat" / "exact.jsonl"
    before = exact.stat().st_mtime_ns
    lines: list[str] = []
    results = {r.path: r for r in D.pull(dest=root, base_url=str(upstream), table=table, progress=lines.append)}
    assert results["cat/exact.jsonl"].action == "skipped" and exact.stat().st_mtime_ns == before
    assert any("cat/exact.jsonl: already verified" in line and "skipped" in line for line in lines)
    # the accepted reconstruction is kept, the missing file fetched
    assert results["cat/recon.jsonl"].action == "skipped"
    assert any("cat/recon.jsonl" in line and "--force fetches the upstream file" in line for line in lines)
    assert results["other/nocopy.jsonl"].action == "downloaded"
    again = D.pull(dest=root, base_url=str(upstream), table=table, progress=None)
    assert [r.action for r in again] == ["skipped"] * 3 and sum(r.bytes for r in again) == 0
    forced = D.pull(dest=root, files=["cat/exact.jsonl", "cat/recon.jsonl"], base_url=str(upstream),
                    table=table, force=True, progress=None)
    assert [r.action for r in forced] == ["downloaded"] * 2
    assert forced[0].bytes == len(UPSTREAM["cat/exact.jsonl"])
    assert D.file_status("cat/recon.jsonl", root=root, table=table).status == "present"  # upstream now


def test_pull_accepts_the_reconstruction_from_a_mirror(tmp_path, upstream, table):
    (upstream / "cat" / "recon.jsonl").write_bytes(RECONSTRUCTION)  # a mirror of the project's data
    dest = tmp_path / "dest"
    r = D.pull(dest=dest, files=["cat/recon.jsonl"], base_url=str(upstream), table=table, progress=None)
    assert r[0].action == "downloaded" and "reconstruction" in r[0].detail
    assert D.file_status("cat/recon.jsonl", root=dest, table=table).status == "reconstructed"
    (upstream / "cat" / "recon.jsonl").write_bytes(b"neither\n")
    with pytest.raises(D.EvalDataError, match="or the project's reconstruction"):
        D.pull(dest=dest, files=["cat/recon.jsonl"], base_url=str(upstream), table=table, force=True,
               progress=None)
    assert D.file_status("cat/recon.jsonl", root=dest, table=table).status == "reconstructed"  # untouched


def test_pull_keeps_a_modified_file_unless_forced(upstream, table, root):
    exact = root / "eval" / "cat" / "exact.jsonl"
    exact.write_bytes(b"my local edit\n")
    r = D.pull(dest=root, files=["cat/exact.jsonl"], base_url=str(upstream), table=table, progress=None)
    assert r[0].action == "kept-modified" and exact.read_bytes() == b"my local edit\n"
    r = D.pull(dest=root, files=["cat/exact.jsonl"], base_url=str(upstream), table=table, force=True,
               progress=None)
    assert r[0].action == "downloaded" and exact.read_bytes() == UPSTREAM["cat/exact.jsonl"]


def test_pull_resumes_a_partial_download(tmp_path, upstream, table):
    name, content = "cat/exact.jsonl", UPSTREAM["cat/exact.jsonl"]
    dest = tmp_path / "dest"
    part = dest / "eval" / "cat" / ".exact.jsonl.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(content[:1000])
    r = D.pull(dest=dest, files=[name], base_url=str(upstream), table=table, progress=None)
    assert r[0].action == "downloaded" and r[0].bytes == len(content) - 1000
    assert "resumed at byte 1,000" in r[0].detail
    assert (dest / "eval" / name).read_bytes() == content and not part.exists()


def test_pull_restarts_when_the_partial_download_is_corrupt(tmp_path, upstream, table):
    name, content = "other/nocopy.jsonl", UPSTREAM["other/nocopy.jsonl"]
    dest = tmp_path / "dest"
    part = dest / "eval" / "other" / ".nocopy.jsonl.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"X" * 100)  # not a prefix of the file
    r = D.pull(dest=dest, files=[name], base_url=str(upstream), table=table, progress=None)
    assert r[0].action == "downloaded" and (dest / "eval" / name).read_bytes() == content
    assert leftovers(dest) == []


def test_pull_names_unknown_files_before_downloading(tmp_path, upstream, table):
    with pytest.raises(D.EvalDataError, match="Did you mean cat/exact.jsonl"):
        D.pull(dest=tmp_path / "d", files=["cat/exact.json"], base_url=str(upstream), table=table, progress=None)
    assert not (tmp_path / "d").exists()


def test_pull_reports_a_source_without_the_file(tmp_path, table):
    with pytest.raises(D.EvalDataError, match="no such file"):
        D.pull(dest=tmp_path / "d", files=["cat/exact.jsonl"], base_url=str(tmp_path / "empty"),
               table=table, progress=None)


@pytest.mark.parametrize("ranges", [True, False], ids=["server-supports-range", "server-ignores-range"])
def test_pull_over_http_resumes_or_restarts(tmp_path, table, ranges):
    name, content = "cat/exact.jsonl", UPSTREAM["cat/exact.jsonl"]
    dest = tmp_path / "dest"
    part = dest / "eval" / "cat" / ".exact.jsonl.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(content[:700])
    with HTTPFixtureServer(UPSTREAM, ranges=ranges) as server:
        r = D.pull(dest=dest, files=[name], base_url=server.url + "/", table=table, progress=None)
        assert server.ranges_seen == ["bytes=700-"]
        with pytest.raises(D.EvalDataError, match="HTTP 404"):
            D.pull(dest=dest, files=["other/nocopy.jsonl"], base_url=server.url + "/nothing-here",
                   table=table, progress=None)
    assert r[0].bytes == (len(content) - 700 if ranges else len(content))
    assert (dest / "eval" / name).read_bytes() == content and leftovers(dest) == []


def test_pull_over_http_resumes_after_the_connection_drops(tmp_path, table, monkeypatch):
    monkeypatch.setattr(F, "RETRY_WAIT_S", 0.0)
    name, content = "cat/exact.jsonl", UPSTREAM["cat/exact.jsonl"]
    dest = tmp_path / "dest"
    with HTTPFixtureServer(UPSTREAM, ranges=True, cut_first_at=1234) as server:
        r = D.pull(dest=dest, files=[name], base_url=server.url, table=table, progress=None)
    assert server.ranges_seen == [None, "bytes=1234-"]
    assert r[0].bytes == len(content) and (dest / "eval" / name).read_bytes() == content
    assert leftovers(dest) == []


def test_default_dest_prefers_winnow_data(monkeypatch, tmp_path):
    monkeypatch.setenv("WINNOW_DATA", str(tmp_path / "mine"))
    assert D.default_dest() == tmp_path / "mine"
    monkeypatch.delenv("WINNOW_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert D.default_dest() == tmp_path / "home" / ".cache" / "winnow" / "data"


# ------------------------------------------------------------------------------------- GPQA
def test_gpqa_records_follow_dclm_conversion():
    header = "Question,Correct Answer,Incorrect Answer 1,Incorrect Answer 2,Incorrect Answer 3,Extra\n"
    body = ('"  What is 1+1?\nThink. ",2,3,4,5,x\n'
            "\n"                                     # blank lines are skipped (pandas default)
            'Q2,"a, b",NA,c,d,y\n'                   # NA cells become NaN -> "nan" (numpy str array)
            "Q3 \u00e9,right,w1,w2,w3,z\n")
    recs = D.gpqa_records((header + body).encode("utf-8"))
    rng = random.Random(42)
    want_orders = []
    for _ in range(3):
        idx = list(range(4))
        rng.shuffle(idx)
        want_orders.append(idx)
    originals = [["2", "3", "4", "5"], ["a, b", "nan", "c", "d"], ["right", "w1", "w2", "w3"]]
    assert [r["query"] for r in recs] == ["  What is 1+1?\nThink. ", "Q2", "Q3 \u00e9"]  # not stripped, no prefix
    for r, idx, orig in zip(recs, want_orders, originals):
        assert list(r) == ["query", "choices", "gold"]
        assert r["choices"] == [orig[i] for i in idx]
        assert r["choices"][r["gold"]] == orig[0]
    with pytest.raises(D.EvalDataError, match="columns .*Question"):
        D.gpqa_records(b"a,b\n1,2\n", "x.csv")


def _real_root() -> Path:
    try:
        r = data_root()
    except DataRootError as e:
        pytest.skip(f"no data root ({str(e).splitlines()[0]})")
    if not (r / "eval").is_dir():
        pytest.skip(f"data root {r} has no eval/ folder")
    return r


def _real_gpqa_zip() -> Path:
    z = _real_root() / "eval" / D.GPQA_ZIP
    if not z.is_file():
        pytest.skip(f"{z} is not in the data root (fetch it with: winnow data pull --only {D.GPQA_ZIP})")
    return z


@pytest.mark.parametrize("variant,rows", [("main", 448), ("diamond", 198)])
def test_gpqa_jsonl_from_the_real_archive(variant, rows):
    _real_gpqa_zip()
    path = D.gpqa_jsonl(variant)
    first = path.read_bytes()
    assert path.parent.parent.name == "gpqa" and path.parent.parent.parent.name == "eval_derived"
    records = [json.loads(line) for line in first.decode("ascii").splitlines()]  # json.dumps default: ASCII
    assert len(records) == rows
    golds = collections.Counter(r["gold"] for r in records)
    assert set(golds) == {0, 1, 2, 3} and max(golds.values()) < 0.4 * rows, golds
    assert all(len(r["choices"]) == 4 and isinstance(r["query"], str) and r["query"] for r in records)
    # deterministic: derived again from scratch, the bytes are identical
    path.unlink()
    assert D.gpqa_jsonl(variant).read_bytes() == first


def test_gpqa_matches_a_pandas_reading_of_the_csv():
    """DCLM reads the CSV with pandas and numpy; the csv-module reading must give the same records."""
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    import io
    import zipfile

    z = _real_gpqa_zip()
    raw = zipfile.ZipFile(z).read("dataset/gpqa_diamond.csv", pwd=D.GPQA_PASSWORD)
    df = pd.read_csv(io.BytesIO(raw))
    rng = random.Random(42)
    want = []
    for i in range(df.shape[0]):
        opts = np.array([df[c][i] for c in ("Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
                                            "Incorrect Answer 3")])
        idx = list(range(4))
        rng.shuffle(idx)
        want.append(json.dumps({"query": df["Question"][i], "choices": opts[idx].tolist(),
                                "gold": idx.index(0)}) + "\n")
    assert D.gpqa_jsonl("diamond").read_text(encoding="ascii") == "".join(want)


def test_gpqa_unknown_variant_and_missing_zip(tmp_path):
    with pytest.raises(D.EvalDataError, match="variant 'experts'"):
        D.gpqa_jsonl("experts", root=tmp_path)
    with pytest.raises(D.EvalDataError, match="winnow data pull --only gpqa/dataset.zip"):
        D.gpqa_jsonl("main", root=tmp_path)


# --------------------------------------------------------------------------------- real table
def test_real_table_is_complete_and_pinned():
    files = D.load_table()
    assert len(files) == 50 and sum(len(e["tasks"]) for e in files.values()) == 53
    assert collections.Counter(e["status"] for e in files.values()) == {"exact": 46, "reconstructed": 2,
                                                                          "missing": 2}
    for name, e in files.items():
        commit = ("361714bdd60bb9b7f4b2d8354cebbf0dec0c329e" if name == D.GPQA_ZIP
                  else "8c8dd48f72168c5d51e2f7b151595892a8fba43d")
        assert e["url"].startswith("https://raw.githubusercontent.com/") and f"/{commit}/" in e["url"]
        assert e["url"].endswith("/" + name.split("/")[-1]) and len(e["git_blob"]) == 40
    assert D.files_for_task("dclm_hellaswag") == ["language_understanding/hellaswag.jsonl"]
    assert D.files_for_task("gpqa_diamond") == [D.GPQA_ZIP]


def test_every_real_file_present_verifies():
    r = _real_root()
    files = D.load_table()
    checked = 0
    for s in D.data_status(root=r):
        if s.file is None or not s.file.exists():
            continue
        want = {"exact": "present", "reconstructed": "reconstructed", "missing": "present"}[files[s.path]["status"]]
        assert s.status == want, f"{s.path}: {s.detail}"
        rows = files[s.path]["rows"]
        if rows is not None:
            with open(s.file, "rb") as f:
                assert sum(1 for _ in f) == rows, s.path
        checked += 1
    if not checked:
        pytest.skip(f"no file of the table is in {r}/eval")


# ---------------------------------------------------------------------------------------- CLI
def test_cli_data_pull_and_status(tmp_path, capsys):
    from winnow.cli import main

    src = _real_root() / "eval"
    name = "commonsense_reasoning/copa.jsonl"
    if not (src / name).is_file():
        pytest.skip(f"{src / name} is not in the data root")
    dest = tmp_path / "dest"
    assert main(["data", "pull", "--dest", str(dest), "--only", name, "--base-url", str(src)]) == 0
    out = capsys.readouterr().out
    assert f"{name}: downloaded from" in out and "verified" in out
    assert main(["data", "status", "--root", str(dest)]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:2] == ["present", name] for line in out.splitlines())
    assert "1 present" in out and "49 missing" in out
    assert main(["data", "pull", "--dest", str(dest), "--only", "copa.jsonl"]) == 2
    assert "is not an evaluation data file" in capsys.readouterr().err
