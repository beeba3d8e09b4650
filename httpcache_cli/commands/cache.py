"""``hc cache ls | inspect | rm | clear | stats | remove-expired``: a shell on the cache.

Everything goes through the library's inspection API (``entries``, ``get``,
``read_body``, ``delete``, ``clear``, ``remove_expired``, ``stats``) on the same
session the fetch commands use, so URLs are normalized and redacted the same way.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from .. import inputs, output
from ..config import CacheOptions, options_of
from ..errors import CliError, usage
from ..exit_codes import ExitStatus
from ..listing import fitted_table, url_pattern
from ..views import Section, Table, show

if TYPE_CHECKING:
    from httpcache import Entry
    from httpcache.caches import BaseCache

SHORT_KEY = 12
MIN_PREFIX = 4


class Sort(StrEnum):
    url = "url"
    key = "key"
    host = "host"
    method = "method"
    status = "status"
    size = "size"
    age = "age"
    expires = "expires"


AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Target = Annotated[
    str,
    typer.Argument(
        metavar="KEY|URL",
        help="A key (or a unique prefix of one, as ls shows) or a URL.",
        show_default=False,
    ),
]


@contextmanager
def opened(ctx: typer.Context) -> Iterator[tuple[CacheOptions, BaseCache]]:
    """The cache of this invocation, through a session (its URL normalizer set)."""
    options = options_of(ctx)
    session = options.open_session()
    try:
        yield options, session.cache
    finally:
        session.close()
        session.cache.close()


# ---- ls ------------------------------------------------------------------------------------


def ls(
    ctx: typer.Context,
    expired: Annotated[bool, typer.Option("--expired", help="Only expired entries.")] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="Only fresh entries.")] = False,
    host: Annotated[
        str | None, typer.Option("--host", metavar="HOST", help="Only entries of this host.")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="GLOB",
            help="Only URLs matching GLOB (* crosses /; the scheme is optional).",
        ),
    ] = None,
    sort: Annotated[Sort, typer.Option("--sort", help="Order by this column.")] = Sort.url,
    reverse: Annotated[bool, typer.Option("--reverse", "-r", help="Reverse the order.")] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", metavar="N", min=1, help="Show at most N entries.")
    ] = None,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide", "-w", help="On a terminal too, every column and whole URLs (as in a pipe)."
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """List entries: key, method, URL, status, size, age, expires, state.

    On a terminal the listing fits its width, one line per entry (the URL's host and
    end shown, its middle elided); in a pipe, or with --wide, every column in full."""
    if expired and fresh:
        raise usage("--expired and --fresh exclude each other", "use one of them")
    wanted = True if expired else False if fresh else None
    now = output.now()
    with opened(ctx) as (_, cache):
        pattern = None if url is None else url_pattern(cache, url)
        entries = list(cache.entries(expired=wanted, host=host, url=pattern, now=now))
    entries.sort(key=_sort_key(sort, now), reverse=reverse)
    total = len(entries)
    if limit is not None:
        entries = entries[:limit]
    if as_json:
        _print_json([entry_summary(e, now) for e in entries])
        return
    shown = f"{len(entries)} of {total}" if len(entries) < total else str(total)
    caption = f"{shown} {_entries(total)}"
    if not wide and output.is_terminal(sys.stdout):
        show(fitted_table(entries, now, caption, state))
        return
    rows = [
        [
            e.key[:SHORT_KEY],
            e.method,
            e.url,
            str(e.status),
            output.human_size(e.size),
            output.human_duration(now - e.created_at),
            output.relative(e.expires, now),
            state(e, now),
        ]
        for e in entries
    ]
    show(
        Table(
            ["KEY", "METHOD", "URL", "STATUS", "SIZE", "AGE", "EXPIRES", "STATE"],
            rows,
            right=frozenset({"STATUS", "SIZE", "AGE"}),
            row_styles=[state(e, now) for e in entries],
            caption=caption,
        )
    )


def _sort_key(sort: Sort, now: float) -> Any:
    keys = {
        Sort.url: lambda e: (e.url, e.method),
        Sort.key: lambda e: e.key,
        Sort.host: lambda e: (urlsplit(e.url).hostname or "", e.url),
        Sort.method: lambda e: (e.method, e.url),
        Sort.status: lambda e: (e.status, e.url),
        Sort.size: lambda e: (e.size, e.url),
        Sort.age: lambda e: (now - e.created_at, e.url),
        Sort.expires: lambda e: (e.expires is None, e.expires or 0.0, e.url),
    }
    return keys[sort]


def state(entry: Entry, now: float) -> str:
    return "expired" if entry.is_expired_at(now) else "fresh"


def entry_summary(entry: Entry, now: float) -> dict[str, Any]:
    return {
        "key": entry.key,
        "primary_key": entry.primary_key,
        "method": entry.method,
        "url": entry.url,
        "host": urlsplit(entry.url).hostname or "",
        "status": entry.status,
        "size": entry.size,
        "created_at": output.iso(entry.created_at),
        "expires": output.iso(entry.expires),
        "age": round(now - entry.created_at, 3),
        "ttl": None if entry.expires is None else round(entry.expires - now, 3),
        "state": state(entry, now),
    }


# ---- inspect ---------------------------------------------------------------------------------


def inspect(
    ctx: typer.Context,
    target: Target,
    body: Annotated[
        bool, typer.Option("--body", help="Print the stored body (bytes, to stdout) instead.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Everything stored about one entry: request, response headers, validators, freshness."""
    now = output.now()
    with opened(ctx) as (options, cache):
        found = resolve(cache, target)
        if body:
            if len(found) > 1:
                raise usage(
                    f"{target!r} has {len(found)} stored variants (Vary)",
                    "give one of their keys: " + ", ".join(e.key[:SHORT_KEY] for e in found),
                )
            data = None if isinstance(found[0], Unreadable) else cache.read_body(found[0].key)
            if data is None:
                raise _not_found(target)
            output.write_stdout(data)
            output.flush_stdout()
            return
        if as_json:
            _print_json([entry_details(e, now) for e in found])
            return
        sections: list[Section] = []
        for entry in found:
            sections += entry_sections(entry, now, options.location())
    show(sections)


