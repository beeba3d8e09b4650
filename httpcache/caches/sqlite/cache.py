"""SQLiteCache: the default backend, one SQLite file shared by threads and processes.

It is composed of parts, each handed what it needs: ``Connections`` (the file, its
connections and transactions, recovery), ``schema`` (the tables), ``index`` (rows,
ids, counters, eviction), ``bodies`` (chunked reading and writing) and ``queries``
(the inspection API). Every ``sqlite3.Error`` leaves this package as
``StorageError``.
"""

from __future__ import annotations

import io
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import BinaryIO, cast

from ...errors import ChecksumMismatchError, StorageError
from ...models import Entry
from .._checksum import verified
from .._files.frames import HeadMemo
from ..base import BaseCache, BodyWriter, CacheStats, EntryInfo
from . import index, queries
from .bodies import ChunkReader, SQLiteWriter
from .connections import Connections, MovedAside, busy_timeout
from .paths import resolve_path

logger = logging.getLogger("httpcache")

#: Bodies are stored (and streamed back) in pieces of this many bytes.
CHUNK_SIZE = 1024 * 1024
#: Seconds bookkeeping writes (LRU time, hit counters) wait for the write lock.
BOOKKEEPING_WAIT = 0.25
#: Without ``max_size``, a hit renews an entry's LRU time only when it is this old.
LAST_ACCESS_GRANULARITY = 60.0


