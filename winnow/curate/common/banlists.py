"""Banlists: the three ways a step takes a list of banned strings, and reading them.

``banlist`` (inline: a string or a list), ``data_banlist`` (a name under
``<data root>/banlists/``, read at run time, so a list such as LDNOOBW is never copied into the
repository) or ``banlist_file`` (a file beside the recipe); exactly one of them
(``check_banlist_source``; ``load_banlist`` returns the entries). Files hold one entry per line,
read as DCLM reads them (``str.splitlines``, blank lines skipped).
"""

from __future__ import annotations

from pathlib import Path

from winnow.curate.base import ParamError
from winnow.paths import DataRootError, data_root

BANLISTS_DIR = "banlists"


def banlist_path(name: str, param: str = "data_banlist") -> Path:
    """``<data root>/banlists/<name>`` (``.txt`` added when missing); ParamError if absent."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ParamError(param, f"must be the name of a file under <data root>/{BANLISTS_DIR}/ "
                         f"(no folders), got {name!r}")
    try:
        root = data_root() / BANLISTS_DIR
    except DataRootError as e:
        raise ParamError(param, f"needs the data root: {e}") from None
    for candidate in (root / name, root / f"{name}.txt"):
        if candidate.is_file():
            return candidate
    have = sorted(p.stem for p in root.glob("*.txt")) if root.is_dir() else []
    raise ParamError(param, f"no banlist {name!r} in {root} (available: "
                     f"{', '.join(have) or 'none'})")


def read_banlist(path: str | Path, param: str = "data_banlist") -> list[str]:
    """One entry per line (``str.splitlines``, as DCLM reads them); blank lines skipped. A file
    that is not UTF-8 text is a ParamError naming ``param`` (never showing its bytes)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ParamError(param, f"{path} is not UTF-8 text (byte {e.start}); a banlist holds one "
                         "banned string a line") from None
    except OSError as e:
        raise ParamError(param, f"{path} cannot be read ({e.strerror or e})") from None
    if "\x00" in text:
        raise ParamError(param, f"{path} holds NUL bytes: not a text banlist (one banned string a line)")
    return [line for line in text.splitlines() if line]


def banlist_arg(param: str, banlist) -> list[str]:
    """An inline ``banlist`` parameter as a list: a non-empty string or list of them."""
    if isinstance(banlist, str):
        banlist = [banlist]
    if not isinstance(banlist, list) or not banlist or not all(
            isinstance(b, str) and b for b in banlist):
        raise ParamError(param, f"must be a non-empty string or list of non-empty strings, "
                         f"got {banlist!r}")
    return banlist


def check_banlist_source(banlist, data_banlist: str | None, banlist_file: str | None) -> None:
    """ParamError unless exactly one of the three banlist parameters is given and usable."""
    given = [n for n, v in (("banlist", banlist), ("data_banlist", data_banlist),
                            ("banlist_file", banlist_file)) if v is not None]
    if len(given) != 1:
        raise ParamError("banlist", "give exactly one of banlist (inline), data_banlist (a name "
                         "under <data root>/banlists/) and banlist_file (a file beside the "
                         f"recipe); got {', '.join(given) or 'none'}")
    if banlist is not None:
        banlist_arg("banlist", banlist)
    if data_banlist is not None:
        banlist_path(data_banlist)
    if banlist_file is not None and not read_banlist(banlist_file, "banlist_file"):
        raise ParamError("banlist_file", f"{banlist_file} holds no entries (one banned string a line)")


def load_banlist(banlist, data_banlist: str | None, banlist_file: str | None) -> list[str]:
    """The entries named by exactly one of the three banlist parameters."""
    check_banlist_source(banlist, data_banlist, banlist_file)
    if banlist is not None:
        return banlist_arg("banlist", banlist)
    path = banlist_path(data_banlist) if data_banlist is not None else banlist_file
    items = read_banlist(path, "data_banlist" if data_banlist is not None else "banlist_file")
    if not items:
        raise ParamError("data_banlist" if data_banlist is not None else "banlist_file",
                         f"{path} holds no entries")
    return items
