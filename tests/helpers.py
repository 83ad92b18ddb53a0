"""What the tests share: the repository's paths, fixtures and golden files, and a local HTTP server.

Tests live in folders mirroring the package (``tests/curate/``, ``tests/eval/``, ...), so a path
relative to a test file depends on its depth; they import these instead.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import textwrap
import threading
from pathlib import Path
from typing import Iterator

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"
CURATE_FIXTURES = FIXTURES / "curate"
GOLDEN_DIR = TESTS / "golden"

# Prepended to a child Python's code: blocks every import of winnow (the repository and the
# installed package alike), as on a machine that never installed it; the child exits if winnow
# is still importable.
NO_WINNOW_GUARD = textwrap.dedent("""
    import importlib.abc, sys
    class _NoWinnow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "winnow" or name.startswith("winnow."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
    sys.meta_path.insert(0, _NoWinnow())
    try:
        import winnow  # noqa: F401
        raise SystemExit("winnow is importable")
    except ModuleNotFoundError:
        pass
""")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve_folder(root: Path) -> Iterator[str]:
    """Serve ``root`` (directory listings included) with Python's http.server on localhost, quietly;
    yields the base URL and shuts the server down after."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
