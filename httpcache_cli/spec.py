"""The names and help of the options that the fast path parses too (no typer here).

The typer commands (``cli.py``, ``commands/fetch.py``) declare these options from
this table, and ``fast.py`` reads the same table to serve ``hc get URL`` without
importing typer; ``tests/cli/test_fast.py`` checks that both parse alike.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Spec:
    names: tuple[str, ...]
    help: str
    metavar: str | None = None  # None: a flag
    multiple: bool = False

    @property
    def flag(self) -> bool:
        return self.metavar is None


#: Global options, by parameter name (their environment variables: ``config.ENV``).
GLOBAL: dict[str, Spec] = {
    "backend": Spec(("--backend",), "Where the cache lives.", "BACKEND"),
    "cache_name": Spec(
        ("--cache-name",),
        "The cache's name: NAME.sqlite, folder NAME.filesystem or NAME.separate-body, "
        "or Redis namespace NAME.",
        "NAME",
    ),
    "cache_dir": Spec(
        ("--cache-dir",),
        "The folder of file caches, created 0700 (default: the user cache folder, "
        "such as ~/.cache/httpcache).",
        "DIR",
    ),
    "redis_url": Spec(("--redis-url",), "The Redis server (--backend redis).", "URL"),
    "heuristic": Spec(
        ("--heuristic",),
        "Freshness for responses that give none (RFC 9111 §4.2.2): last-modified, "
        "one-day or expires-after=DURATION.",
        "HEURISTIC",
    ),
    "expire_after": Spec(
        ("--expire-after",),
        "Keep every response fresh for DURATION (90s, 15m, 2h30m, 1d, never), "
        "overriding its headers.",
        "DURATION",
    ),
}

#: Options of get, fetch, head and request, by parameter name.
FETCH: dict[str, Spec] = {
    "header": Spec(
        ("-H", "--header"),
        "A request header (repeatable); 'Name:' removes a default one.",
        "'NAME: VALUE'",
        multiple=True,
    ),
    "param": Spec(("-p", "--param"), "A query parameter (repeatable).", "NAME=VALUE", True),
    "data": Spec(
        ("-d", "--data"),
        "Request body: text, @FILE, or @- for stdin (form content type unless -H sets one).",
        "DATA",
    ),
    "json": Spec(
        ("--json",),
        "A JSON request body (text, @FILE or @-), with JSON Content-Type and Accept.",
        "JSON",
    ),
    "output": Spec(
        ("-o", "--output"),
        "Save the body to FILE (streamed; a progress bar on a terminal).",
        "FILE",
    ),
    "include": Spec(("-i", "--include"), "Print the status line and response headers first."),
    "verbose": Spec(
        ("-v", "--verbose"),
        "Print request and response headers and the Cache-Status (RFC 9211) on stderr.",
    ),
    "expire_after": Spec(
        ("--expire-after",),
        "Keep this response fresh for DURATION (90s, 15m, 1d, never), whatever its headers say.",
        "DURATION",
    ),
    "refresh": Spec(("--refresh",), "Revalidate a stored response with the server before use."),
    "force_refresh": Spec(
        ("--force-refresh",), "Ignore what is stored; fetch again (and store the answer)."
    ),
    "offline": Spec(
        ("--offline",),
        "Only the cache (only-if-cached): never contact the server; a miss is an error (exit 7).",
    ),
    "no_cache": Spec(("--no-cache",), "Neither read nor write the cache."),
    "timeout": Spec(
        ("--timeout",), "Give up on a server silent for this long (exit 2).", "SECONDS"
    ),
    "follow": Spec(("-F", "--follow"), "Follow redirects."),
    "max_redirects": Spec(
        ("--max-redirects",), "With --follow: at most N redirects (exit 6 beyond).", "N"
    ),
    "check_status": Spec(("--check-status",), "Exit 3, 4 or 5 when the status is 3xx, 4xx or 5xx."),
}

#: Which of ``FETCH`` each command takes (the rest of its signature is the URL).
COMMAND_OPTIONS: dict[str, tuple[str, ...]] = {
    "get": tuple(FETCH),
    "head": tuple(k for k in FETCH if k not in ("data", "json", "output", "include")),
    "request": tuple(FETCH),
}
#: Commands the fast path serves, and their method.
FAST_COMMANDS = {"get": "GET", "fetch": "GET", "head": "HEAD"}
