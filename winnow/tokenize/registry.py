"""Tokenizers a scale can name besides the committed small BPEs: name -> provider.

``winnow.tokenize.bpe.tokenizer_file(name, sha256)`` (what packing and evaluation call) and
``bpe.spec(name)`` look names up here first. A provider is built from a file under the data
root and has ``tokenizer_file(expected_sha256) -> Path`` (a ``tokenizers`` JSON, built and
cached), ``sha256`` (of its source file, what a scale pins), ``bytes_per_token`` and
``describe()``. Entries are lazy ``"module:attr"`` strings; other packages add their own through
the ``winnow.tokenizer`` entry-point group.
"""

from __future__ import annotations

from winnow.registry import Registry

EXTERNAL: Registry = Registry("tokenizer")
EXTERNAL.register("gpt-neox-20b", "winnow.tokenize.neox:GPT_NEOX_20B")
