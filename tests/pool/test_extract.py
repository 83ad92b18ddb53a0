"""Raw web sources for a pool: HTML tarballs, WARC/WET, DCLM-Pool shards; extraction and damage.

Real inputs are the data root's ``pool/raw_html`` tarballs and ``raw_html/warc`` captures; damaged
files, non-HTML records and DCLM-Pool-like shards are made from them (or by hand) in tmp folders.
Nothing here touches the network: the "remote" is a local folder laid out like the bucket,
``file://`` URLs, or fsspec's in-memory filesystem.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import tarfile
from pathlib import Path

import pytest
import zstandard

from winnow.docs import POOL_FIELDS, read_docs
from winnow.manifest import verify_folder
from winnow.paths import data_root
from winnow.pool.build import build_pool, new_id, pool_dir, split_document
from winnow.pool.extract.damage import SourceError, Skips
from winnow.pool.extract.htmltext import DCLM_EXTRACTION, decode_html, extract_main_text
from winnow.pool.extract.readers import read_unit
from winnow.pool.extract.streams import decompressed
from winnow.pool.sources import (ChecksumError, SourceConfigError, expand, normalize_sources,
                                 source_units)

ROOT = data_root()
RAW = ROOT / "pool" / "raw_html"
WARC = RAW / "warc"
pytestmark = pytest.mark.skipif(not WARC.is_dir(), reason="no pool/raw_html under the data root")


def read_source(spec: dict, skips: Skips | None = None, root: Path = ROOT) -> list[dict]:
    skips = skips if skips is not None else Skips()
    (spec,) = normalize_sources([spec])
    return [d for u in expand(spec, root) for d in read_unit(u, skips)]


def embedded(name: str) -> dict[str, dict]:
    return {d["id"]: d for d in read_docs(ROOT / "pool" / f"{name}.jsonl.zst")}


def lines(text: str) -> set[str]:
    return {ln.strip() for ln in text.splitlines() if ln.strip()}


_n = 0


def warc_record(kind: str, block: bytes, **headers) -> bytes:
    """One WARC/1.0 record with a correct Content-Length (ids numbered, so files are fixed)."""
    global _n
    _n += 1
    h = {"WARC-Type": kind, "WARC-Record-ID": f"<urn:uuid:00000000-0000-0000-0000-{_n:012d}>",
         "WARC-Date": "2024-01-01T00:00:00Z", **{k.replace("_", "-"): v for k, v in headers.items()},
         "Content-Length": str(len(block))}
    return (b"WARC/1.0\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in h.items()) + b"\r\n"
            + block + b"\r\n\r\n")


def http_response(body: bytes, status: str = "200 OK", ctype: str = "text/html; charset=utf-8",
                  extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def response(url: str, body: bytes, **kw) -> bytes:
    return warc_record("response", http_response(body, **kw), WARC_Target_URI=url,
                       Content_Type="application/http; msgtype=response")


PAGE = (b"<html><head><title>T</title></head><body><nav><a href='/'>Home</a> <a href='/x'>About</a>"
        b"</nav><article><h1>A real article</h1><p>" + b"This is the main text of the page. " * 12
        + b"</p></article><footer>Copyright footer text</footer></body></html>")


# ------------------------------------------------------------------------------------------------
# Extraction settings and parity with the embedded pool


def test_dclm_settings_reproduce_the_embedded_main_text_of_html_tarballs():
    """`encoding: detect` + DCLM settings give the embedded pool's text_main byte for byte."""
    docs = read_source({"kind": "html_tar", "paths": ["pool/raw_html/web_dclm_test_fixtures.tar.zst",
                                                       "pool/raw_html/web_readability_tests.tar.zst"],
                        "encoding": "detect", "drop_empty": False})
    ref = {**embedded("web_dclm_test_fixtures"), **embedded("web_readability_tests")}
    assert len(docs) == len(ref) == 140
    for d in docs:
        r = ref[d["id"]]  # the tarball's index.jsonl ids are the embedded upstream ids
        assert d["text"] == r["meta"]["text_main"], d["id"]
        assert d["url"] == r["url"]
        assert d["meta"]["raw_file"].endswith(".tar.zst:" + r["meta"]["raw_file"].split(":", 1)[1])
    assert DCLM_EXTRACTION["main_content"] is True and DCLM_EXTRACTION["alt_texts"] is False


