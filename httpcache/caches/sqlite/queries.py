"""The SQLite cache's inspection API as index queries: listing, counting, deleting,
statistics and compaction, without reading bodies or whole heads."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ...errors import StorageError
from ..base import CacheStats, EntryInfo, url_matches
from . import index
from .connections import Connections, checkpoint
from .paths import disk_bytes

logger = logging.getLogger("httpcache")

#: Rows fetched at a time when listing.
PAGE_SIZE = 1000
_make_info = EntryInfo._make


def pages(
    connections: Connections, sql: str, params: Sequence[Any]
) -> Iterator[list[tuple[Any, ...]]]:
    """Rows of a query run on a reader connection of the pool, a page at a time:
    one snapshot for the whole listing, and the caller may write to the cache
    between pages (its writes go through its own connection)."""
    with connections.errors("list"):
        conn = connections.acquire_reader()
    try:
        with connections.errors("list"):
            cursor = conn.execute(sql, params)
        try:
            while True:
                with connections.errors("list"):
                    rows = cursor.fetchmany(PAGE_SIZE)
                if not rows:
                    return
                yield rows
        finally:
            cursor.close()
    finally:
        connections.release_reader(conn)


def entries(
    connections: Connections,
    expired: bool | None,
    url: str | None,
    host: str | None,
    now: float,
) -> Iterator[EntryInfo]:
    """Entries' metadata from the indexed columns, filtered in SQL."""
    where: list[str] = []
    params: list[Any] = []
    if expired is True:
        where.append(index.EXPIRED)
        params.extend(index.expired_params(now))
    elif expired is False:
        where.append("(expires IS NULL OR expires > ?)")
        params.append(now)
    if host is not None:
        where.append("host = ?")
        params.append(host.lower())
    if url is not None:
        where.append(f"{index.URL_REST} GLOB ?")
        params.append(index.glob_prefilter(url))
    sql = f"SELECT {index.INFO_COLUMNS} FROM entries"
    if where:
        sql += " WHERE " + " AND ".join(where)
    for page in pages(connections, sql, params):
        if url is not None:
            page = [row for row in page if url_matches(row[3], url)]
        yield from map(_make_info, page)


def has_url(connections: Connections, url: str) -> bool:
    with connections.errors("look up"):
        row = (
            connections.connection()
            .execute(
                "SELECT 1 FROM entries WHERE url_hash = ? AND url = ? LIMIT 1",
                (index.text_hash(url), url),
            )
            .fetchone()
        )
    return row is not None


def delete(
    connections: Connections,
    keys: Iterable[str],
    urls: list[str],
    expired: bool,
    older_than: float | None,
    now: float,
) -> int:
    """Delete by key, URL, expiry or age in one transaction; return how many went."""
    keys = set(keys)
    wanted_urls = [(index.text_hash(u), u) for u in urls]
    if not (keys or wanted_urls or expired or older_than is not None):
        return 0
    removed = 0
    with connections.transaction("delete", bulk=True) as conn:
        # Each statement counts rows still there, so the sum counts each once.
        if keys:
            removed += index.delete_where(
                conn, index.BY_KEY, [(index.text_hash(k), k) for k in keys]
            )
        if wanted_urls:
            removed += index.delete_where(conn, "url_hash = ? AND url = ?", wanted_urls)
        if expired:
            removed += index.delete_where(conn, index.EXPIRED, [index.expired_params(now)])
        if older_than is not None:
            removed += index.delete_where(conn, "? - created_at > ?", [(now, older_than)])
        index.delete_orphans(conn, time.time())
    return removed


def stats(connections: Connections, now: float) -> CacheStats:
    """Every figure from one snapshot; what the file and its WAL take on disk, and
    what of it no live entry uses (free pages, and the WAL)."""
    with connections.errors("stats"):
        conn = connections.connection()
        conn.execute("BEGIN")
        try:
            (expired,) = conn.execute(
                f"SELECT count(*) FROM entries WHERE {index.EXPIRED}", index.expired_params(now)
            ).fetchone()
            per_host = dict(conn.execute("SELECT host, count(*) FROM entries GROUP BY host"))
            counts = dict(conn.execute("SELECT name, value FROM counters"))
            page_size, _, free = index.pages(conn)
        finally:
            conn.rollback()
    file_bytes, wal_bytes = disk_bytes(connections.path)
    return CacheStats(
        counts.get("entries", 0),
        counts.get("body_bytes", 0),
        expired,
        counts.get("hits", 0),
        counts.get("misses", 0),
        per_host,
        disk_bytes=file_bytes + wal_bytes,
        reclaimable=free * page_size + wal_bytes,
    )


def count(connections: Connections) -> int:
    with connections.errors("count"):
        row = (
            connections.connection()
            .execute("SELECT value FROM counters WHERE name = 'entries'")
            .fetchone()
        )
    return 0 if row is None else int(row[0])


def clear(connections: Connections) -> None:
    """Remove every entry (the hit and miss counts stay), then give the space back."""
    with connections.transaction("clear") as conn:
        for table in ("entries", "heads", "bodies", "writers"):
            conn.execute(f"DELETE FROM {table}")
        conn.execute(
            "UPDATE counters SET value = 0 WHERE name IN ('entries', 'body_bytes', 'head_bytes')"
        )
    try:
        compact(connections)
    except StorageError as exc:
        logger.warning("SQLite cache %s: cleared but not compacted: %s", connections.path, exc)


def compact(connections: Connections) -> int:
    """Give the file's free pages back to the file system (an incremental vacuum, which
    needs no copy of the file; a full ``VACUUM`` for a file made without it), then
    empty the WAL into the file; return the bytes given back."""
    before = sum(disk_bytes(connections.path))
    with connections.errors("compact"):
        conn = connections.connection()
        if connections.read_only:
            raise StorageError(f"SQLite cache {connections.path} is read-only: not compacted")
        try:
            (mode,) = conn.execute("PRAGMA auto_vacuum").fetchone()
            if mode == 2:  # INCREMENTAL; run to its end (``execute`` frees one page)
                conn.executescript("PRAGMA incremental_vacuum;")
            else:
                conn.execute("VACUUM")
            checkpoint(conn)
        except sqlite3.OperationalError as exc:  # busy: readers elsewhere, say
            raise StorageError(f"SQLite cache {connections.path}: not compacted: {exc}") from exc
    return max(before - sum(disk_bytes(connections.path)), 0)
