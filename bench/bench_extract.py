"""HTML main-content extraction throughput: resiliparse (winnow's pool extraction) vs trafilatura.

    python bench/bench_extract.py [--limit 300] [--repeats 1]

Same raw pages for both (spread over <data>/pool/raw_html/*.tar.zst), decoded once beforehand;
only extraction is timed, in CPU seconds of this process. resiliparse runs with DCLM's settings
(winnow.pool.extract.htmltext.DCLM_EXTRACTION), trafilatura with its defaults (``extract(html)``), and only
if it is installed (``pip install trafilatura``). Prints pages/CPU-s for each and their ratio.

``bench_curate.py --parts extract`` calls :func:`bench_extract` from here; the test suite runs it
on a few pages (tests/pool/test_extract.py).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from winnow.paths import data_root
from winnow.pool.extract.htmltext import decode_html, extract_main_text
from winnow.pool.extract.readers import tar_members
from winnow.pool.sources import SourceUnit


def sample_pages(limit: int = 300, root=None) -> list[bytes]:
    """Up to ``limit`` raw pages from ``<data>/pool/raw_html/*.tar.zst``, spread over the tarballs."""
    tars = sorted(Path(root or data_root()).glob("pool/raw_html/*.tar*"))
    if not tars:
        raise FileNotFoundError("no pool/raw_html/*.tar* under the data root")
    per = max(1, limit // len(tars))
    pages: list[bytes] = []
    for t in tars:
        unit = SourceUnit("html_tar", t.name, str(t))
        k = 0
        for m, tf in tar_members(unit):
            if k >= per or len(pages) >= limit:
                break
            if m.name.endswith((".html", ".htm")):
                pages.append(tf.extractfile(m).read())  # type: ignore[union-attr]
                k += 1
    return pages


def bench_extract(pages: list[bytes] | None = None, *, limit: int = 300, repeats: int = 1,
                  verbose: bool = True) -> dict:
    """Pages per CPU-second of resiliparse (DCLM settings) vs trafilatura on the same pages.

    Pages are decoded once beforehand (same strings for both); only extraction is timed, with
    ``time.process_time`` (CPU of this process, so other load on the machine matters less).
    trafilatura runs with its defaults (``extract(html)``, text output) when it is installed.
    """
    pages = pages if pages is not None else sample_pages(limit)
    html = [decode_html(p)[0] for p in pages]
    mb = sum(len(p) for p in pages) / 1e6

    def timed(fn) -> float:
        best = float("inf")
        for _ in range(repeats):
            t0 = time.process_time()
            for h in html:
                fn(h)
            best = min(best, time.process_time() - t0)
        return best

    res = {"pages": len(html), "html_mb": round(mb, 2)}
    t = timed(lambda h: extract_main_text(h))
    res["resiliparse_pages_per_cpu_s"] = round(len(html) / t, 1)
    res["resiliparse_mb_per_cpu_s"] = round(mb / t, 2)
    try:
        import trafilatura
    except ImportError:
        trafilatura = None
    if trafilatura is not None:
        t2 = timed(lambda h: trafilatura.extract(h))
        res["trafilatura_pages_per_cpu_s"] = round(len(html) / t2, 1)
        res["ratio_resiliparse_over_trafilatura"] = round(t2 / t, 2)
    if verbose:
        print(f"extraction on {res['pages']} raw_html pages ({res['html_mb']} MB of HTML), CPU time:")
        print(f"  resiliparse  {res['resiliparse_pages_per_cpu_s']:>8.1f} pages/CPU-s "
              f"({res['resiliparse_mb_per_cpu_s']} MB/CPU-s)")
        if "trafilatura_pages_per_cpu_s" in res:
            print(f"  trafilatura  {res['trafilatura_pages_per_cpu_s']:>8.1f} pages/CPU-s")
            print(f"  ratio resiliparse/trafilatura: {res['ratio_resiliparse_over_trafilatura']}x")
        else:
            print("  trafilatura not installed: no ratio (pip install trafilatura to compare)")
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=300, help="pages (spread over the tarballs)")
    ap.add_argument("--repeats", type=int, default=1, help="timed passes per extractor (best kept)")
    a = ap.parse_args()
    bench_extract(limit=a.limit, repeats=a.repeats)
