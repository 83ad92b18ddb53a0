"""winnow.fetch: one download-verify-cache function for every fetcher.

Downloads run against a local HTTP server (with or without Range support, dropping a
connection, failing with 5xx first), ``file://`` URLs, plain paths and fsspec's memory://.
"""

from __future__ import annotations

import hashlib
import http.server
import threading

import fsspec
import pytest

from winnow import fetch as F

CONTENT = b"".join(b"line %05d of the remote file\n" % i for i in range(400))


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def blob(b: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(b) + b).hexdigest()


class HTTPFixtureServer:
    """A local HTTP server for ``files``, with or without Range support; records Range headers.

    ``cut_first_at``: the first answer stops after that many bytes (the connection drops);
    ``fail_first``: the first ``n`` requests get HTTP 503.
    """

    def __init__(self, files: dict[str, bytes], ranges: bool = True, cut_first_at: int | None = None,
                 fail_first: int = 0):
        self.ranges_seen: list[str | None] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                body = files.get(self.path.lstrip("/"))
                rng = self.headers.get("Range")
                outer.ranges_seen.append(rng)
                if len(outer.ranges_seen) <= fail_first:
                    self.send_error(503)
                    return
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng.split("=")[1].rstrip("-")) if (rng and ranges) else 0
                if start >= len(body) and start:
                    self.send_error(416)
                    return
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body) - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                if cut_first_at is not None and len(outer.ranges_seen) == 1:
                    self.wfile.write(body[start:cut_first_at])  # then the connection drops
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".part"))


def test_download_verifies_renames_and_is_reused(tmp_path):
    dest = tmp_path / "dl" / "f.txt"
    seen: list[tuple[int, int | None]] = []
    with HTTPFixtureServer({"f.txt": CONTENT}) as server:
        got = F.fetch(f"{server.url}/f.txt", dest, sha256=sha(CONTENT), size=len(CONTENT),
                      progress=lambda done, total: seen.append((done, total)))
        again = F.fetch(f"{server.url}/f.txt", dest, sha256=sha(CONTENT))
    assert dest.read_bytes() == CONTENT and leftovers(tmp_path) == []
    assert (got.sha256, got.git_blob, got.size, got.moved, got.reused) == (
        sha(CONTENT), blob(CONTENT), len(CONTENT), len(CONTENT), False)
    assert seen[-1] == (len(CONTENT), len(CONTENT))
    assert again.reused and again.moved == 0 and server.ranges_seen == [None]  # no second request


def test_any_one_accepted_digest_verifies(tmp_path):
    src = tmp_path / "src.txt"
    src.write_bytes(CONTENT)
    got = F.fetch(src.as_uri(), tmp_path / "a", sha256="0" * 64, git_blob=blob(CONTENT))
    assert got.git_blob == blob(CONTENT)
    assert F.fetch(str(src), tmp_path / "b", sha256=[sha(b"other"), sha(CONTENT)]).sha256 == sha(CONTENT)
    assert F.fetch(str(src), tmp_path / "c").size == len(CONTENT)  # nothing to check: kept as is


@pytest.mark.parametrize("ranges", [True, False], ids=["server-supports-range", "server-ignores-range"])
def test_a_partial_download_is_resumed_or_restarted(tmp_path, ranges):
    dest = tmp_path / "f.txt"
    F.part_path(dest).write_bytes(CONTENT[:700])
    with HTTPFixtureServer({"f.txt": CONTENT}, ranges=ranges) as server:
        got = F.fetch(f"{server.url}/f.txt", dest, sha256=sha(CONTENT))
    assert server.ranges_seen == ["bytes=700-"]
    assert got.moved == (len(CONTENT) - 700 if ranges else len(CONTENT))
    assert got.resumed_from == (700 if ranges else 0)
    assert dest.read_bytes() == CONTENT and leftovers(tmp_path) == []


def test_a_dropped_connection_is_resumed(tmp_path, monkeypatch):
    monkeypatch.setattr(F, "RETRY_WAIT_S", 0.0)
    dest = tmp_path / "f.txt"
    with HTTPFixtureServer({"f.txt": CONTENT}, cut_first_at=1234) as server:
        got = F.fetch(f"{server.url}/f.txt", dest, sha256=sha(CONTENT), size=len(CONTENT))
    assert server.ranges_seen == [None, "bytes=1234-"]
    assert got.moved == len(CONTENT) and dest.read_bytes() == CONTENT