@dataclass(frozen=True)
class Unreadable:
    """An entry the index lists but whose stored head cannot be read (damaged or
    foreign). The library treats it as a miss; the next response replaces it."""

    key: str

    NOTE = "unreadable (damaged or foreign): a miss, replaced by the next response"


def resolve(cache: BaseCache, target: str) -> list[Entry | Unreadable]:
    """Full entries for a key, a unique key prefix, or a URL (every Vary variant)."""
    text = target.strip()
    if _looks_like_key(text):
        entry = cache.get(text)
        if entry is not None:
            return [entry]
        if len(text) < MIN_PREFIX:
            raise usage(
                f"key prefix {text!r} is too short",
                f"give at least {MIN_PREFIX} characters of a key, as 'hc cache ls' shows them",
            )
        if len(text) >= MIN_PREFIX:
            keys = sorted({e.key for e in cache.entries() if e.key.startswith(text)})
            if len(keys) > 1:
                raise usage(
                    f"key prefix {text!r} is ambiguous ({len(keys)} keys)", "give more of it"
                )
            if keys:
                return _full(cache, keys)
        raise _not_found(target)
    url = cache.url_normalizer(inputs.parse_url(text))
    host = urlsplit(url).hostname
    keys = sorted(e.key for e in cache.entries(host=host) if e.url == url)
    if not keys:
        raise _not_found(target)
    return _full(cache, keys)


def _full(cache: BaseCache, keys: list[str]) -> list[Entry | Unreadable]:
    """The heads of listed keys; a listed key whose head cannot be read is marked."""
    found = [entry for key in keys if (entry := cache.get(key)) is not None]
    readable = {entry.key for entry in found}
    marked: list[Entry | Unreadable] = [Unreadable(k) for k in keys if k not in readable]
    found.sort(key=lambda e: e.created_at, reverse=True)
    return [*found, *marked]


def _looks_like_key(text: str) -> bool:
    return 0 < len(text) <= 64 and all(c in "0123456789abcdef" for c in text)


def _not_found(target: str) -> CliError:
    return CliError(
        f"no cached entry for {target!r}",
        "'hc cache ls' lists keys and URLs",
        ExitStatus.ERROR_NOT_FOUND,
    )