def test_default_decoding_fixes_uchardet_mojibake(tmp_path):
    """A valid UTF-8 page that uchardet calls cp1252; also the `html` kind on a .html.gz file."""
    stream = zstandard.ZstdDecompressor().stream_reader(open(RAW / "web_htmldate_tests.tar.zst", "rb"))
    with tarfile.open(fileobj=stream, mode="r|") as tf:
        raw = next(tf.extractfile(m).read() for m in tf if m.name.endswith("/00021.html"))
    assert decode_html(raw, "detect")[1] == "cp1252" and decode_html(raw)[1] == "utf-8"
    page = tmp_path / "site" / "page.html.gz"
    page.parent.mkdir()
    page.write_bytes(gzip.compress(raw))
    (auto,) = read_source({"kind": "html", "paths": str(page)})
    (detect,) = read_source({"kind": "html", "paths": str(page), "encoding": "detect"})
    assert "Beiträge" in auto["text"] and "BeitrÃ¤ge" not in auto["text"]
    assert "BeitrÃ¤ge" in detect["text"]
    assert auto["url"] is None and auto["id"].startswith("html/") and auto["id"].endswith("page.html")
    assert auto["meta"]["encoding"] == "utf-8" and "<html" in auto["meta"]["html"].lower()


def test_extract_main_text_drops_navigation_and_footer():
    text = extract_main_text(PAGE)
    assert "This is the main text of the page." in text
    assert "About" not in text and "Copyright footer" not in text
    full = extract_main_text(PAGE, {**DCLM_EXTRACTION, "main_content": False})
    assert "About" in full and "Copyright footer" in full


# ------------------------------------------------------------------------------------------------
# WARC and WET


@pytest.fixture(scope="module")
def warc_docs():
    skips = Skips()
    docs = read_source({"kind": "warc", "paths": "pool/raw_html/warc/*.warc.gz",
                        "full_page_text": True}, skips)
    return {d["id"]: d for d in docs}, skips


def test_warc_known_pages_keep_main_text_and_lose_boilerplate(warc_docs):
    docs, skips = warc_docs
    assert skips.counts == {}  # every response record of the samples is a 200 HTML page
    by_url = {}
    for d in docs.values():
        by_url.setdefault(d["url"], d)
    cc = by_url["https://creativecommons.org/"]
    main, full = lines(cc["meta"]["text_main"]), lines(cc["text"])
    assert "Creative Commons is an international nonprofit organization" in cc["meta"]["text_main"]
    for chrome in ("Skip to content", "• Donate", "• Newsletter", "• Privacy", "• Terms"):
        assert chrome in full and chrome not in main, chrome  # in the page, not in the main text
    faq = by_url["https://commoncrawl.org/faq"]
    assert "What is Common Crawl?" in faq["meta"]["text_main"]
    for chrome in ("Mailing List Archive", "© 2023 Common Crawl", "Discord Server"):
        assert chrome in faq["text"] and chrome not in faq["meta"]["text_main"], chrome
    # boilerplate overall: the main text is a fraction of the page on these boilerplate-heavy sites
    assert len(cc["meta"]["text_main"]) < 0.5 * len(cc["text"])
    assert all(d["meta"]["text_main"].strip() for d in docs.values())


