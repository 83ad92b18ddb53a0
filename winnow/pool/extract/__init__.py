"""Raw web sources for a pool: HTML pages, WARC, WET and DCLM-Pool shards into documents.

Every reader here yields documents in the convention the pool build consumes (``id`` = the
*upstream* id, re-keyed later like every pool source; ``text``; ``url``; ``source``; ``meta``, which
the build moves to the annotations sidecar). What a document becomes:

* **Text.** HTML is decoded (:func:`~winnow.pool.extract.htmltext.decode_html`: valid UTF-8 as UTF-8, else a charset the HTTP
  response declares, else resiliparse's ``detect_encoding``; ``encoding: detect`` uses the last
  alone) and extracted with resiliparse ``extract_plain_text`` using :data:`~winnow.pool.extract.htmltext.DCLM_EXTRACTION`:
  ``main_content=True`` (the DCLM-Pool extraction), block formatting preserved, list bullets on,
  alt texts, link targets, form fields and ``<noscript>`` off. With these settings and
  ``encoding: detect`` the text of all 1,232 pages under ``<data>/pool/raw_html/*.tar.zst`` is
  byte-identical to the embedded pool's ``meta.text_main``; the default decoding differs on 14 of
  them, where uchardet's guess made mojibake. WARC payloads stored with their transfer or content
  encoding (chunked, gzip) are decoded first. WET conversion records and DCLM-Pool shards are
  already text and are taken as they are.
* **Ids.** Position-based, so they never depend on extraction settings: ``<prefix>/<file>/<nnnn>``
  for the n-th response (WARC) or conversion (WET) record of a file, counting from 1, and the
  n-th line of a DCLM-Pool shard; a tarball's ``index.jsonl`` id when it has one. The WARC scheme
  is the one the embedded pool's ``web_warc_samples`` source uses and the tarball ids are those of
  the embedded ``web_*`` sources, so the same page gets the same pool id whichever way it enters.
* **Annotations.** The raw HTML (decoded), WARC headers, HTTP status and headers, warcinfo,
  detected encoding, title and the location in the source file (``raw_file``, ``offset``) go to
  ``meta``, hence to the annotations sidecar; pool documents keep only ``id, text, url, source``.

**Bad input.** A record that is fine but has no usable text is *skipped and counted by reason*
(manifest ``stats.skipped``): ``http_status`` (not 2xx), ``not_html`` (another content type),
``content_encoding`` (a compressed payload that does not decompress), ``extract_error`` (the
HTML parser failed), ``empty_text`` (nothing left after extraction), ``not_a_document`` (a
DCLM-Pool line without text). A *corrupt file* is different: a truncated or corrupt gzip/zstd
stream, a record shorter than its ``Content-Length``, unparseable bytes between or after records,
a line that is not JSON. By default (``on_error: raise``) that stops the build with a
:class:`~winnow.pool.extract.damage.SourceError` naming the file, the record and the offset, before anything is written;
with ``on_error: skip`` the damaged record (or the rest of a file whose compression is broken) is
counted as ``truncated_record`` / ``unparseable_bytes`` / ``corrupt_stream`` / ``bad_json`` and
the build goes on.

WARC files are parsed by FastWARC (what DCLM's Common Crawl tools use) in quirks mode, which also
reads ClueWeb09's WARC/0.18; decompression happens in ``streams`` (gzip members, zstd frames), so a
truncated stream raises instead of ending quietly. Files whose header lines end in a bare ``\\n``
(hand-made WET samples such as cc_net's, whose lengths are not byte counts) are read by a
line-based parser that splits at ``WARC/1.x`` lines, as cc_net does.

The package has one module per concern, each importable on its own:

- ``htmltext``: the DCLM extraction settings, HTML decoding and main-content extraction;
- ``streams``: decompression (gzip members, zstd frames) that raises on truncation, and opening
  a source file as a verified, decompressed stream;
- ``warc``: WARC records (FastWARC, and the line-based reader) and HTTP payloads in them;
- ``readers``: one reader per source kind (``html``, ``html_tar``, ``warc``, ``wet``,
  ``dclm_pool``) and :func:`~winnow.pool.extract.readers.read_unit`, what the pool build calls;
- ``damage``: :class:`~winnow.pool.extract.damage.Skips` (records left out, by reason) and
  :class:`~winnow.pool.extract.damage.SourceError` (a damaged file), shared by the others.

The extraction benchmark (resiliparse against trafilatura) is ``bench/bench_extract.py``.
"""