def entry_details(entry: Entry | Unreadable, now: float) -> dict[str, Any]:
    from httpcache.policy.freshness import current_age

    if isinstance(entry, Unreadable):
        return {"key": entry.key, "state": "unreadable", "note": Unreadable.NOTE}
    details = entry_summary(entry, now)
    headers = entry.response.headers
    details.update(
        {
            "request": {
                "method": entry.request.method,
                "url": entry.request.url,
                "headers": [list(pair) for pair in entry.request.headers.fields()],
            },
            "response": {
                "status": entry.response.status,
                "reason": entry.response.reason,
                "headers": [list(pair) for pair in headers.fields()],
            },
            "validators": {
                "etag": headers.get("etag"),
                "last_modified": headers.get("last-modified"),
            },
            "vary": [list(pair) for pair in entry.vary],
            "request_time": output.iso(entry.request_time),
            "response_time": output.iso(entry.response_time),
            "stale_until": output.iso(entry.stale_until),
            "current_age": _age(current_age(entry, now)),
        }
    )
    return details


def _age(age: float) -> float | None:
    """An age for JSON: ``None`` when unknown (the clock is behind the entry's arrival)."""
    return None if math.isinf(age) else round(age, 3)


def _age_text(age: float) -> str:
    if math.isinf(age):
        return "unknown: the clock is behind when it was stored, so it counts as stale"
    return f"{output.human_duration(age)} (RFC 9111 §4.2.3)"


def entry_sections(entry: Entry | Unreadable, now: float, location: str) -> list[Section]:
    from httpcache.policy.freshness import current_age

    if isinstance(entry, Unreadable):
        about = [("key", entry.key), ("cache", location), ("state", Unreadable.NOTE)]
        return [Section(f"entry {entry.key}", about, "warn")]
    headers = entry.response.headers
    ttl = "never expires" if entry.expires is None else output.human_duration(entry.expires - now)
    if entry.expires is not None and entry.expires <= now:
        ttl = f"expired {output.human_duration(now - entry.expires)} ago"
    about = [("key", entry.key)]
    if entry.primary_key != entry.key:
        about.append(("primary key", entry.primary_key))
    if entry.vary:
        about.append(("variant", ", ".join(f"{n}{v or ' (absent)'}" for n, v in entry.vary)))
    about += [
        ("cache", location),
        ("size", f"{output.human_size(entry.size)} ({entry.size} bytes)"),
    ]
    validators = [
        ("ETag", headers.get("etag") or "none"),
        ("Last-Modified", headers.get("last-modified") or "none"),
    ]
    if not (headers.get("etag") or headers.get("last-modified")):
        validators.append(("", "no validator: once stale it is fetched again in full (§4.3.1)"))
    freshness = [
        ("state", state(entry, now)),
        ("stored", f"{output.iso(entry.created_at)} ({output.relative(entry.created_at, now)})"),
        (
            "expires",
            f"{output.iso(entry.expires) or 'never'} ({output.relative(entry.expires, now)})",
        ),
        ("ttl", ttl),
        ("age", _age_text(current_age(entry, now))),
        ("kept until", output.iso(entry.stale_until) or "no limit"),
    ]
    request = [("", f"{entry.request.method} {entry.request.url}")]
    request += [(name, value) for name, value in entry.request.headers.fields()]
    reason = f" {entry.response.reason}" if entry.response.reason else ""
    response = [("", f"{entry.response.status}{reason}")]
    response += [(name, value) for name, value in headers.fields()]
    style = "good" if state(entry, now) == "fresh" else "warn"
    return [
        Section(f"{entry.method} {entry.url}", about, style),
        Section("Request", request),
        Section("Response", response),
        Section("Validators", validators),
        Section("Freshness", freshness),
    ]


# ---- rm, clear, remove-expired -------------------------------------------------------------


def rm(
    ctx: typer.Context,
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[KEY|URL|GLOB]...",
            help="Keys (or unique prefixes), URLs, or URL globs such as 'example.org/api/*'.",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        list[str] | None,
        typer.Option(
            "--url",
            metavar="GLOB",
            help="Also remove every entry whose URL matches GLOB (repeatable).",
        ),
    ] = None,
) -> None:
    """Remove entries by key, URL, or URL glob."""
    if not targets and not url:
        raise usage("nothing to remove", "give keys or URLs, or --url GLOB")
    with opened(ctx) as (_, cache):
        keys: set[str] = set()
        for target in targets or []:
            if "*" in target or "[" in target:
                matched = {e.key for e in cache.entries(url=target)}
                if not matched:
                    raise _not_found(target)
                keys.update(matched)
            else:
                keys.update(e.key for e in resolve(cache, target))
        for pattern in url or []:
            keys.update(e.key for e in cache.entries(url=url_pattern(cache, pattern)))
        removed = cache.delete(*sorted(keys)) if keys else 0
    print(f"removed {removed} {_entries(removed)}")