def test_warc_ids_urls_and_payload_decoding(warc_docs):
    docs, _ = warc_docs
    ref = embedded("web_warc_samples")
    assert set(ref) <= set(docs)  # same upstream ids as the embedded pool's WARC source
    assert len([i for i in docs if "clueweb-quirk" in i]) == 29  # ClueWeb09 WARC/0.18 read too
    for i, r in ref.items():
        assert docs[i]["url"] == r["url"] and not docs[i]["url"].startswith("<")
    # chunked transfer encoding is undone: no chunk-size line leaks into the text
    chunked = docs["warc/dolma__sample-0001.warc.gz/0001"]
    assert "chunked" in chunked["meta"]["http_headers"]["transfer-encoding"]
    assert not re.match(r"[0-9a-f]{4} ", chunked["meta"]["text_main"])
    assert ref["warc/dolma__sample-0001.warc.gz/0001"]["meta"]["text_main"].startswith("7d72 ")
    # a gzip content-encoded payload is decompressed (the embedded text is binary garbage)
    example = docs["warc/warcio__example.warc.gz/0001"]
    assert example["meta"]["text_main"].startswith("Example Domain")
    # the HTTP charset and valid UTF-8 win over uchardet's guess
    assert "Hello, visitor! 👋" in page_at(docs, "https://soldaini.net/")["meta"]["text_main"]
    assert "ヘッドポーター" in docs["warc/chatnoir-resiliparse__clueweb-quirk.warc.gz/0001"]["text"]
    # annotations: WARC and HTTP headers, warcinfo, title, raw html and where the record is
    meta = chunked["meta"]
    assert meta["warc_headers"]["WARC-Record-ID"] and meta["http_status"] == 200
    assert meta["warcinfo"].startswith("software: Wget") and meta["title"]
    assert meta["raw_file"] == "pool/raw_html/warc/dolma__sample-0001.warc.gz" and meta["offset"] > 0
    assert "<html" in meta["html"].lower()


def page_at(docs: dict, url: str) -> dict:
    return next(d for d in docs.values() if d["url"] == url)


def test_warc_matches_embedded_where_the_embedded_payload_was_plain():
    """With the settings the embedded WARC source used (alt texts on, uchardet), texts agree."""
    docs = {d["id"]: d for d in read_source({"kind": "warc", "paths": "pool/raw_html/warc/*.warc.gz",
                                             "extract": {"alt_texts": True}, "encoding": "detect"})}
    ref = embedded("web_warc_samples")
    plain = [i for i in ref if "transfer-encoding" not in docs[i]["meta"]["http_headers"]
             and "content-encoding" not in docs[i]["meta"]["http_headers"]]
    assert len(plain) >= 30
    for i in plain:
        assert docs[i]["text"] == ref[i]["meta"]["text_main"], i


def test_wet_conversion_records(tmp_path):
    docs = read_source({"kind": "wet", "paths": "pool/raw_html/warc/cc_net__sample.warc.txt"})
    assert [d["url"] for d in docs] == ["http://sample_english.com", "http://sample_chinese.zh",
                                        "http://sample_russian.ru"]
    assert docs[0]["text"].startswith("Famous Mark Twain Quotes") and docs[0]["text"].endswith("Truth isn't.")
    assert docs[1]["text"].startswith("馬克·吐溫名言") and "Цитаты" in docs[2]["text"]
    assert docs[0]["id"] == "wet/cc_net__sample.warc.txt/0001" and docs[0]["source"] == "web/wet"
    # a spec-conforming (CRLF) zstd WET file goes through FastWARC
    wet = (warc_record("warcinfo", b"isPartOf: test\r\n", Content_Type="application/warc-fields")
           + warc_record("conversion", "Zürich text\nline two".encode(), WARC_Target_URI="http://a.example/",
                         Content_Type="text/plain")
           + warc_record("conversion", b"  \n ", WARC_Target_URI="http://b.example/"))
    path = tmp_path / "x.warc.wet.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(wet[:200]) + zstandard.ZstdCompressor().compress(wet[200:]))
    skips = Skips()
    (doc,) = read_source({"kind": "wet", "paths": str(path)}, skips)  # two zstd frames
    assert doc["text"] == "Zürich text\nline two" and doc["meta"]["warcinfo"] == "isPartOf: test"
    assert skips.counts == {"empty_text": 1}


