"""Fetching through the cache: one ``Fetch`` in, the body out, an exit status back.

The body goes to stdout as bytes, exactly as the session returns it (no charset
decoding; a Content-Encoding such as gzip removed, as browsers and httpie do), or
to a file with ``-o`` (streamed, written whole or not at all). Heads and the cache
status go to stderr with ``-v``, so stdout stays the body.

No typer here: ``fast.py`` runs this for ``hc get URL`` without loading typer.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import inputs, output
from .config import CacheOptions, check_duration
from .errors import CliError, usage
from .exit_codes import ExitStatus, for_http_status

CHUNK = 64 * 1024


@dataclass
class Fetch:
    """One fetch, as the options describe it."""

    request: inputs.RequestInput
    output: Path | None = None
    include: bool = False
    verbose: bool = False
    expire_after: str | None = None
    refresh: bool = False
    force_refresh: bool = False
    offline: bool = False
    no_cache: bool = False
    timeout: float | None = None
    follow: bool = False
    max_redirects: int = 30
    check_status: bool = False

    def check(self) -> None:
        check_duration(self.expire_after, "--expire-after")
        chosen = [
            name
            for name, on in (
                ("--offline", self.offline),
                ("--refresh", self.refresh),
                ("--force-refresh", self.force_refresh),
                ("--no-cache", self.no_cache),
            )
            if on
        ]
        if len(chosen) > 1:
            raise usage(f"{chosen[0]} and {chosen[1]} contradict each other", "choose one")


def make_fetch(method: str, values: dict[str, Any]) -> Fetch:
    """A ``Fetch`` from parsed option values (by parameter name); missing ones default."""
    return Fetch(
        request=inputs.build(
            method,
            values["url"],
            headers=values.get("header"),
            params=values.get("param"),
            data=values.get("data"),
            json_text=values.get("json"),
        ),
        output=values.get("output"),
        include=bool(values.get("include")),
        verbose=bool(values.get("verbose")),
        expire_after=values.get("expire_after"),
        refresh=bool(values.get("refresh")),
        force_refresh=bool(values.get("force_refresh")),
        offline=bool(values.get("offline")),
        no_cache=bool(values.get("no_cache")),
        timeout=values.get("timeout"),
        follow=bool(values.get("follow")),
        max_redirects=values.get("max_redirects", 30),
        check_status=bool(values.get("check_status")),
    )


def run(options: CacheOptions, fetch: Fetch) -> ExitStatus:
    """Perform ``fetch``; return the exit status (errors raise ``CliError``)."""
    fetch.check()
    session = options.open_session()
    try:
        response = _send(session, fetch)
        try:
            return _deliver(response, fetch)
        finally:
            response.close()
    finally:
        session.close()
        session.cache.close()


def _send(session: Any, fetch: Fetch) -> Any:
    request = fetch.request
    session.max_redirects = fetch.max_redirects
    kwargs: dict[str, Any] = {
        "headers": request.headers,
        "params": request.params,
        "data": request.body,
        "timeout": fetch.timeout,
        "allow_redirects": fetch.follow,
        "stream": True,
        "only_if_cached": fetch.offline,
        "refresh": fetch.refresh,
        "force_refresh": fetch.force_refresh,
    }
    if fetch.expire_after is not None:
        kwargs["expire_after"] = fetch.expire_after
    if fetch.no_cache:
        with session.cache_disabled():
            return session.request(request.method, request.url, **kwargs)
    return session.request(request.method, request.url, **kwargs)


def _deliver(response: Any, fetch: Fetch) -> ExitStatus:
    if str(getattr(response, "cache_status", "")) == "only-if-cached":
        raise CliError(
            f"not in the cache: {fetch.request.method} {response.url}",
            "drop --offline to fetch it; 'hc explain --offline URL' says why",
            ExitStatus.ERROR_NOT_CACHED,
        )
    if fetch.verbose:
        _print_verbose(response, fetch)
    is_head = fetch.request.method == "HEAD"
    if fetch.include or is_head:
        output.write_stdout(("\n".join(output.response_head(response)) + "\n\n").encode())
    if is_head:
        for _ in response.iter_content(CHUNK):  # nothing, but the end lets it be stored
            pass
    else:
        if fetch.output is not None and str(fetch.output) != "-":
            download(response, fetch.output)
        else:
            _to_stdout(response)
    status = ExitStatus.SUCCESS
    if fetch.check_status:
        status = for_http_status(response.status_code, fetch.follow)
        if status:
            output.err(f"hc: warning: HTTP {response.status_code} {response.reason or ''}".rstrip())
    return status


def _print_verbose(response: Any, fetch: Fetch) -> None:
    request_lines = output.request_head(response.request)
    response_lines = output.response_head(response)
    response_lines.append(
        "Cache-Status: "
        + output.cache_status(response, refresh=fetch.refresh, force_refresh=fetch.force_refresh)
    )
    if output.wants_color(sys.stderr):
        from . import render

        render.print_head(request_lines, sys.stderr, response=False)
        sys.stderr.write("\n")
        render.print_head(response_lines, sys.stderr)
        sys.stderr.write("\n")
    else:
        sys.stderr.write("\n".join(request_lines) + "\n\n" + "\n".join(response_lines) + "\n\n")
    sys.stderr.flush()


def _to_stdout(response: Any) -> None:
    chunks = response.iter_content(CHUNK)
    first = next(chunks, b"")
    if first and b"\0" in first[:1024] and output.is_terminal(sys.stdout):
        size = len(first) + sum(len(chunk) for chunk in chunks)  # read on, so it is stored
        output.err(
            f"hc: binary body ({output.human_size(size)}) not shown on a terminal; "
            "use -o FILE or redirect stdout"
        )
        return
    output.write_stdout(first)
    for chunk in chunks:
        output.write_stdout(chunk)
    output.flush_stdout()


def download(response: Any, target: Path) -> None:
    """Stream the body to ``target``: a temporary file beside it, renamed when complete."""
    import tempfile  # only downloads need it (with shutil): not on a hit to stdout

    target = target.expanduser()
    hint = "choose another path with -o"
    if target.is_dir():
        raise CliError(f"{target} is a folder", hint, ExitStatus.ERROR_CANNOT_WRITE)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise CliError(
            f"cannot write {target}: {exc.strerror}", hint, ExitStatus.ERROR_CANNOT_WRITE
        ) from exc
    try:
        with os.fdopen(fd, "wb") as sink:
            if output.is_terminal(sys.stderr):
                from . import render

                with render.progress(_expected_size(response), target.name) as advance:
                    for chunk in response.iter_content(CHUNK):
                        _write_file(sink, chunk, target)
                        advance(len(chunk))
            else:
                for chunk in response.iter_content(CHUNK):
                    _write_file(sink, chunk, target)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_file(sink: Any, chunk: bytes, target: Path) -> None:
    try:
        sink.write(chunk)
    except OSError as exc:
        raise CliError(
            f"cannot write {target}: {exc.strerror}",
            "free some space or choose another path with -o",
            ExitStatus.ERROR_CANNOT_WRITE,
        ) from exc


def _expected_size(response: Any) -> int | None:
    if "content-encoding" in response.headers:
        return None  # the length on the wire, not of the decoded body
    try:
        return int(response.headers.get("content-length", ""))
    except ValueError:
        return None