def clear(
    ctx: typer.Context,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask (hc asks only on a terminal).")
    ] = False,
) -> None:
    """Remove every entry of the cache (a damaged SQLite or file cache: its files)."""
    from httpcache.errors import StorageError

    try:
        _clear(ctx, yes)
    except StorageError as exc:
        options = options_of(ctx)
        if options.path is None or not (yes or _confirm_damaged(options)):
            raise
        removed = _remove_files(options)
        output.err(f"hc: warning: the cache was damaged ({exc}); removed its files")
        print(f"removed {removed} damaged {'file' if removed == 1 else 'files'}")


def _confirm_damaged(options: CacheOptions) -> bool:
    if not output.is_terminal(sys.stdin):
        return True
    return typer.confirm(f"The cache {options.location()} is damaged. Remove it?", default=False)


def _remove_files(options: CacheOptions) -> int:
    """Remove the cache's own files: the SQLite database and its journals, or the folder."""
    import shutil

    path = options.path
    assert path is not None
    if options.backend != "sqlite":
        if path.is_dir():
            shutil.rmtree(path)
            return 1
        return 0
    removed = 0
    for suffix in ("", "-wal", "-shm", "-journal"):
        target = path.with_name(path.name + suffix)
        if target.exists():
            target.unlink()
            removed += 1
    return removed


def _clear(ctx: typer.Context, yes: bool) -> None:
    with opened(ctx) as (options, cache):
        count = len(cache)
        if count and not yes and output.is_terminal(sys.stdin):
            question = f"Remove all {count} {_entries(count)} from {options.location()}?"
            if not typer.confirm(question, default=False):
                raise CliError("nothing removed", status=ExitStatus.ERROR)
        cache.clear()
    print(f"removed {count} {_entries(count)}")


def remove_expired(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Only list what would be removed.")
    ] = False,
) -> None:
    """Remove expired entries."""
    now = output.now()
    with opened(ctx) as (_, cache):
        if dry_run:
            doomed = sorted(cache.entries(expired=True, now=now), key=lambda e: e.url)
            for entry in doomed:
                print(output.safe(f"{entry.key[:SHORT_KEY]}  {entry.method} {entry.url}"))
            print(f"would remove {len(doomed)} expired {_entries(len(doomed))}")
            return
        removed = cache.remove_expired(now=now)
    print(f"removed {removed} expired {_entries(removed)}")


def compact(ctx: typer.Context) -> None:
    """Give back the disk space that removed entries leave (SQLite's VACUUM)."""
    with opened(ctx) as (options, cache):
        method = getattr(cache, "compact", None)
        if method is None:
            raise CliError(
                f"the {options.backend} backend cannot compact",
                "its space shrinks by itself",
                ExitStatus.ERROR_CACHE_UNAVAILABLE,
            )
        freed = method()
    print(f"gave back {output.human_size(freed or 0)}" if freed else "nothing to give back")


def _entries(count: int) -> str:
    return "entry" if count == 1 else "entries"


# ---- stats ------------------------------------------------------------------------------------


def stats(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Entries, bytes, expired, per host, hits and misses."""
    with opened(ctx) as (options, cache):
        figures = cache.stats()
    data = figures.as_dict()
    lookups = figures.hits + figures.misses
    data["hit_ratio"] = round(figures.hits / lookups, 4) if lookups else None
    data["backend"] = options.backend
    data["location"] = options.location()
    if as_json:
        _print_json(data)
        return
    ratio = f" ({data['hit_ratio']:.0%} hits)" if lookups else ""
    summary = [
        ("backend", options.backend),
        ("location", options.location()),
        ("entries", str(figures.entries)),
        ("size", f"{output.human_size(figures.bytes)} ({figures.bytes} bytes)"),
        ("expired", str(figures.expired)),
        ("lookups", f"{figures.hits} hits, {figures.misses} misses{ratio}"),
    ]
    hosts = sorted(figures.per_host.items(), key=lambda item: (-item[1], item[0]))
    per_host = [(host or "(none)", str(count)) for host, count in hosts]
    show([Section("Cache", summary), Section("Entries per host", per_host or [("", "none")])])


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))