def test_zstd_stream_is_served_without_copying_what_is_left():
    """A frame that decompresses to much more than one read (highly repetitive content) is
    served from an offset: slicing the unread rest off on every read copied it again each time
    (quadratic: 12 s for 128 MiB of zeros) and held two copies at once."""
    import tracemalloc

    data = bytes(32 << 20)  # 32 MiB of zeros, a few KiB compressed
    frames = zstandard.ZstdCompressor().compress(data) + zstandard.ZstdCompressor().compress(b"end")
    tracemalloc.start()
    try:
        stream, parts = decompressed(io.BytesIO(frames)), []
        while chunk := stream.read(1 << 16):
            parts.append(len(chunk))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(parts) == len(data) + 3
    assert peak < 1.5 * len(data), peak  # the decompressed frame once, not twice


# ------------------------------------------------------------------------------------------------
# Bad records and damaged files


def test_records_without_usable_text_are_skipped_by_reason(tmp_path):
    data = (warc_record("warcinfo", b"x: y\r\n")
            + response("http://ok.example/", PAGE)
            + warc_record("request", b"GET / HTTP/1.1\r\n\r\n", WARC_Target_URI="http://ok.example/")
            + response("http://missing.example/", PAGE, status="404 Not Found")
            + response("http://img.example/a.png", b"\x89PNG\r\n\x1a\n" + bytes(64), ctype="image/png")
            + response("http://empty.example/", b"<html><body><script>x()</script></body></html>")
            + response("http://badgz.example/", b"\x1f\x8b\x08broken", extra="Content-Encoding: gzip\r\n")
            + response("http://untyped.example/", PAGE, ctype=""))
    path = tmp_path / "mixed.warc.gz"
    path.write_bytes(gzip.compress(data))
    skips = Skips()
    docs = read_source({"kind": "warc", "paths": str(path)}, skips)
    assert [d["url"] for d in docs] == ["http://ok.example/", "http://untyped.example/"]  # sniffed
    assert [d["id"] for d in docs] == ["warc/mixed.warc.gz/0001", "warc/mixed.warc.gz/0006"]
    assert skips.counts == {"http_status": 1, "not_html": 1, "empty_text": 1, "content_encoding": 1}
    stats = skips.stats()
    assert stats["skipped_by_file"]["mixed.warc.gz"]["http_status"] == 1  # named without its folder
    assert "404" in stats["skip_examples"]["http_status"][0]


def test_a_damaged_tarball_index_line_is_named_not_a_crash(tmp_path):
    """An ``index.jsonl`` line that is not a JSON object with a ``raw_file`` or ``id`` raised a
    bare AttributeError/KeyError (a non-UTF-8 index an uncaught UnicodeDecodeError); now it is
    a ``bad_json`` record: SourceError by default, counted with ``on_error: skip``."""
    def tarball(name: str, index: bytes) -> Path:
        path = tmp_path / name
        with tarfile.open(path, "w") as tf:
            for member, data in (("pages/a.html", PAGE), ("pages/b.html", PAGE),
                                 ("index.jsonl", index)):
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        return path

    index = (b'{"id": "web_x/a", "raw_file": "pages/a.html", "url": "http://a.example/"}\n'
             b'[1, 2]\n{"url": "http://b.example/"}\n')
    path = tarball("t.tar", index)
    with pytest.raises(SourceError, match="bad_json") as err:
        read_source({"kind": "html_tar", "paths": str(path)})
    assert "t.tar#index.jsonl:2" in str(err.value)
    skips = Skips()
    docs = read_source({"kind": "html_tar", "paths": str(path), "on_error": "skip"}, skips)
    assert [(d["id"], d["url"]) for d in docs] == [("web_x/a", "http://a.example/"),
                                                  ("html/t/pages/b.html", None)]
    assert skips.counts == {"bad_json": 2}
    bad = tarball("u.tar", b'{"id": "\xff"}\n')  # not UTF-8: the file is damaged
    with pytest.raises(SourceError, match="corrupt_stream"):
        read_source({"kind": "html_tar", "paths": str(bad)})


