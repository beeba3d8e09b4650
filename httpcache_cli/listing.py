"""``hc cache ls`` on a terminal: one line per entry, fitted to the terminal's width.

The URL column takes what the others leave; a URL longer than that keeps its host
and the end of its path, its query and then the middle of its path elided. A URL
given to ``--url`` is matched as the cache stores it (``url_pattern``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from . import inputs, output
from .errors import CliError
from .views import Table

if TYPE_CHECKING:
    from httpcache import Entry
    from httpcache.caches import BaseCache


#: The narrowest the URL column gets, however narrow the terminal.
MIN_URL_WIDTH = 20
#: Key characters in a listing fitted to the terminal (any 4 or more name an entry).
FITTED_KEY = 8


def fitted_table(
    entries: list[Entry], now: float, caption: str, state: Callable[[Entry, float], str]
) -> Table:
    """One line per entry in the terminal's width: the URL elided in its middle, the
    state told by colour and by EXPIRES (in 5m, 3m ago); METHOD only if not all GET."""
    import shutil

    methods = any(e.method != "GET" for e in entries)
    rows = [
        [
            e.key[:FITTED_KEY],
            *([e.method] if methods else []),
            "",
            str(e.status),
            output.human_size(e.size),
            output.relative(e.expires, now),
        ]
        for e in entries
    ]
    columns = ["KEY", *(["METHOD"] if methods else []), "URL", "STATUS", "SIZE", "EXPIRES"]
    at = columns.index("URL")
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    others = sum(w for i, w in enumerate(widths) if i != at) + 2 * (len(columns) - 1)
    room = max(MIN_URL_WIDTH, shutil.get_terminal_size().columns - others)
    for row, entry in zip(rows, entries, strict=True):
        row[at] = elide_url(entry.url, room)
    return Table(
        columns,
        rows,
        right=frozenset({"STATUS", "SIZE"}),
        row_styles=[state(e, now) for e in entries],
        caption=caption,
        plain_lines=True,
    )


def elide_url(url: str, width: int) -> str:
    """The URL without its scheme in at most ``width`` characters: the host and the
    end of the path kept, the query (then the middle of the path) elided."""
    shown = url.split("://", 1)[-1]
    if len(shown) <= width:
        return shown
    host, _, rest = shown.partition("/")
    path, has_query, _ = rest.partition("?")
    suffix = ""
    if has_query:
        if len(host) + len(path) + 3 <= width:
            return f"{host}/{path}?\u2026"
        rest, suffix = path, "?\u2026"
    room = width - len(host) - 2 - len(suffix)
    if room < 4:
        return shown[: width - 1] + "\u2026"
    return f"{host}/\u2026{rest[len(rest) - room :]}{suffix}"


def url_pattern(cache: BaseCache, typed: str) -> str:
    """A glob for ``entries(url=...)``: a URL without ``*`` is matched as the cache
    stores it (scheme added, normalized as a request's), the rest as a glob."""
    if "*" in typed or "[" in typed:
        return typed
    try:
        url = cache.url_normalizer(inputs.parse_url(typed))
    except CliError:
        return typed
    return url.replace("[", "[[]").replace("?", "[?]")
