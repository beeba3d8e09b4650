"""The SQLite cache's index: entry rows, their ids, the counters, eviction.

An entry's ``id`` orders it by expiry: the millisecond its freshness ends in the high
bits, random ones in the low bits (entries expiring in the same millisecond differ
there). The expired entries are thus always the first rows, and ``remove_expired``
deletes one range of ids. Lookups go through integer indexes on 64-bit hashes of
the key, the primary key and the URL; queries compare the text too.

``max_size`` bounds what the file takes on disk, pages and WAL included: the pages
entries use (beyond those of an empty cache) stay within ``FILE_SHARE`` of it, the
WAL within the rest (``WAL_SHARE``, cut back by a checkpoint once it passes that).
What one more byte of body costs in pages is measured, not assumed (a 10 KiB body
takes three 4 KiB pages), so eviction removes least recently used entries until the
pages they would free bring the file within its share.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

from ...errors import DeserializationError
from ...models import Entry
from ...serialize import dumps_entry, loads_entry
from ..base import host_of
from .schema import LAST_ACCESS_INDEX

logger = logging.getLogger("httpcache")

#: A body still being written whose writer gave no sign of life for this many
#: seconds belongs to a dead process; its chunks are deleted.
ORPHAN_AGE = 3600.0
ID_RANDOM_BITS = 20
MAX_ID_MS = (2**63 - 1) >> ID_RANDOM_BITS  # about year 2248; later expiry is clamped
#: Shares of ``max_size``: the pages entries use, and the WAL between checkpoints.
FILE_SHARE = 0.9
WAL_SHARE = 0.1
#: Past its share, the file is brought down to this part of it (so that the next
#: evictions are several commits away).
EVICT_TO = 0.95

INSERT_ENTRY = """
    INSERT INTO entries (id, key, key_hash, primary_key, primary_hash, method, url,
        url_hash, host, status, size, head_size, created_at, expires, stale_until,
        request_time, response_time, last_access, body_id, chunks)
    VALUES (:id, :key, :key_hash, :primary_key, :primary_hash, :method, :url,
        :url_hash, :host, :status, :size, :head_size, :created_at, :expires, :stale_until,
        :request_time, :response_time, :last_access, :body_id, :chunks)
"""

UPDATE_HEAD = """
    UPDATE entries SET id = :id, primary_key = :primary_key, primary_hash = :primary_hash,
        method = :method, url = :url, url_hash = :url_hash, host = :host, status = :status,
        head_size = :head_size, created_at = :created_at, expires = :expires,
        stale_until = :stale_until, request_time = :request_time,
        response_time = :response_time, last_access = :last_access
    WHERE id = :old_id
"""

#: Random ids tried before the free id below one is looked for (``with_free_id``).
RANDOM_DRAWS = 4
#: The largest id at most ``:top`` that no entry has.
FREE_BELOW = """
    SELECT coalesce(
        (SELECT :top WHERE NOT EXISTS (SELECT 1 FROM entries WHERE id = :top)),
        (SELECT a.id - 1 FROM entries AS a WHERE a.id <= :top
            AND NOT EXISTS (SELECT 1 FROM entries AS b WHERE b.id = a.id - 1)
            ORDER BY a.id DESC LIMIT 1))
"""

#: An entry by its key: the hash finds the row through the index, the text makes sure.
BY_KEY = "key_hash = ? AND key = ?"
#: The expired entries: a range of ids (see ``expired_params``), then the exact test.
EXPIRED = "id <= ? AND expires <= ?"
#: The columns of an ``EntryInfo``, in its order.
INFO_COLUMNS = (
    "key, primary_key, method, url, status, size, created_at, expires, "
    "stale_until, request_time, response_time"
)
#: The stored URL without its scheme, as ``url_matches`` compares it.
URL_REST = "CASE instr(url, '://') WHEN 0 THEN url ELSE substr(url, instr(url, '://') + 3) END"


def with_free_id(
    conn: sqlite3.Connection,
    expires: float | None,
    sql: str,
    row: dict[str, Any],
    old_id: int | None = None,
) -> int:
    """Run ``sql`` (the insert of an entry, or an update moving one from ``old_id``)
    with a new id ordered by ``expires``, and return it. An id already taken is
    drawn again; in a crowded millisecond (many entries expiring in it, such as
    responses with one ``Expires`` date) the free id nearest below a drawn one is
    taken: an id may be earlier than its expiry, never later (see ``EXPIRED``)."""
    high = expiry_ms(expires) << ID_RANDOM_BITS
    for attempt in range(RANDOM_DRAWS + 1):
        entry_id = high | random.getrandbits(ID_RANDOM_BITS)
        if attempt == RANDOM_DRAWS:
            (entry_id,) = conn.execute(FREE_BELOW, {"top": entry_id}).fetchone()
        try:
            conn.execute(sql, {**row, "id": entry_id, "old_id": old_id})
        except sqlite3.IntegrityError:
            if attempt == RANDOM_DRAWS:
                raise
            continue
        return int(entry_id)
    raise AssertionError("unreachable")


def expiry_ms(expires: float | None) -> int:
    """The millisecond an entry's id is ordered by: its expiry, clamped to what an
    id holds (never-expiring entries last)."""
    if expires is None or math.isnan(expires) or expires * 1000 >= MAX_ID_MS:
        return MAX_ID_MS
    return max(int(expires * 1000), 0)


def expired_params(now: float) -> tuple[int, float]:
    """Parameters of ``EXPIRED``: every entry with ``expires <= now`` has an id at
    most the first, because ids grow with expiry (see ``expiry_ms``)."""
    return ((expiry_ms(now) + 1) << ID_RANDOM_BITS) - 1, now


def text_hash(text: str) -> int:
    """A signed 64-bit hash of a key or URL for the integer indexes (a collision only
    costs a row more to compare: queries match the text too)."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def head_columns(entry: Entry) -> dict[str, Any]:
    head = dumps_entry(entry)
    return {
        "key": entry.key,
        "key_hash": text_hash(entry.key),
        "primary_key": entry.primary_key,
        "primary_hash": text_hash(entry.primary_key),
        "method": entry.method,
        "url": entry.url,
        "url_hash": text_hash(entry.url),
        "host": host_of(entry.url),
        "status": entry.status,
        "size": entry.size,
        "head_size": len(head),
        "created_at": entry.created_at,
        "expires": entry.expires,
        "stale_until": entry.stale_until,
        "request_time": entry.request_time,
        "response_time": entry.response_time,
        "last_access": time.time(),
        "head": head,
    }


