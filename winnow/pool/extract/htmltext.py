"""HTML pages into text: DCLM's resiliparse settings, charset decoding, main-content extraction.

:data:`DCLM_EXTRACTION` are the ``extract_plain_text`` keyword arguments of the DCLM-Pool
extraction: main content only, block formatting preserved, list bullets on; alt texts, link
targets, form fields and ``<noscript>`` off. :func:`decode_html` turns raw bytes into text under
an encoding policy (``auto``, the default, or ``detect``, how the embedded pool was made; see its
docstring for the measurement behind the default). resiliparse is imported inside the functions
that use it, so the pool's other modules import without it.
"""

from __future__ import annotations

# resiliparse ``extract_plain_text`` keyword arguments for the pool text (DCLM-Pool style).
DCLM_EXTRACTION: dict = {
    "preserve_formatting": True,
    "main_content": True,
    "list_bullets": True,
    "alt_texts": False,
    "links": False,
    "form_fields": False,
    "noscript": False,
    "comments": True,
}


def extractor_version() -> str:
    from importlib.metadata import version

    return f"resiliparse-{version('resiliparse')}/fastwarc-{version('fastwarc')}"


def extraction_settings(overrides: dict | None = None) -> dict:
    """DCLM's settings with ``overrides`` applied; unknown names are an error."""
    import inspect

    from resiliparse.extract.html2text import extract_plain_text

    settings = dict(DCLM_EXTRACTION)
    if overrides:
        try:
            known = set(inspect.signature(extract_plain_text).parameters) - {"html"}
        except (TypeError, ValueError):  # a builtin without a signature
            known = set(DCLM_EXTRACTION) | {"post_meta", "hidden_elements", "skip_elements"}
        bad = set(overrides) - known
        if bad:
            raise ValueError(f"pool extract: unknown resiliparse option {sorted(bad)[0]!r}; "
                             f"known: {', '.join(sorted(known))}")
        settings.update(overrides)
    return settings


ENCODING_POLICIES = ("auto", "detect")


def decode_html(data: bytes, policy: str = "auto", declared: str | None = None) -> tuple[str, str]:
    """(text, encoding) of raw HTML bytes.

    ``detect`` is how the embedded pool's ``text_main`` was made: resiliparse's ``detect_encoding``
    (uchardet) alone. ``auto`` (the default) first takes bytes that are valid UTF-8 as UTF-8, then
    a charset the HTTP response declared if the bytes are valid in it, and only then uchardet: on
    the raw_html pages uchardet calls 373 valid-UTF-8 pages cp1252 or similar, and 14 of them come
    out with mojibake (``BeitrÃ¤ge``) under ``detect``.
    """
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    if policy == "auto":
        try:
            data.decode("utf-8")
            return bytes_to_str(data, "utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
        if declared:
            try:
                data.decode(declared)
                return bytes_to_str(data, declared), declared.lower()
            except (UnicodeDecodeError, LookupError):
                pass
    elif policy != "detect":
        raise ValueError(f"pool extract: encoding must be one of {ENCODING_POLICIES}, got {policy!r}")
    enc = detect_encoding(data)
    return bytes_to_str(data, enc), enc


def extract_main_text(html: str | bytes, settings: dict | None = None) -> str:
    """Main-content plain text of one page (resiliparse, DCLM settings unless given)."""
    from resiliparse.extract.html2text import extract_plain_text

    if isinstance(html, bytes):
        html = decode_html(html)[0]
    return extract_plain_text(html, **(DCLM_EXTRACTION if settings is None else settings))


def extract_page(html: str, settings: dict, full_page: bool) -> tuple[str, str | None, str | None]:
    """(main text, title, full-page text or None) from one parse of the page."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    text = extract_plain_text(tree, **settings)
    title = tree.title or None
    full = extract_plain_text(tree, **{**settings, "main_content": False}) if full_page else None
    return text, title, full

