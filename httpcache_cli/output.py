"""Plain text for people and scripts, without rich (``render`` draws when it is worth it).

Everything here is cheap to import: a cache hit printed to a pipe uses only this.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import urlsplit

#: RFC 9211: the name this cache gives itself in Cache-Status.
CACHE_NAME = "httpcache"


# ---- terminals -----------------------------------------------------------------------

#: C0 and C1 controls but tab, DEL, and the bidirectional overrides that reorder text.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``), for a terminal: what a
    server sends (headers, URLs, reasons) can then neither move the cursor, nor
    retitle the window, nor hide text."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def is_terminal(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def wants_color(stream: IO[Any]) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


def write_stdout(data: bytes) -> None:
    """Bytes to stdout as they are (the text layer flushed first, so nothing reorders).

    A reader that went away (``hc get URL | head``) ends hc quietly, exit 141.
    """
    try:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
    except BrokenPipeError:
        _broken_pipe()


def flush_stdout() -> None:
    try:
        sys.stdout.flush()
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        _broken_pipe()


def _broken_pipe() -> None:
    from .errors import CliError
    from .exit_codes import ExitStatus

    try:  # stdout to /dev/null, so that Python's own flush at exit stays quiet
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    raise CliError("", status=ExitStatus.ERROR_BROKEN_PIPE)


def err(line: str) -> None:
    print(line, file=sys.stderr)


# ---- numbers, times ------------------------------------------------------------------


def human_size(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover - the loop returns


def human_duration(seconds: float) -> str:
    """``45s``, ``12m``, ``3h05m``, ``2d04h``; at most two units."""
    if math.isinf(seconds):
        return "forever"
    seconds = abs(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s" if sec and minutes < 10 else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h" if hours else f"{days}d"


def relative(when: float | None, now: float, never: str = "never") -> str:
    """``in 5m`` or ``3m ago``."""
    if when is None:
        return never
    delta = when - now
    return f"in {human_duration(delta)}" if delta >= 0 else f"{human_duration(delta)} ago"


def iso(when: float | None) -> str | None:
    if when is None:
        return None
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def now() -> float:
    return time.time()


# ---- HTTP messages ---------------------------------------------------------------------


def http_version(response: Any) -> str:
    version = getattr(getattr(response, "raw", None), "version", 11) or 11
    return {9: "HTTP/0.9", 10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}.get(version, "HTTP/1.1")


def status_line(response: Any) -> str:
    reason = response.reason or ""
    return f"{http_version(response)} {response.status_code} {reason}".rstrip()


def response_head(response: Any) -> list[str]:
    """The status line and every header field line, as received."""
    lines = [status_line(response)]
    raw_headers = getattr(getattr(response, "raw", None), "headers", None)
    if raw_headers is not None and hasattr(raw_headers, "items") and response.from_cache is False:
        fields: Iterable[tuple[str, str]] = raw_headers.items()
    else:
        fields = response.headers.items()
    lines += [f"{name}: {value}" for name, value in fields]
    return lines


def request_head(prepared: Any) -> list[str]:
    """The request line and header fields as sent (Host shown, as on the wire)."""
    parts = urlsplit(prepared.url)
    lines = [f"{prepared.method} {prepared.path_url} HTTP/1.1"]
    if "host" not in {name.lower() for name in prepared.headers}:
        lines.append(f"Host: {parts.netloc}")
    lines += [f"{name}: {value}" for name, value in prepared.headers.items()]
    return lines


def cache_status(response: Any, *, refresh: bool = False, force_refresh: bool = False) -> str:
    """The RFC 9211 ``Cache-Status`` value for how ``response`` was obtained."""
    status = str(getattr(response, "cache_status", "bypass"))
    params = [CACHE_NAME]
    if status in ("hit", "stale"):
        params.append("hit")
    else:
        params.append(f"fwd={_forward_reason(response, status, refresh, force_refresh)}")
        if status == "revalidated":
            params.append("fwd-status=304")
        elif status != "only-if-cached":
            params.append(f"fwd-status={response.status_code}")
    expires = getattr(response, "expires", None)
    if expires is not None and status != "only-if-cached":
        params.append(f"ttl={math.floor(expires.timestamp() - now())}")
    if status not in ("hit", "stale") and _stored(response, status):
        params.append("stored")
    key = getattr(response, "cache_key", None)
    if key:
        params.append(f'key="{key}"')
    params.append(f"detail={status}")
    return "; ".join(params)


def _forward_reason(response: Any, status: str, refresh: bool, force_refresh: bool) -> str:
    if status == "bypass":
        if force_refresh:
            return "request"
        method = getattr(getattr(response, "request", None), "method", "GET")
        return "method" if method not in ("GET", "HEAD") else "bypass"
    if status == "revalidated":
        return "request" if refresh else "stale"
    if status == "expired":
        return "stale"
    if status == "only-if-cached":
        return "miss"
    return "uri-miss"


def _stored(response: Any, status: str) -> bool:
    return status != "only-if-cached" and getattr(response, "created_at", None) is not None