class SQLiteCache(BaseCache):
    """A cache in one SQLite file, safe to share between threads and processes.

    ``path`` gets a ``.sqlite`` suffix when it has none (``"demo"`` is kept as
    ``demo.sqlite``); with ``use_cache_dir`` a relative path goes to the user's cache
    folder. Nothing is opened until first use, and every failure of the database
    (locked beyond ``busy_timeout`` seconds, disk full, read-only) is raised as
    ``StorageError``. A file that is not a cache's database is moved aside and a new
    one started (see ``connections``); a read-only one serves hits.

    ``max_size`` bounds the bytes the file and its WAL take on disk.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = "http_cache.sqlite",
        *,
        max_size: int | None = None,
        busy_timeout: float = 30.0,
        use_cache_dir: bool = False,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        super().__init__(max_size)
        if chunk_size <= 0:
            raise ValueError("chunk_size must be a positive number of bytes")
        self.path = resolve_path(path, use_cache_dir)
        self.busy_timeout = busy_timeout
        self.chunk_size = chunk_size
        self.connections = Connections(self.path, busy_timeout)
        #: Heads decoded lately, by their bytes: a hit reads its head twice (the lookup,
        #: then the pair it serves) and decodes it once.
        self._memo = HeadMemo()

    def __repr__(self) -> str:
        return f"SQLiteCache({str(self.path)!r})"

    # ---- the storage protocol -----------------------------------------------------

    def find(self, primary_key: str) -> list[Entry]:
        with self.connections.errors("find"):
            conn = self.connections.connection()
            rows = conn.execute(
                "SELECT e.key, h.head, e.last_access, e.id FROM entries AS e"
                " JOIN heads AS h ON h.id = e.id"
                " WHERE e.primary_hash = ? AND e.primary_key = ?",
                (index.text_hash(primary_key), primary_key),
            ).fetchall()
            # The LRU time matters to eviction: kept exact by a cache with max_size;
            # one without (it never evicts) renews it at most once a minute, for other
            # processes sharing the file with a limit, and spares a write per hit.
            if rows and (
                self.max_size is not None
                or time.time() - min(row[2] for row in rows) >= LAST_ACCESS_GRANULARITY
            ):
                self._touch(conn, primary_key)
        found = []
        damaged = []
        for key, head, _, entry_id in rows:
            entry = self._load(key, head)
            if entry is None:
                damaged.append((entry_id,))
            else:
                found.append(entry)
        if damaged:  # a miss, warned about once: the entry goes
            self._remove_damaged(damaged)
        return found

    def _remove_damaged(self, ids: list[tuple[int]]) -> None:
        """Delete entries found damaged (by row id: a rewrite meanwhile stays)."""
        try:
            with self.connections.transaction("remove a damaged entry") as conn:
                index.delete_where(conn, "id = ?", ids)
        except StorageError as exc:  # read-only, busy: it stays a miss
            logger.debug("%s", exc)

    def read_entry(self, key: str) -> Entry | None:
        with self.connections.errors("read"):
            row = (
                self.connections.connection()
                .execute(
                    "SELECT h.head FROM entries AS e JOIN heads AS h ON h.id = e.id"
                    " WHERE e.key_hash = ? AND e.key = ?",
                    (index.text_hash(key), key),
                )
                .fetchone()
            )
        return None if row is None else self._load(key, row[0])

    def open_body(self, key: str) -> BinaryIO | None:
        found = self._open_pair(key, with_head=False)
        return None if found is None else found[1]

    def open_entry(self, key: str) -> tuple[Entry, BinaryIO] | None:
        """The head and a stream of the body, read from one snapshot: never a head
        of one write with the body of another."""
        found = self._open_pair(key, with_head=True)
        if found is None or found[0] is None:
            return None
        return found[0], found[1]

    def open_writer(self, entry: Entry) -> BodyWriter:
        return SQLiteWriter(self.connections, entry, self.chunk_size, lambda: self.max_size)

    def update_head(self, entry: Entry) -> None:
        with self.connections.transaction("update head") as conn:
            row = conn.execute(
                f"SELECT id, size, head_size, created_at FROM entries WHERE {index.BY_KEY}",
                (index.text_hash(entry.key), entry.key),
            ).fetchone()
            # Only the response that was revalidated (see ``freshens``).
            if row is None or row[3] != entry.created_at:
                return
            old_id, size, head_size, _ = row
            columns = index.head_columns(replace(entry, size=size))
            # The id may stay while it is not later than the new expiry says (the
            # expired range still holds the entry when it expires), else it moves.
            if old_id >> index.ID_RANDOM_BITS <= index.expiry_ms(entry.expires):
                columns["id"] = old_id
                conn.execute(index.UPDATE_HEAD, {**columns, "old_id": old_id})
                conn.execute("UPDATE heads SET head = ? WHERE id = ?", (columns["head"], old_id))
            else:
                new_id = index.with_free_id(conn, entry.expires, index.UPDATE_HEAD, columns, old_id)
                conn.execute(
                    "UPDATE heads SET id = ?, head = ? WHERE id = ?",
                    (new_id, columns["head"], old_id),
                )
            index.add_counts(conn, head_bytes=columns["head_size"] - head_size)

    def batch(self) -> AbstractContextManager[None]:
        """A block whose writes (of this thread) are one transaction: stored together
        at its end, or not at all if it raises. Much faster for storing many entries
        (one commit, not one each); other writers wait until it ends, readers elsewhere
        see the entries once it has."""
        return self.connections.batch()

    def delete_keys(self, keys: Iterable[str]) -> int:
        return self.delete(*keys)

    def iter_entries(self) -> Iterator[Entry]:
        """Every entry's whole head (decoded; unreadable ones skipped, with a warning)."""
        sql = "SELECT e.key, h.head FROM entries AS e JOIN heads AS h ON h.id = e.id"
        for page in queries.pages(self.connections, sql, ()):
            for key, head in page:
                entry = index.load(key, head)
                if entry is not None:
                    yield entry

    def clear(self) -> None:
        """Remove every entry and give the space back. A damaged file is moved aside
        and a new one started (which is empty)."""
        try:
            queries.clear(self.connections)
        except MovedAside as exc:
            logger.warning("%s", exc)

    def compact(self) -> int:
        """Give back the space that removed entries left in the file and the WAL
        (``VACUUM``, then a checkpoint); return how many bytes."""
        return queries.compact(self.connections)

    def close(self) -> None:
        """Close every connection (those of other threads too); later use reopens."""
        self.connections.close()

    # ---- counters ---------------------------------------------------------------

    def record_lookup(self, hit: bool) -> None:
        with self.connections.errors("count lookup"):
            if self.connections.read_only:
                return  # counts are not kept in a read-only file
            conn = self.connections.connection()
            with busy_timeout(conn, BOOKKEEPING_WAIT):
                conn.execute(
                    "UPDATE counters SET value = value + 1 WHERE name = ?",
                    ("hits" if hit else "misses",),
                )

    def lookup_counts(self) -> tuple[int, int]:
        with self.connections.errors("read counters"):
            counts = dict(self.connections.connection().execute("SELECT name, value FROM counters"))
        return counts.get("hits", 0), counts.get("misses", 0)

    # ---- the inspection API, as index queries --------------------------------------

    def entries(
        self,
        *,
        expired: bool | None = None,
        url: str | None = None,
        host: str | None = None,
        now: float | None = None,
    ) -> Iterator[EntryInfo]:
        """Entries' metadata, filtered in SQL, without reading bodies or heads."""
        now = time.time() if now is None else now
        return queries.entries(self.connections, expired, url, host, now)

    def contains(self, key: str | None = None, url: str | None = None) -> bool:
        if key is None and url is None:
            raise ValueError("contains() needs a key or a url")
        if key is not None and self.read_entry(key) is not None:
            return True
        if url is None:
            return False
        return queries.has_url(self.connections, self.url_normalizer(url))

    def delete(
        self,
        *keys: str,
        urls: Iterable[str] | None = None,
        expired: bool = False,
        older_than: float | None = None,
        now: float | None = None,
    ) -> int:
        now = time.time() if now is None else now
        wanted = [self.url_normalizer(u) for u in urls or ()]
        return queries.delete(self.connections, keys, wanted, expired, older_than, now)

    def stats(self, now: float | None = None) -> CacheStats:
        return queries.stats(self.connections, time.time() if now is None else now)

    def __len__(self) -> int:
        return queries.count(self.connections)

    # ---- reading ----------------------------------------------------------------------

    def _load(self, key: str, head: bytes) -> Entry | None:
        """A stored head decoded (checked against its CRC-32), or the entry decoded
        before from the very same bytes; None if unreadable (logged)."""
        entry = self._memo.get(len(head), head)
        if entry is None:
            entry = index.load(key, head)
            if entry is not None:
                self._memo.put(len(head), head, entry)
        return entry

    def _touch(self, conn: sqlite3.Connection, primary_key: str) -> None:
        """Mark a resource as used for LRU eviction; a read-only or busy file only
        loses LRU precision, so a failure here does not fail (or long delay) the
        lookup."""
        if self.connections.read_only:
            return
        try:
            with busy_timeout(conn, BOOKKEEPING_WAIT):
                conn.execute(
                    "UPDATE entries SET last_access = ? WHERE primary_hash = ? AND primary_key = ?",
                    (time.time(), index.text_hash(primary_key), primary_key),
                )
        except sqlite3.OperationalError as exc:
            logger.debug("SQLite cache %s: last access not recorded: %s", self.path, exc)

    def _open_pair(self, key: str, with_head: bool) -> tuple[Entry | None, BinaryIO] | None:
        """An entry's head (if asked for; ``None`` when unreadable) and its body.

        A body stored inline or in one chunk comes whole with the head in one
        statement (a statement sees one snapshot), checked against its CRC-32. A
        longer one is streamed by a reader that holds a read transaction, in which
        the head is read too."""
        head_column = "h.head" if with_head else "NULL"
        with self.connections.errors("read body"):
            row = (
                self.connections.connection()
                .execute(
                    f"SELECT {head_column}, e.chunks, e.size, coalesce(h.body, b.data), h.crc"
                    " FROM entries AS e JOIN heads AS h ON h.id = e.id"
                    " LEFT JOIN bodies AS b ON b.body_id = e.body_id AND b.seq = 0"
                    " WHERE e.key_hash = ? AND e.key = ?",
                    (index.text_hash(key), key),
                )
                .fetchone()
            )
        if row is None:
            return None
        head, chunks, size, data, crc = row
        if chunks > 1:
            return self._open_stream(key, with_head)
        data = data or b""
        where = f"SQLite cache {self.path}: {key}"
        if len(data) != size:
            raise ChecksumMismatchError(where, f"{len(data)} bytes, not {size}")
        entry = self._load(key, head) if with_head else None
        return entry, io.BytesIO(verified(data, crc, where))

    def _open_stream(self, key: str, with_head: bool) -> tuple[Entry | None, BinaryIO] | None:
        connections = self.connections
        with connections.errors("read body"):
            conn = connections.acquire_reader()
            try:
                conn.execute("BEGIN")
                row = conn.execute(
                    "SELECT h.head, e.body_id, e.chunks, e.size, h.crc FROM entries AS e"
                    " JOIN heads AS h ON h.id = e.id WHERE e.key_hash = ? AND e.key = ?",
                    (index.text_hash(key), key),
                ).fetchone()
            except BaseException:
                connections.release_reader(conn)
                raise
        if row is None:  # deleted since the first look
            connections.release_reader(conn)
            return None
        head, body_id, chunks, size, crc = row
        entry = self._load(key, head) if with_head else None
        if with_head and entry is None:
            connections.release_reader(conn)
            return None, io.BytesIO(b"")
        reader = ChunkReader(connections, conn, key, (body_id, chunks, size, crc))
        return entry, cast(BinaryIO, reader)