def load(key: str, head: bytes) -> Entry | None:
    """Decode a stored head; an unreadable one is a miss, with a warning."""
    try:
        return loads_entry(head)
    except DeserializationError as exc:
        logger.warning("SQLite cache: skipping unreadable entry %s: %s", key, exc)
        return None


def add_counts(
    conn: sqlite3.Connection, entries: int = 0, body_bytes: int = 0, head_bytes: int = 0
) -> None:
    changes = [
        (value, name)
        for name, value in (
            ("entries", entries),
            ("body_bytes", body_bytes),
            ("head_bytes", head_bytes),
        )
        if value
    ]
    if changes:
        conn.executemany("UPDATE counters SET value = value + ? WHERE name = ?", changes)


def delete_where(conn: sqlite3.Connection, where: str, params: Iterable[Sequence[Any]]) -> int:
    """Delete the entries matching ``where`` (once per parameter set) with their
    heads and bodies, keep the counters right, and return how many entries went."""
    removed = 0
    body_bytes = head_bytes = 0.0
    for values in params:
        count, bodies, heads, chunked = conn.execute(
            "SELECT count(*), total(size), total(head_size), count(body_id)"
            f" FROM entries WHERE {where}",
            values,
        ).fetchone()
        if not count:
            continue
        if chunked:
            conn.execute(
                f"DELETE FROM bodies WHERE body_id IN (SELECT body_id FROM entries WHERE {where})",
                values,
            )
        conn.execute(
            f"DELETE FROM heads WHERE id IN (SELECT id FROM entries WHERE {where})", values
        )
        removed += conn.execute(f"DELETE FROM entries WHERE {where}", values).rowcount
        body_bytes += bodies
        head_bytes += heads
    add_counts(conn, -removed, -int(body_bytes), -int(head_bytes))
    return removed


def delete_orphans(conn: sqlite3.Connection, now: float) -> None:
    """Delete chunks whose writer stopped touching them long ago (a dead process)."""
    cutoff = now - ORPHAN_AGE
    conn.execute(
        "DELETE FROM bodies WHERE body_id IN (SELECT body_id FROM writers WHERE touched_at < ?)",
        (cutoff,),
    )
    conn.execute("DELETE FROM writers WHERE touched_at < ?", (cutoff,))


# ---- the file's size -------------------------------------------------------------------


def pages(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """The page size, pages in the file, and pages on its free list."""
    (size,) = conn.execute("PRAGMA page_size").fetchone()
    (count,) = conn.execute("PRAGMA page_count").fetchone()
    (free,) = conn.execute("PRAGMA freelist_count").fetchone()
    return size, count, free


def base_pages(conn: sqlite3.Connection) -> int:
    """Pages an empty cache takes: the first page and one root per table and index
    (with a pointer-map page of the incremental vacuum)."""
    (roots,) = conn.execute("SELECT count(*) FROM sqlite_master WHERE rootpage > 0").fetchone()
    return int(roots) + 2


def evict(conn: sqlite3.Connection, max_size: int | None) -> int:
    """Delete least recently used entries until the pages entries use fit the file's
    share of ``max_size`` (see the module's text); return how many went."""
    if max_size is None:
        return 0
    budget = max_size * FILE_SHARE
    removed = 0
    for _ in range(4):  # the pages a deletion frees are measured, then once more
        page_size, count, free = pages(conn)
        used = (count - free - base_pages(conn)) * page_size
        if used <= budget:
            break
        (counted,) = conn.execute(
            "SELECT total(value) FROM counters WHERE name IN ('body_bytes', 'head_bytes')"
        ).fetchone()
        # What a byte of body or head costs in pages, and so what to free in bytes.
        ratio = used / counted if counted > 0 else 1.0
        excess = (used - budget * EVICT_TO) / max(ratio, 1.0)
        conn.execute(LAST_ACCESS_INDEX)
        doomed = []
        rows = conn.execute("SELECT id, size + head_size FROM entries ORDER BY last_access, id")
        for entry_id, cost in rows:
            doomed.append((entry_id,))
            excess -= cost
            if excess <= 0:
                break
        rows.close()
        if not doomed:
            break
        removed += delete_where(conn, "id = ?", doomed)
    if removed:
        logger.debug("SQLite cache: evicted %d least recently used entries", removed)
    return removed


def glob_prefilter(pattern: str) -> str:
    """A SQLite GLOB matching at least what ``url_matches(url, pattern)`` matches,
    against the URL without its scheme. ``*`` and ``?`` mean the same in both;
    brackets differ (``[!a]`` vs ``[^a]``), so from the first ``[`` on, anything."""
    rest = pattern.split("://", 1)[-1]
    bracket = rest.find("[")
    return rest if bracket < 0 else rest[:bracket] + "*"
