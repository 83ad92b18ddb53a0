"""HTML main-content extraction throughput: resiliparse (winnow's pool extraction) vs trafilatura.

    python bench/bench_extract.py [--limit 300] [--repeats 1]

Same raw pages for both (spread over <data>/pool/raw_html/*.tar.zst), decoded once beforehand;
only extraction is timed, in CPU seconds of this process. resiliparse runs with DCLM's settings
(winnow.pool.extract.DCLM_EXTRACTION), trafilatura with its defaults (``extract(html)``), and only
if it is installed (``pip install trafilatura``). Prints pages/CPU-s for each and their ratio.
"""

from __future__ import annotations

import argparse

from winnow.pool.extract import bench_extract

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=300, help="pages (spread over the tarballs)")
    ap.add_argument("--repeats", type=int, default=1, help="timed passes per extractor (best kept)")
    a = ap.parse_args()
    bench_extract(limit=a.limit, repeats=a.repeats)
