"""How ``hc`` ends: one exit status per kind of outcome (httpie's numbers where it has one).

The man page's EXIT STATUS section is generated from this enum and its comments, so
add a member here (with a ``#:`` comment) and regenerate (``python -m
httpcache_cli.gen_docs``).
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Exit codes of ``hc``."""

    #: Success.
    SUCCESS = 0
    #: An error not listed below, such as an unreachable host or a refused connection.
    ERROR = 1
    #: The request timed out (--timeout).
    ERROR_TIMEOUT = 2
    #: With --check-status: the server answered 3xx (a redirect not followed).
    ERROR_HTTP_3XX = 3
    #: With --check-status: the server answered 4xx.
    ERROR_HTTP_4XX = 4
    #: With --check-status: the server answered 5xx.
    ERROR_HTTP_5XX = 5
    #: More redirects than allowed (--follow).
    ERROR_TOO_MANY_REDIRECTS = 6
    #: --offline and nothing usable is stored (only-if-cached, RFC 9111 §5.2.1.7).
    ERROR_NOT_CACHED = 7
    #: Bad usage: unknown option, bad URL, bad duration, bad heuristic.
    ERROR_USAGE = 64
    #: No cached entry has that key or URL (inspect, rm).
    ERROR_NOT_FOUND = 66
    #: The cache cannot be reached or loaded (Redis unreachable, backend not installed).
    ERROR_CACHE_UNAVAILABLE = 69
    #: An internal error (a bug in hc: please report it).
    ERROR_INTERNAL = 70
    #: A folder or file cannot be written (cache folder, --output file).
    ERROR_CANNOT_WRITE = 73
    #: The cache failed to read or write (damaged database, disk full).
    ERROR_STORAGE = 74
    #: Interrupted by Ctrl-C.
    ERROR_CTRL_C = 130
    #: The reader of hc's output went away (a closed pipe, as in ``hc get URL | head``).
    ERROR_BROKEN_PIPE = 141


def for_http_status(status: int, followed: bool = False) -> ExitStatus:
    """The --check-status exit code for an HTTP status (httpie's rule for 3xx)."""
    if 300 <= status < 400 and not followed:
        return ExitStatus.ERROR_HTTP_3XX
    if 400 <= status < 500:
        return ExitStatus.ERROR_HTTP_4XX
    if 500 <= status < 600:
        return ExitStatus.ERROR_HTTP_5XX
    return ExitStatus.SUCCESS