def test_server_errors_are_retried_and_missing_files_are_not(tmp_path, monkeypatch):
    monkeypatch.setattr(F, "RETRY_WAIT_S", 0.0)
    with HTTPFixtureServer({"f.txt": CONTENT}, fail_first=2) as server:
        assert F.fetch(f"{server.url}/f.txt", tmp_path / "f.txt", retries=3).size == len(CONTENT)
        assert len(server.ranges_seen) == 3
        with pytest.raises(F.FetchError, match="HTTP 404") as e:
            F.fetch(f"{server.url}/nothing", tmp_path / "n.txt")
    assert "\n" not in str(e.value) and server.url in str(e.value)
    with pytest.raises(F.FetchError, match="no such file"):
        F.fetch((tmp_path / "absent").as_uri(), tmp_path / "x")


def test_bytes_that_do_not_verify_are_not_kept(tmp_path):
    dest = tmp_path / "dl" / "f.txt"
    with HTTPFixtureServer({"f.txt": b"tampered\n"}) as server:
        with pytest.raises(F.VerifyError) as e:
            F.fetch(f"{server.url}/f.txt", dest, sha256=sha(CONTENT), git_blob=blob(CONTENT))
    msg = str(e.value)
    assert sha(CONTENT) in msg and blob(CONTENT) in msg and sha(b"tampered\n") in msg
    assert "nothing was kept" in msg and server.url in msg
    assert (e.value.sha256, e.value.size) == (sha(b"tampered\n"), 9)
    assert not dest.exists() and leftovers(tmp_path) == []


def test_a_stale_copy_is_replaced_and_reuse_false_fetches_again(tmp_path):
    src = tmp_path / "src.txt"
    src.write_bytes(CONTENT)
    dest = tmp_path / "f.txt"
    dest.write_bytes(b"stale\n")
    got = F.fetch(str(src), dest, sha256=sha(CONTENT))
    assert not got.reused and dest.read_bytes() == CONTENT
    assert F.fetch(str(src), dest, sha256=sha(CONTENT), reuse=False).moved == len(CONTENT)


def test_a_resumed_part_of_another_version_gets_one_clean_attempt(tmp_path):
    src = tmp_path / "src.txt"
    src.write_bytes(CONTENT)
    dest = tmp_path / "f.txt"
    F.part_path(dest).write_bytes(b"X" * 100)  # not a prefix of the file
    got = F.fetch(str(src), dest, sha256=sha(CONTENT))
    assert dest.read_bytes() == CONTENT and got.resumed_from == 0 and leftovers(tmp_path) == []


def test_fsspec_urls_are_fetched(tmp_path):
    mem = fsspec.filesystem("memory")
    mem.pipe("/winnow-fetch-test/f.txt", CONTENT)
    try:
        got = F.fetch("memory://winnow-fetch-test/f.txt", tmp_path / "f.txt", sha256=sha(CONTENT))
    finally:
        mem.rm("/winnow-fetch-test", recursive=True)
    assert got.path.read_bytes() == CONTENT


def test_every_fetcher_goes_through_fetch(tmp_path, monkeypatch):
    """Pool sources, external files and reference packages fetch over HTTP with the same checks."""
    from winnow.curate.external import ExternalError, ExternalFile, fetch_external
    from winnow.pool.sources import ChecksumError, SourceUnit, fetch_to_cache

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    with HTTPFixtureServer({"cc/f.txt": CONTENT}) as server:
        unit = SourceUnit("wet", "cc/f.txt", f"{server.url}/cc/f.txt", sha(CONTENT))
        path = fetch_to_cache(unit, cache=tmp_path / "dl")
        assert fetch_to_cache(unit, cache=tmp_path / "dl") == path and len(server.ranges_seen) == 1
        assert (tmp_path / "dl" / "cc" / "f.txt.sha256").read_text().strip() == sha(CONTENT)
        with pytest.raises(ChecksumError, match="declares 0000"):
            fetch_to_cache(SourceUnit("wet", "cc/f.txt", unit.url, "0" * 64), cache=tmp_path / "dl2")
        ext = ExternalFile(label="f", sha256=sha(CONTENT), url=f"{server.url}/cc/f.txt")
        assert fetch_external(ext).read_bytes() == CONTENT
        with pytest.raises(ExternalError, match="HTTP 404"):
            fetch_external(ExternalFile(label="g", sha256=sha(b"other"), url=f"{server.url}/nope"))
    assert leftovers(tmp_path) == []
