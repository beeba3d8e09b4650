"""What ``hc get`` prints: --print's parts on stdout, -v and status lines on stderr.

stdout gets, in order, what ``--print`` names: H (request head), B (request body),
h (response head), b (response body), m (Cache-Status and time). A body is written
byte for byte unless --pretty formats it (JSON with sorted keys, the default on a
terminal), and coloured by rich only when colours are on. Every header line is
escaped (``output.safe``) so that a server cannot move the cursor or retitle the
terminal; the body is the server's, as asked.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from . import output

if TYPE_CHECKING:
    from .fetching import Fetch

CHUNK = 64 * 1024
#: Bodies larger than this are written as they come, never formatted.
FORMAT_LIMIT = 16 * 1024 * 1024
DEFAULT_STYLE = "monokai"


# ---- stderr --------------------------------------------------------------------------------


def status_text(response: Any) -> str:
    return output.safe(f"HTTP {response.status_code} {response.reason or ''}".rstrip())


def status_lines(response: Any, fetch: Fetch, warned: bool) -> None:
    """On a terminal: a status line for each redirect followed and for a final answer
    that is not 2xx (unless -v, the printed head or a warning shows it already)."""
    if fetch.verbose or not output.is_terminal(sys.stderr):
        return
    lines = []
    for hop in getattr(response, "history", None) or ():
        location = hop.headers.get("location")
        arrow = f" -> {output.safe(location)}" if location else ""
        lines.append(output.safe(output.status_line(hop)) + arrow)
    head_on_terminal = "h" in fetch.what() and output.is_terminal(sys.stdout)
    if not (200 <= response.status_code < 300) and not warned and not head_on_terminal:
        lines.append(output.safe(output.status_line(response)))
    if not lines:
        return
    if output.wants_color(sys.stderr):
        from . import render

        render.print_status_lines(lines, sys.stderr)
    else:
        sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


def verbose(response: Any, fetch: Fetch) -> None:
    """-v: the request and response heads and the Cache-Status, on stderr. A hit says
    so instead of showing a request that was never sent (a revalidated one shows the
    conditional request that was); with --follow every hop."""
    blocks: list[tuple[list[str], bool]] = []
    for hop in [*(getattr(response, "history", None) or ()), response]:
        sent = getattr(hop, "sent_request", None)  # a revalidation's conditional request
        if getattr(hop, "from_cache", False) and sent is None:
            blocks.append(([f"(served from the cache: {hop.request.method} {hop.url})"], False))
        else:
            blocks.append((output.request_head(sent or hop.request), False))
        lines = output.response_head(hop)
        lines.append(
            "Cache-Status: "
            + output.cache_status(hop, refresh=fetch.refresh, force_refresh=fetch.force_refresh)
        )
        blocks.append((lines, True))
    blocks = [([output.safe(line) for line in lines], is_response) for lines, is_response in blocks]
    if output.wants_color(sys.stderr):
        from . import render

        for lines, is_response in blocks:
            render.print_head(lines, sys.stderr, response=is_response)
            sys.stderr.write("\n")
    else:
        sys.stderr.write("".join("\n".join(lines) + "\n\n" for lines, _ in blocks))
    sys.stderr.flush()


# ---- stdout --------------------------------------------------------------------------------


def to_stdout(response: Any, what: str, fetch: Fetch, read_body: bool = True) -> None:
    """Print the parts ``what`` names; read the body to its end (so that it is
    stored) unless ``read_body`` is false, printing it only if ``b`` is asked for."""
    pretty = _pretty(fetch)
    colour = pretty in ("all", "colors") and _colours_allowed()
    blocks = 0
    if "H" in what:
        _head(output.request_head(response.request), colour, response=False)
        blocks += 1
    if "B" in what:
        body = _request_body(response.request)
        if body:
            output.write_stdout(body + b"\n")
            blocks += 1
    if blocks and ("h" in what or "b" in what):
        output.write_stdout(b"\n")
    if "h" in what:
        _head(output.response_head(response), colour, response=True)
        if "b" in what:
            output.write_stdout(b"\n")
    if "b" in what and response.request.method != "HEAD":
        _body(response, pretty, colour, fetch)
    elif read_body:
        drain(response)
    if "m" in what:
        lines = ["Cache-Status: " + output.cache_status(response)]
        elapsed = getattr(response, "elapsed", None)
        if elapsed is not None and not getattr(response, "from_cache", False):
            lines.append(f"Elapsed time: {elapsed.total_seconds():.6f}s")
        output.write_stdout(("\n" if "h" in what or "b" in what else "").encode())
        output.write_stdout(("\n".join(lines) + "\n").encode())
    output.flush_stdout()


def drain(response: Any) -> None:
    for _ in response.iter_content(CHUNK):  # nothing shown, but the end lets it be stored
        pass


def _pretty(fetch: Fetch) -> str:
    if fetch.pretty is not None:
        return fetch.pretty
    return "all" if output.is_terminal(sys.stdout) else "none"


def _colours_allowed() -> bool:
    return not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _head(lines: list[str], colour: bool, response: bool) -> None:
    lines = [output.safe(line) for line in lines]
    if colour:
        from . import render

        output.flush_stdout()
        render.print_head(lines, sys.stdout, response=response, force=True)
    else:
        output.write_stdout(("\n".join(lines) + "\n").encode())


def _request_body(request: Any) -> bytes:
    body = getattr(request, "body", None)
    if isinstance(body, str):
        return body.encode("utf-8")
    return body if isinstance(body, bytes) else b""


def _body(response: Any, pretty: str, colour: bool, fetch: Fetch) -> None:
    chunks = response.iter_content(CHUNK)
    first = next(chunks, b"")
    if first and b"\0" in first[:1024] and output.is_terminal(sys.stdout):
        size = len(first) + sum(len(chunk) for chunk in chunks)  # read on, so it is stored
        output.err(
            f"hc: binary body ({output.human_size(size)}) not shown on a terminal; "
            "use -o FILE or redirect stdout"
        )
        return
    if pretty in ("all", "format") and is_json(response):
        body = first + b"".join(_limited(chunks, FORMAT_LIMIT - len(first)))
        formatted = format_json(body, fetch.sort_keys) if len(body) <= FORMAT_LIMIT else None
        if formatted is None:
            output.write_stdout(body)
            for chunk in chunks:
                output.write_stdout(chunk)
        elif colour:
            from . import render

            output.flush_stdout()
            render.print_json(formatted, sys.stdout, fetch.style or DEFAULT_STYLE)
        else:
            output.write_stdout(formatted.encode("utf-8"))
        return
    output.write_stdout(first)
    for chunk in chunks:
        output.write_stdout(chunk)


def _limited(chunks: Any, budget: int) -> Any:
    """Chunks while they fit in ``budget`` bytes, and the one that goes past it."""
    for chunk in chunks:
        yield chunk
        budget -= len(chunk)
        if budget < 0:
            return


def is_json(response: Any) -> bool:
    kind = str(response.headers.get("content-type", "")).split(";")[0].strip().lower()
    return kind.endswith(("/json", "+json")) or kind in ("text/javascript", "application/x-json")


def format_json(body: bytes, sort_keys: bool) -> str | None:
    """The body indented as httpie does (4 spaces, keys sorted unless asked not to),
    or None if it is not JSON."""
    import json

    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return json.dumps(data, indent=4, sort_keys=sort_keys, ensure_ascii=False) + "\n"
