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

#: Options of get, fetch, head, post, put, patch, delete and request, by parameter name.
FETCH: dict[str, Spec] = {
    "header": Spec(
        ("-H", "--header"),
        "A request header (repeatable), as curl takes it; 'Name:' removes a default one. "
        "Request items (Name:value) do the same.",
        "'NAME: VALUE'",
        multiple=True,
    ),
    "param": Spec(
        ("--param",),
        "A query parameter (repeatable); the item name==value does the same.",
        "NAME=VALUE",
        True,
    ),
    "raw": Spec(
        ("--raw", "--data"),
        "The request body as it is: text, @FILE, or @- for stdin (form content type "
        "unless --json or -H says otherwise).",
        "DATA",
    ),
    "json": Spec(
        ("-j", "--json"),
        "Send data items as a JSON object (the default), with JSON Content-Type and Accept.",
    ),
    "form": Spec(("-f", "--form"), "Send data items as a form (multipart with file items)."),
    "multipart": Spec(("--multipart",), "Send data items as multipart/form-data."),
    "auth": Spec(
        ("-a", "--auth"),
        "Credentials: USER[:PASSWORD] (asked for when missing), or a token with "
        "--auth-type bearer. Kept out of the cache in clear.",
        "USER[:PASS]",
    ),
    "auth_type": Spec(("-A", "--auth-type"), "basic (default), digest or bearer.", "TYPE"),
    "verify": Spec(
        ("--verify",),
        "Check the server's TLS certificate: yes (default), no, or a CA bundle PATH.",
        "yes|no|PATH",
    ),
    "insecure": Spec(("-k", "--insecure"), "Same as --verify no."),
    "cert": Spec(
        ("--cert",), "A client TLS certificate (with its key, or see --cert-key).", "FILE"
    ),
    "cert_key": Spec(("--cert-key",), "The private key of --cert, if not in its file.", "FILE"),
    "print_": Spec(
        ("-p", "--print"),
        "What to print on stdout: H request headers, B request body, h response headers, "
        "b response body, m Cache-Status and time (default b).",
        "WHAT",
    ),
    "headers_only": Spec(("-h", "--headers"), "Print only the response headers (-p h)."),
    "body_only": Spec(("-b", "--body"), "Print only the response body (-p b)."),
    "include": Spec(
        ("-i", "--include"), "Print the status line and response headers first (-p hb)."
    ),
    "verbose": Spec(
        ("-v", "--verbose"),
        "Print request and response headers and the Cache-Status (RFC 9211) on stderr.",
    ),
    "pretty": Spec(
        ("--pretty",),
        "all: format and colour (the default on a terminal), colors, format, or none "
        "(the default in a pipe: the body byte for byte).",
        "all|colors|format|none",
    ),
    "style": Spec(
        ("-s", "--style"), "The colour scheme (a Pygments style, such as monokai).", "STYLE"
    ),
    "unsorted": Spec(("--unsorted",), "Keep JSON keys in the server's order when formatting."),
    "sorted_": Spec(("--sorted",), "Sort JSON keys when formatting (the default)."),
    "output": Spec(
        ("-o", "--output"),
        "Save the body to FILE (streamed; a progress bar on a terminal); implies --check-status.",
        "FILE",
    ),
    "download": Spec(
        ("-d", "--download"),
        "Save the body to a file named by Content-Disposition or the URL (or -o FILE); "
        "implies --check-status.",
    ),
    "resume": Spec(
        ("-c", "--continue"),
        "With -o FILE: resume a partial download with a Range request.",
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

_BODY_OPTIONS = ("raw", "json", "form", "multipart", "output", "download", "resume")
#: Which of ``FETCH`` each command takes (the rest of its signature is URL and items).
COMMAND_OPTIONS: dict[str, tuple[str, ...]] = {
    "get": tuple(FETCH),
    "head": tuple(k for k in FETCH if k not in _BODY_OPTIONS),
    "request": tuple(FETCH),
}
#: Commands the fast path serves, and their method.
FAST_COMMANDS = {"get": "GET", "fetch": "GET", "head": "HEAD"}
#: Commands named after their method (their options are those of get).
METHOD_COMMANDS = {"post": "POST", "put": "PUT", "patch": "PATCH", "delete": "DELETE"}
#: The answers --pretty takes.
PRETTY = ("all", "colors", "format", "none")
