"""Saving a body to a file: ``-o FILE``, ``-d/--download`` and ``-c/--continue``.

A new file is written beside its target and renamed into place when complete, so
an interrupted download never leaves half a file under the final name; an error
status never reaches this module (``fetching`` checks it first), so an error body
is never saved and an existing file is left as it was. ``--continue`` asks for the
rest with ``Range: bytes=N-`` (RFC 9110 §14.2): a 206 is appended, a 200 replaces
the partial file (the server ignored the range). The cache passes ranged requests
through to the origin and stores neither the 206 nor what it answers.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from . import output
from .errors import CliError
from .exit_codes import ExitStatus

if TYPE_CHECKING:
    from .config import CacheOptions
    from .fetching import Fetch

CHUNK = 64 * 1024
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)\s*\Z", re.IGNORECASE)
_FILENAME = re.compile(r"""filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))""", re.IGNORECASE)
_FILENAME_STAR = re.compile(r"filename\*\s*=\s*([\w!#$&+.^`|~-]+)'[^']*'([^;\s]+)", re.IGNORECASE)


def refuse_cache_files(target: Path, options: CacheOptions) -> None:
    """A usage error if ``target`` is one of the cache's own files (or inside its folder)."""
    path = options.path
    if path is None:
        return
    resolved = _resolve(target)
    own = _resolve(path)
    if options.backend == "sqlite":
        hit = resolved.parent == own.parent and resolved.name.startswith(own.name)
    else:
        hit = resolved == own or own in resolved.parents
    if hit:
        raise CliError(
            f"{target} is the cache's own file ({options.location()})",
            "choose another path with -o",
            ExitStatus.ERROR_USAGE,
        )


def _resolve(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError):
        return path.expanduser().absolute()


def resume_headers(target: Path, headers: dict[str, str | None]) -> dict[str, str | None]:
    """The request's headers with ``Range: bytes=N-`` for a partial file of N bytes."""
    size = _size(target)
    if not size:
        return headers
    return {**headers, "Range": f"bytes={size}-"}


def _size(target: Path) -> int:
    try:
        return target.expanduser().stat().st_size
    except OSError:
        return 0


def already_complete(response: Any, fetch: Fetch) -> bool:
    """A 416 to ``Range: bytes=N-`` whose ``Content-Range: bytes */N`` says the file
    has every byte already (RFC 9110 §15.5.17)."""
    if response.status_code != 416 or fetch.output is None:
        return False
    total = str(response.headers.get("content-range", "")).strip()
    size = _size(fetch.output)
    return bool(size) and total.lower() == f"bytes */{size}"


def save(response: Any, fetch: Fetch) -> None:
    """Write the body where -o or -d says; a note on a terminal when done."""
    target = fetch.output if fetch.output is not None else _free_name(download_name(response))
    target = target.expanduser()
    if fetch.cache_options is not None:
        refuse_cache_files(target, fetch.cache_options)
    if fetch.resume and response.status_code == 206:
        _append(response, target)
    else:
        write_new(response, target)
    if output.is_terminal(sys.stderr):
        size = output.human_size(_size(target))
        output.err(f"hc: saved {output.safe(str(target))} ({size})")


def download_name(response: Any) -> str:
    """A file name from Content-Disposition, else the URL's last segment, else index."""
    disposition = response.headers.get("content-disposition") or ""
    name = ""
    star = _FILENAME_STAR.search(disposition)
    if star is not None:
        try:
            name = unquote(star.group(2), encoding=star.group(1), errors="replace")
        except LookupError:
            name = unquote(star.group(2))
    else:
        plain = _FILENAME.search(disposition)
        if plain is not None:
            name = plain.group(1) if plain.group(1) is not None else plain.group(2)
            name = re.sub(r"\\(.)", r"\1", name)
    if not name:
        name = unquote(urlsplit(response.url).path.rstrip("/").rsplit("/", 1)[-1])
    name = _safe_name(name)
    if not name:
        name = "index" + _extension(response)
    return name


def _safe_name(name: str) -> str:
    """No folders, no control characters, no hidden or special names."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip().lstrip(".")
    return "" if name in ("", ".", "..") else name[:200]


def _extension(response: Any) -> str:
    import mimetypes

    kind = str(response.headers.get("content-type", "")).split(";")[0].strip()
    return (mimetypes.guess_extension(kind) or "") if kind else ""


def _free_name(name: str) -> Path:
    """``name``, or ``name-1``, ``name-2`` ... if it exists (as httpie does)."""
    candidate = Path(name)
    index = 0
    while candidate.exists():
        index += 1
        candidate = Path(f"{name}-{index}")
    return candidate


def _append(response: Any, target: Path) -> None:
    """A 206 for ``Range: bytes=N-``: check it starts at N, then append."""
    have = _size(target)
    match = _CONTENT_RANGE.match(str(response.headers.get("content-range", "")))
    if match is None or int(match.group(1)) != have:
        raise CliError(
            f"the server sent another range than the rest of {target} (from byte {have})",
            "download it again without -c",
        )
    try:
        sink = open(target, "ab")  # noqa: SIM115 - closed below, after the loop
    except OSError as exc:
        raise _cannot_write(target, exc) from exc
    with sink:
        _copy(response, sink, target, _expected_size(response), have)


def write_new(response: Any, target: Path) -> None:
    """Stream the body to a temporary file beside ``target``, renamed when complete."""
    import tempfile  # only downloads need it: not on a hit to stdout

    hint = "choose another path with -o"
    if target.is_dir():
        raise CliError(f"{target} is a folder", hint, ExitStatus.ERROR_CANNOT_WRITE)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise _cannot_write(target, exc) from exc
    try:
        with os.fdopen(fd, "wb") as sink:
            _copy(response, sink, target, _expected_size(response), 0)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _copy(response: Any, sink: Any, target: Path, total: int | None, start: int) -> None:
    if output.is_terminal(sys.stderr):
        from . import render

        whole = None if total is None else total + start
        with render.progress(whole, target.name, start) as advance:
            for chunk in response.iter_content(CHUNK):
                _write(sink, chunk, target)
                advance(len(chunk))
        return
    for chunk in response.iter_content(CHUNK):
        _write(sink, chunk, target)


def _write(sink: Any, chunk: bytes, target: Path) -> None:
    try:
        sink.write(chunk)
    except OSError as exc:
        raise _cannot_write(target, exc, "free some space or choose another path with -o") from exc


def _cannot_write(
    target: Path, exc: OSError, hint: str = "choose another path with -o"
) -> CliError:
    return CliError(
        f"cannot write {output.safe(str(target))}: {exc.strerror}",
        hint,
        ExitStatus.ERROR_CANNOT_WRITE,
    )


def _expected_size(response: Any) -> int | None:
    if "content-encoding" in response.headers:
        return None  # the length on the wire, not of the decoded body
    try:
        return int(response.headers.get("content-length", ""))
    except ValueError:
        return None