def _sample_bytes() -> bytes:
    return gzip.decompress((WARC / "dolma__sample-0000.warc.gz").read_bytes())


@pytest.mark.parametrize("damage,reason,message", [
    ("truncated_gz", "corrupt_stream", "truncated"),
    ("truncated_zst", "corrupt_stream", "truncated"),
    ("truncated_record", "truncated_record", "record block has"),
    ("garbage_between", "unparseable_bytes", "are not a WARC record"),
    ("not_warc", "unparseable_bytes", "not a WARC file"),
])
def test_damaged_warc_raises_by_default_and_counts_with_on_error_skip(tmp_path, damage, reason, message):
    raw = _sample_bytes()
    resp = raw.find(b"WARC-Type: response", len(raw) // 2)
    cut = raw.rfind(b"WARC/1.0", 0, resp)  # the start of a response record in the middle
    if damage == "truncated_gz":
        gz = gzip.compress(raw)
        blob, name = gz[:len(gz) // 2], "d.warc.gz"
    elif damage == "truncated_zst":
        zs = zstandard.ZstdCompressor().compress(raw)
        blob, name = zs[:len(zs) // 2], "d.warc.zst"
    elif damage == "truncated_record":
        blob, name = raw[:cut + 3000], "d.warc"
    elif damage == "garbage_between":
        blob, name = raw[:cut] + b"NOT A RECORD " * 60 + raw[cut:], "d.warc"
    else:
        blob, name = gzip.compress(b"<html><body>just a page</body></html>\n" * 40), "d.warc.gz"
    path = tmp_path / name
    path.write_bytes(blob)
    with pytest.raises(SourceError, match=message) as err:
        read_source({"kind": "warc", "paths": str(path)})
    assert name in str(err.value) and reason in str(err.value) and "on_error: skip" in str(err.value)
    skips = Skips()
    docs = read_source({"kind": "warc", "paths": str(path), "on_error": "skip"}, skips)
    assert skips.counts[reason] == 1
    if damage != "not_warc":  # the records before the damage are kept (FastWARC may resync after)
        assert 0 < len(docs) < 22


def test_checksum_mismatch_is_an_error_even_with_on_error_skip(tmp_path):
    path = tmp_path / "a.warc.gz"
    path.write_bytes((WARC / "warcio__example.warc.gz").read_bytes())
    with pytest.raises(ChecksumError, match="sha256"):
        read_source({"kind": "warc", "paths": str(path), "on_error": "skip",
                     "sha256": {str(path): "0" * 64}})


# ------------------------------------------------------------------------------------------------
# Building a pool from raw sources


def raw_cfg(name: str, **extra) -> dict:
    return {"name": name, "version": 1, "n_shards": 2, "heldout_fraction": 0.1, "heldout_seed": 0,
            "max_docs_per_source": None, "max_bytes_per_source": None,
            "sources": [{"kind": "html_tar", "paths": "pool/raw_html/web_dclm_test_fixtures.tar.zst",
                         "source": "web/raw-html"},
                        {"kind": "warc", "paths": "pool/raw_html/warc/dolma__sample-0001.warc.gz"},
                        {"kind": "wet", "paths": "pool/raw_html/warc/*.warc.txt"}], **extra}


def _pool_docs(cfg: dict) -> dict[str, dict]:
    folder = pool_dir(cfg["name"], cfg["version"])
    docs = {}
    for p in sorted((folder / "shards").glob("*.jsonl.zst")) + [folder / "heldout.jsonl.zst"]:
        docs.update({d["id"]: d for d in read_docs(p)})
    return docs


def test_build_pool_from_raw_sources(tmp_path, monkeypatch):
    cfg = raw_cfg("rawtest")
    m = build_pool(cfg, progress=False)
    folder = pool_dir("rawtest", 1)
    assert verify_folder(folder) == []
    docs = _pool_docs(cfg)
    assert len(docs) == m.stats["docs"] + m.stats["heldout_docs"] == 10 + 15 + 3
    assert all(set(d) == set(POOL_FIELDS) for d in docs.values())
    # re-keyed exactly like the embedded pool: the same page has the same pool id in both
    emb = {split_document(d, "x")[0]["id"]: d for d in embedded("web_dclm_test_fixtures").values()}
    ours = {i for i, d in docs.items() if d["source"] == "web/raw-html"}
    assert ours == set(emb)
    assert all(re.fullmatch(r"d[0-9a-f]{16}", i) for i in docs)
    assert new_id("warc/dolma__sample-0001.warc.gz/0001") in docs
    # raw html and headers are in the annotations, never in the pool fields
    notes = {}
    for p in (folder / "annotations").glob("*.jsonl.zst"):
        notes.update({n["id"]: n for n in read_docs(p)})
    assert set(notes) == set(docs)
    warc_note = notes[new_id("warc/dolma__sample-0001.warc.gz/0001")]
    assert "<html" in warc_note["meta"]["html"].lower() and warc_note["meta"]["warc_headers"]
    assert warc_note["source_file"] == "pool/raw_html/warc/dolma__sample-0001.warc.gz"
    assert m.stats["skipped"] == {} and m.parents["source:pool/raw_html/warc/cc_net__sample.warc.txt"]
    # deterministic: a rebuild is skipped, and a fresh build elsewhere gives the same content id
    assert build_pool(cfg, progress=False).content_id == m.content_id
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home2"))
    assert build_pool(cfg, progress=False).content_id == m.content_id


def test_a_page_from_the_embedded_jsonl_and_from_its_raw_html_is_the_same_document():
    cfg = {**raw_cfg("mixed"), "sources": ["pool/web_dclm_test_fixtures.jsonl.zst",
                                          {"kind": "html_tar",
                                           "paths": "pool/raw_html/web_dclm_test_fixtures.tar.zst"}]}
    with pytest.raises(ValueError, match="upstream id 'web_dclm_test_fixtures/00000' occurs twice"):
        build_pool(cfg, progress=False)


def test_shard_writes_are_atomic_and_a_failed_build_leaves_no_pool(tmp_path, monkeypatch):
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    import winnow.pool.build as build
    from winnow.io import atomic_open

    cfg = raw_cfg("atomic")
    real, calls = build.write_docs, []

    def failing(path, docs):
        calls.append(path)
        if len(calls) == 3:  # the process dies half-way through writing the second shard
            with atomic_open(path, "wt") as f:
                f.write('{"id": "half a li')
                raise OSError("disk full")
        return real(path, docs)

    monkeypatch.setattr(build, "write_docs", failing)
    with pytest.raises(OSError, match="disk full"):
        build_pool(cfg, progress=False)
    folder = pool_dir("atomic", 1)
    assert not (folder / "manifest.json").exists()
    assert not (folder / "shards" / "shard_00001.jsonl.zst").exists()  # never under its final name
    assert not [p for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    monkeypatch.setattr(build, "write_docs", real)
    m = build_pool(cfg, progress=False)  # starts clean and finishes
    assert verify_folder(folder) == [] and m.stats["docs"] > 0


def test_a_damaged_source_stops_the_build_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    bad = tmp_path / "bad.warc.gz"
    bad.write_bytes((WARC / "dolma__sample-0000.warc.gz").read_bytes()[:-5000])
    cfg = raw_cfg("damaged")
    cfg["sources"].append({"kind": "warc", "paths": str(bad)})
    with pytest.raises(SourceError, match="bad.warc.gz"):
        build_pool(cfg, progress=False)
    folder = pool_dir("damaged", 1)
    assert not folder.exists() or not any(folder.rglob("*.jsonl.zst"))
    cfg["sources"][-1]["on_error"] = "skip"
    m = build_pool(cfg, progress=False)
    assert m.stats["skipped"] == {"corrupt_stream": 1}
    assert m.stats["skipped_by_file"]["bad.warc.gz"] == {"corrupt_stream": 1}


# ------------------------------------------------------------------------------------------------
# DCLM-Pool shard lists


def _dclm_shard_lines(n: int, start: int) -> bytes:
    """DCLM-Pool-format lines (text + metadata WARC headers + warcinfo) from the WARC samples."""
    docs = read_source({"kind": "warc", "paths": "pool/raw_html/warc/dolma__sample-0000.warc.gz"})
    out = []
    for d in docs[start:start + n]:
        out.append(json.dumps({"text": d["text"], "metadata": d["meta"]["warc_headers"],
                               "warcinfo": d["meta"]["warcinfo"]}))
    return ("\n".join(out) + "\n").encode()


@pytest.fixture
def dclm_mirror(tmp_path):
    """A local folder laid out like s3://commoncrawl/ holding the first 2 shards of the real list."""
    listing = ROOT / "pool" / "download_lists" / "dclm_400m-1x_preextracted.txt.zst"
    with zstandard.ZstdDecompressor().stream_reader(open(listing, "rb")) as r:
        urls = io.TextIOWrapper(r, encoding="utf-8").read().split()[:2]
    mirror = tmp_path / "commoncrawl"
    for k, url in enumerate(urls):
        p = mirror / url.removeprefix("s3://commoncrawl/")
        p.parent.mkdir(parents=True)
        p.write_bytes(gzip.compress(_dclm_shard_lines(4, 4 * k) + b"not json\n" * (k == 1)))
    return listing, mirror, urls


def test_dclm_pool_from_a_local_mirror_of_the_shard_list(dclm_mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    listing, mirror, urls = dclm_mirror
    spec = {"kind": "dclm_pool", "url_list": str(listing), "limit": 2,
            "mirror": {"s3://commoncrawl/": str(mirror)}, "on_error": "skip"}
    units = source_units({"sources": [spec]}, ROOT)
    assert [u.name for u in units] == [u.removeprefix("s3://commoncrawl/") for u in urls]
    skips = Skips()
    docs = [d for u in units for d in read_unit(u, skips)]
    assert len(docs) == 8 and skips.counts == {"bad_json": 1}
    first = docs[0]
    stem = urls[0].rsplit("/", 1)[1].removesuffix(".jsonl.gz")
    assert first["id"] == f"dclm-pool/{stem}/0001" and first["source"] == "web/dclm-pool"
    assert first["url"] == "https://www.semanticscholar.org/research/research-team"  # from metadata
    assert first["meta"]["metadata"]["WARC-Record-ID"] and "text" not in first["meta"]
    # the same through file:// URLs, and as a built pool (bad line: an error without on_error)
    spec_file = {**spec, "mirror": {"s3://commoncrawl/": f"file://{mirror}"}}
    assert [d["id"] for u in source_units({"sources": [spec_file]}, ROOT)
            for d in read_unit(u, Skips())] == [d["id"] for d in docs]
    cfg = {"name": "dclmtest", "version": 1, "n_shards": 2, "heldout_fraction": 0.0,
           "heldout_seed": 0, "sources": [{k: v for k, v in spec.items() if k != "on_error"}]}
    with pytest.raises(SourceError, match="line5.*not a JSON object"):
        build_pool(cfg, progress=False)
    cfg["sources"][0]["limit"] = 1
    m = build_pool(cfg, progress=False)
    assert m.stats["docs"] == 4 and len(m.parents[f"source:{units[0].name}"]) == 64


@pytest.fixture
def memfs():
    """fsspec's in-process memory:// filesystem, emptied afterwards."""
    import fsspec

    mem = fsspec.filesystem("memory")
    yield mem
    if mem.exists("/cc"):
        mem.rm("/cc", recursive=True)


def test_remote_shards_are_downloaded_once_and_verified(dclm_mirror, memfs, tmp_path, monkeypatch):
    """memory:// stands in for the remote: download once, cache, check the sha256."""
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "home"))
    listing, mirror, urls = dclm_mirror
    mem = memfs
    blobs = {}
    for url in urls:
        key = url.removeprefix("s3://commoncrawl/")
        blobs[key] = (mirror / key).read_bytes()
        mem.pipe(f"/cc/{key}", blobs[key])
    import hashlib

    good = hashlib.sha256(blobs[urls[0].removeprefix("s3://commoncrawl/")]).hexdigest()
    url_list = tmp_path / "list.txt"
    url_list.write_text(f"{urls[0]} {good}\n{urls[1]}\n")
    spec = {"kind": "dclm_pool", "url_list": str(url_list), "mirror": {"s3://commoncrawl/": "memory://cc/"},
            "on_error": "skip"}
    units = source_units({"sources": [spec]}, ROOT)
    assert units[0].sha256 == good and units[1].sha256 is None and not units[0].is_local
    skips = Skips()
    assert len([d for u in units for d in read_unit(u, skips)]) == 8
    cached = tmp_path / "home" / "downloads" / units[0].name
    assert cached.read_bytes() == blobs[units[0].name]
    assert (cached.parent / (cached.name + ".sha256")).read_text().strip() == good
    assert skips.digests[units[1].name] == hashlib.sha256(blobs[units[1].name]).hexdigest()
    # a wrong digest: nothing is kept in the cache, and streaming fails at the end of the file
    url_list.write_text(f"{urls[1]} {'0' * 64}\n")
    cached1 = tmp_path / "home" / "downloads" / units[1].name
    cached1.unlink()
    with pytest.raises(ChecksumError, match="declares 0000"):
        [d for u in source_units({"sources": [spec]}, ROOT) for d in read_unit(u, Skips())]
    assert not cached1.exists() and not list(cached1.parent.glob(".*.tmp"))
    with pytest.raises(ChecksumError, match="declares 0000"):
        [d for u in source_units({"sources": [{**spec, "fetch": "stream"}]}, ROOT)
         for d in read_unit(u, Skips())]


# ------------------------------------------------------------------------------------------------
# Configuration errors


def test_source_declarations_are_checked():
    with pytest.raises(SourceConfigError, match="did you mean 'warc'"):
        normalize_sources([{"kind": "wark", "paths": "x"}])
    with pytest.raises(SourceConfigError, match="did you mean 'on_error'"):
        normalize_sources([{"kind": "warc", "paths": "x", "on_eror": "skip"}])
    with pytest.raises(SourceConfigError, match="exactly one of"):
        normalize_sources([{"kind": "warc", "paths": "x", "url_list": "y"}])
    assert normalize_sources("pool/*.jsonl.zst") == [{"kind": "jsonl", "paths": "pool/*.jsonl.zst"}]
    with pytest.raises(FileNotFoundError, match="no files match"):
        source_units({"sources": [{"kind": "warc", "paths": "pool/raw_html/warc/*.nothing"}]}, ROOT)
    with pytest.raises(ValueError, match="unknown resiliparse option 'main_contents'"):
        read_source({"kind": "html_tar", "paths": "pool/raw_html/web_dclm_test_fixtures.tar.zst",
                     "extract": {"main_contents": True}})


def test_example_pool_configs_resolve():
    from winnow.config import group_file

    raw = group_file("pool", "raw_html")
    units = source_units(raw, ROOT)
    kinds = {u.kind for u in units}
    assert kinds == {"html_tar", "warc", "wet"} and len(units) == 7 + 5 + 1
    dclm = group_file("pool", "dclm_pool_400m")
    (unit, *_) = source_units(dclm, ROOT)
    assert unit.url.startswith("https://data.commoncrawl.org/contrib/datacomp/DCLM-pool/")
    assert os.path.basename(unit.name).endswith(".jsonl.gz")
