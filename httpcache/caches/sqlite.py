"""SQLiteCache: the default backend, one SQLite file shared by threads and processes.

Layout (one file, WAL journal):

- ``entries``: one row per stored variant, the metadata the inspection API filters
  on in columns. Its ``id`` is ordered by expiry (the millisecond of ``expires`` in
  the high bits, random low bits), so the expired entries are always the first
  rows: ``remove_expired`` deletes a contiguous range instead of rows scattered on
  every page. Lookups go through small integer indexes on hashes of the key, the
  primary key and the URL (the text is compared too).
- ``heads``: the whole head as a ``dumps_entry`` blob (which ends with its own
  CRC-32), under the entry's ``id``, the CRC-32 of the body (``crc``), and the body
  itself when it is smaller than one chunk (``body_id`` NULL): a hit on a small entry
  is one row, and its store one transaction. An inline body is checked against its
  CRC when it is read; a longer one as its last chunk is read (``_checksum``).
- ``bodies``: ``(body_id, seq, data)``, a larger body cut into chunks of
  ``chunk_size`` (1 MiB) so that neither writing nor reading ever holds a whole
  body in memory; ``chunks`` in ``entries`` says how many.
- ``writers``: bodies being written. Its ``AUTOINCREMENT`` key hands out body ids
  that are never reused, and ``touched_at`` tells a live writer from one whose
  process died (its chunks are deleted once ``ORPHAN_AGE`` has passed).
- ``counters``: hits and misses, the number of entries, and the bytes of bodies
  and of heads, kept up to date in the transactions that change them, so
  ``len()``, ``max_size`` and ``stats()`` need no scan.
- ``meta``: the schema version.

Transactions. A writer stores each full chunk in its own short transaction under
a fresh body id that no entry refers to yet, so a slow download never holds the
write lock for long and readers never see its chunks. ``commit()`` is one
``BEGIN IMMEDIATE`` transaction: last chunk (or the whole small body), entry and
head rows, old entry and body deleted, least recently used entries evicted past
``max_size``. A reader
of a body of several chunks (and a listing) holds a read transaction, i.e. a WAL
snapshot, until it reaches the end or is closed, so it gets the complete body that
was current when it opened it, whatever is committed meanwhile. Every
``sqlite3.Error`` leaves this module as ``StorageError``.

Connections: one per thread (``threading.local``) for statements, plus a small pool
for body readers and listings (they keep a snapshot across calls, possibly from
another thread). All are opened with ``check_same_thread=False`` so that ``close()``
can close them from any thread; otherwise a connection is only used by its owner.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, BinaryIO, cast

from ..errors import ChecksumMismatchError, DeserializationError, StorageError
from ..models import Entry, Headers, Request, Response
from ..serialize import dumps_entry, loads_entry
from ._checksum import Crc, verified
from .base import BaseCache, BodyWriter, CacheStats, host_of, url_matches

logger = logging.getLogger("httpcache")

#: 3: heads carry the CRC-32 of their body.
SCHEMA_VERSION = 3
#: Bodies are stored (and streamed back) in pieces of this many bytes.
CHUNK_SIZE = 1024 * 1024
#: A body still being written whose writer gave no sign of life for this many
#: seconds belongs to a dead process; its chunks are deleted.
ORPHAN_AGE = 3600.0
#: Rows fetched at a time when listing.
PAGE_SIZE = 1000
#: Idle body-reader connections kept open for reuse.
READER_POOL_SIZE = 4
#: An entry's id: the millisecond its freshness ends in the high bits, random
#: ones in the low bits (entries expiring in the same millisecond differ there).
ID_RANDOM_BITS = 20
MAX_ID_MS = (2**63 - 1) >> ID_RANDOM_BITS  # about year 2248; later expiry is clamped
#: Seconds bookkeeping writes (LRU time, hit counters) wait for the write lock.
BOOKKEEPING_WAIT = 0.25
#: Without ``max_size``, a hit renews an entry's LRU time only when it is this old.
LAST_ACCESS_GRANULARITY = 60.0
#: Page cache of each connection (KiB), and of one doing a bulk delete.
CACHE_KIB = 2048
BULK_CACHE_KIB = 65536

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS entries (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        key_hash INTEGER NOT NULL,
        primary_key TEXT NOT NULL,
        primary_hash INTEGER NOT NULL,
        method TEXT NOT NULL,
        url TEXT NOT NULL,
        url_hash INTEGER NOT NULL,
        host TEXT NOT NULL,
        status INTEGER NOT NULL,
        size INTEGER NOT NULL,
        head_size INTEGER NOT NULL,
        created_at REAL NOT NULL,
        expires REAL,
        stale_until REAL,
        request_time REAL NOT NULL,
        response_time REAL NOT NULL,
        last_access REAL NOT NULL,
        body_id INTEGER,
        chunks INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS entries_key ON entries (key_hash)",
    "CREATE INDEX IF NOT EXISTS entries_primary_key ON entries (primary_hash)",
    "CREATE INDEX IF NOT EXISTS entries_url ON entries (url_hash)",
    # ``body``: the whole body when it is stored inline (``entries.body_id`` NULL).
    """CREATE TABLE IF NOT EXISTS heads (
        id INTEGER PRIMARY KEY, head BLOB NOT NULL, crc INTEGER NOT NULL, body BLOB
    )""",
    """CREATE TABLE IF NOT EXISTS bodies (
        body_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (body_id, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS writers (
        body_id INTEGER PRIMARY KEY AUTOINCREMENT,
        touched_at REAL NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    """INSERT OR IGNORE INTO counters (name, value) VALUES
       ('hits', 0), ('misses', 0), ('entries', 0), ('body_bytes', 0), ('head_bytes', 0)""",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value)",
)
#: Made by the first eviction: a cache without ``max_size`` never orders by it.
_LAST_ACCESS_INDEX = "CREATE INDEX IF NOT EXISTS entries_last_access ON entries (last_access)"
_TABLES = ("entries", "heads", "bodies", "writers", "counters", "meta")

_INSERT_ENTRY = """
    INSERT INTO entries (id, key, key_hash, primary_key, primary_hash, method, url,
        url_hash, host, status, size, head_size, created_at, expires, stale_until,
        request_time, response_time, last_access, body_id, chunks)
    VALUES (:id, :key, :key_hash, :primary_key, :primary_hash, :method, :url,
        :url_hash, :host, :status, :size, :head_size, :created_at, :expires, :stale_until,
        :request_time, :response_time, :last_access, :body_id, :chunks)
"""

_UPDATE_HEAD = """
    UPDATE entries SET id = :id, primary_key = :primary_key, primary_hash = :primary_hash,
        method = :method, url = :url, url_hash = :url_hash, host = :host, status = :status,
        head_size = :head_size, created_at = :created_at, expires = :expires,
        stale_until = :stale_until, request_time = :request_time,
        response_time = :response_time, last_access = :last_access
    WHERE id = :old_id
"""

#: An entry by its key: the hash finds the row through the index, the text makes sure.
_BY_KEY = "key_hash = ? AND key = ?"
#: The expired entries: a range of ids (see ``_expired_params``), then the exact test.
_EXPIRED = "id <= ? AND expires <= ?"

_SUMMARY_COLUMNS = (
    "key, primary_key, method, url, status, size, created_at, expires, "
    "stale_until, request_time, response_time"
)
#: The stored URL without its scheme, as ``url_matches`` compares it.
_URL_REST = "CASE instr(url, '://') WHEN 0 THEN url ELSE substr(url, instr(url, '://') + 3) END"
_NO_HEADERS = Headers()
_CLAIM_LOST = "the body being written was removed (cache cleared, or writer idle too long)"
_SUMMARY_RESPONSES: dict[int, Response] = {}


class SQLiteCache(BaseCache):
    """A cache in one SQLite file, safe to share between threads and processes.

    ``path`` gets a ``.sqlite`` suffix when it has none (``"demo"`` is kept as
    ``demo.sqlite``); with ``use_cache_dir`` a relative path goes to the user's cache
    folder. Nothing is opened until first use, and every failure of the database
    (locked beyond ``busy_timeout`` seconds, disk full, read-only, not a database)
    is raised as ``StorageError``.
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
        self._lock = threading.Lock()
        self._reset_connections()

    def __repr__(self) -> str:
        return f"SQLiteCache({str(self.path)!r})"

    # ---- the storage protocol -----------------------------------------------------

    def find(self, primary_key: str) -> list[Entry]:
        with self._errors("find"):
            conn = self._connection()
            rows = conn.execute(
                "SELECT e.key, h.head, e.last_access, e.id FROM entries AS e"
                " JOIN heads AS h ON h.id = e.id"
                " WHERE e.primary_hash = ? AND e.primary_key = ?",
                (_hash(primary_key), primary_key),
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
            entry = _load(key, head)
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
            with self._transaction("remove a damaged entry") as conn:
                _delete_where(conn, "id = ?", ids)
        except StorageError as exc:  # read-only, busy: it stays a miss
            logger.debug("%s", exc)

    def read_entry(self, key: str) -> Entry | None:
        with self._errors("read"):
            row = (
                self._connection()
                .execute(
                    "SELECT h.head FROM entries AS e JOIN heads AS h ON h.id = e.id"
                    " WHERE e.key_hash = ? AND e.key = ?",
                    (_hash(key), key),
                )
                .fetchone()
            )
        return None if row is None else _load(key, row[0])

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
        return _SQLiteWriter(self, entry)

    def update_head(self, entry: Entry) -> None:
        with self._transaction("update head") as conn:
            row = conn.execute(
                f"SELECT id, size, head_size, created_at FROM entries WHERE {_BY_KEY}",
                (_hash(entry.key), entry.key),
            ).fetchone()
            # Only the response that was revalidated (see ``freshens``).
            if row is None or row[3] != entry.created_at:
                return
            old_id, size, head_size, _ = row
            columns = _head_columns(replace(entry, size=size))
            # The id may stay while it is not later than the new expiry says (the
            # expired range still holds the entry when it expires), else it moves.
            if old_id >> ID_RANDOM_BITS <= _expiry_ms(entry.expires):
                columns["id"] = old_id
                conn.execute(_UPDATE_HEAD, {**columns, "old_id": old_id})
                conn.execute("UPDATE heads SET head = ? WHERE id = ?", (columns["head"], old_id))
            else:
                new_id = _with_free_id(conn, entry.expires, _UPDATE_HEAD, columns, old_id)
                conn.execute(
                    "UPDATE heads SET id = ?, head = ? WHERE id = ?",
                    (new_id, columns["head"], old_id),
                )
            _add_counts(conn, head_bytes=columns["head_size"] - head_size)

    def delete_keys(self, keys: Iterable[str]) -> int:
        return self.delete(*keys)

    def iter_entries(self) -> Iterator[Entry]:
        """Every entry's whole head (decoded; unreadable ones skipped, with a warning)."""
        sql = "SELECT e.key, h.head FROM entries AS e JOIN heads AS h ON h.id = e.id"
        for key, head in self._rows(sql, ()):
            entry = _load(key, head)
            if entry is not None:
                yield entry

    def clear(self) -> None:
        with self._transaction("clear") as conn:
            for table in ("entries", "heads", "bodies", "writers"):
                conn.execute(f"DELETE FROM {table}")
            conn.execute(
                "UPDATE counters SET value = 0"
                " WHERE name IN ('entries', 'body_bytes', 'head_bytes')"
            )
        # Give the space back: rewrite the file, then empty the WAL into it.
        with self._errors("clear"):
            conn = self._connection()
            try:
                conn.execute("VACUUM")
                _checkpoint(conn)
            except sqlite3.OperationalError as exc:
                logger.warning("SQLite cache %s: cleared but not compacted: %s", self.path, exc)

    def close(self) -> None:
        """Close every connection (those of other threads too); later use reopens."""
        with self._lock:
            conns = [conn for _, conn in self._conns] + list(self._readers_open)
            self._reset_connections()
        for conn in conns:
            _close_quietly(conn)

    # ---- counters ---------------------------------------------------------------

    def record_lookup(self, hit: bool) -> None:
        with self._errors("count lookup"):
            conn = self._connection()
            with _busy_timeout(conn, BOOKKEEPING_WAIT):
                conn.execute(
                    "UPDATE counters SET value = value + 1 WHERE name = ?",
                    ("hits" if hit else "misses",),
                )

    def lookup_counts(self) -> tuple[int, int]:
        with self._errors("read counters"):
            counts = dict(self._connection().execute("SELECT name, value FROM counters"))
        return counts.get("hits", 0), counts.get("misses", 0)

    # ---- the inspection API, as index queries --------------------------------------

    def entries(
        self,
        *,
        expired: bool | None = None,
        url: str | None = None,
        host: str | None = None,
        now: float | None = None,
    ) -> Iterator[Entry]:
        """Entries' metadata, filtered in SQL, without reading bodies or whole heads.

        What is yielded is a summary built from the indexed columns: key, method,
        url, status, size and times are those of the entry, header fields are left
        out (empty). ``get(key)`` returns the whole head.
        """
        now = time.time() if now is None else now
        where: list[str] = []
        params: list[Any] = []
        if expired is True:
            where.append(_EXPIRED)
            params.extend(_expired_params(now))
        elif expired is False:
            where.append("(expires IS NULL OR expires > ?)")
            params.append(now)
        if host is not None:
            where.append("host = ?")
            params.append(host.lower())
        if url is not None:
            where.append(f"{_URL_REST} GLOB ?")
            params.append(_glob_prefilter(url))
        sql = f"SELECT {_SUMMARY_COLUMNS} FROM entries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        for page in self._pages(sql, params):
            if url is not None:
                page = [row for row in page if url_matches(row[3], url)]
            yield from map(_summary, page)

    def contains(self, key: str | None = None, url: str | None = None) -> bool:
        if key is None and url is None:
            raise ValueError("contains() needs a key or a url")
        if key is not None and self.read_entry(key) is not None:
            return True
        if url is None:
            return False
        wanted = self.url_normalizer(url)
        with self._errors("look up"):
            row = (
                self._connection()
                .execute(
                    "SELECT 1 FROM entries WHERE url_hash = ? AND url = ? LIMIT 1",
                    (_hash(wanted), wanted),
                )
                .fetchone()
            )
        return row is not None

    def delete(
        self,
        *keys: str,
        urls: Iterable[str] | None = None,
        expired: bool = False,
        older_than: float | None = None,
        now: float | None = None,
    ) -> int:
        now = time.time() if now is None else now
        wanted_urls = [(_hash(u), u) for u in map(self.url_normalizer, urls or ())]
        if not (keys or wanted_urls or expired or older_than is not None):
            return 0
        removed = 0
        with self._transaction("delete", bulk=True) as conn:
            # Each statement counts rows still there, so the sum counts each once.
            if keys:
                removed += _delete_where(conn, _BY_KEY, [(_hash(k), k) for k in set(keys)])
            if wanted_urls:
                removed += _delete_where(conn, "url_hash = ? AND url = ?", wanted_urls)
            if expired:
                removed += _delete_where(conn, _EXPIRED, [_expired_params(now)])
            if older_than is not None:
                removed += _delete_where(conn, "? - created_at > ?", [(now, older_than)])
            _delete_orphans(conn, time.time())
        return removed

    def stats(self, now: float | None = None) -> CacheStats:
        now = time.time() if now is None else now
        with self._errors("stats"):
            conn = self._connection()
            conn.execute("BEGIN")  # one snapshot for every figure
            try:
                (expired,) = conn.execute(
                    f"SELECT count(*) FROM entries WHERE {_EXPIRED}", _expired_params(now)
                ).fetchone()
                per_host = dict(conn.execute("SELECT host, count(*) FROM entries GROUP BY host"))
                counts = dict(conn.execute("SELECT name, value FROM counters"))
            finally:
                conn.rollback()
        return CacheStats(
            counts.get("entries", 0),
            counts.get("body_bytes", 0),
            expired,
            counts.get("hits", 0),
            counts.get("misses", 0),
            per_host,
        )

    def __len__(self) -> int:
        with self._errors("count"):
            row = (
                self._connection()
                .execute("SELECT value FROM counters WHERE name = 'entries'")
                .fetchone()
            )
        return 0 if row is None else int(row[0])

    # ---- connections and transactions ------------------------------------------

    def _reset_connections(self) -> None:
        """Forget every connection (after ``close`` or in a forked child)."""
        self._local = threading.local()
        self._conns: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._readers_idle: list[sqlite3.Connection] = []
        self._readers_open: set[sqlite3.Connection] = set()
        self._ready = False
        self._pid = os.getpid()

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        if self._pid != os.getpid():
            # A forked child: the parent's connections (and lock) are not ours to use,
            # nor to close (closing could disturb the parent's locks): keep them aside.
            self._forked_away = [conn for _, conn in self._conns] + list(self._readers_open)
            self._lock = threading.Lock()
            self._reset_connections()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            with self._lock:
                # Close what threads that have ended left behind.
                kept = [(weakref.ref(threading.current_thread()), conn)]
                for owner, other in self._conns:
                    thread = owner()
                    if thread is not None and thread.is_alive():
                        kept.append((owner, other))
                    else:
                        _close_quietly(other)
                self._conns = kept
            self._local.conn = conn
        elif conn.in_transaction:  # left open by an interrupted call
            conn.rollback()
        return conn

    def _open(self) -> sqlite3.Connection:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self._setup()
                    self._ready = True
        return self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            # WAL with NORMAL sync survives a killed process; a power cut may only
            # lose the last commits (fine for a cache).
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA journal_size_limit = 67108864")
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            # Deleted rows are still zeroed in the pages a delete writes anyway,
            # without the extra writes of FULL (which some builds default to).
            conn.execute("PRAGMA secure_delete = FAST")
        except BaseException:
            conn.close()
            raise
        return conn

    def _setup(self) -> None:
        """Create the folder, the file and the schema (once per instance and process)."""
        try:
            make_private_dirs(self.path.parent)
            create_private_file(self.path)
        except OSError as exc:
            raise StorageError(f"SQLite cache {self.path}: {exc}") from exc
        conn = self._connect()
        try:
            _enable_wal(conn, self.busy_timeout)
            if _schema_version(conn) != SCHEMA_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    self._create_schema(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.rollback()
                    raise
        finally:
            conn.close()

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        version = _schema_version(conn)  # again, now that we hold the write lock
        if version == SCHEMA_VERSION:
            return
        if version is not None:
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"SQLite cache {self.path} has schema {version}, from a newer httpcache"
                )
            logger.warning("SQLite cache %s: old schema %s dropped", self.path, version)
            for table in _TABLES:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute(
            "INSERT OR REPLACE INTO meta (name, value) VALUES ('schema', ?)", (SCHEMA_VERSION,)
        )

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Translate sqlite3 errors into ``StorageError`` (the original chained)."""
        try:
            yield
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite cache {self.path}: {action} failed: {exc}") from exc

    @contextmanager
    def _transaction(self, action: str, bulk: bool = False) -> Iterator[sqlite3.Connection]:
        """A write transaction: the write lock is taken at once (waiting up to the
        busy timeout), so it cannot fail half-way for want of the lock. ``bulk``
        lends the connection a larger page cache for the transaction: deleting many
        rows touches index pages in random order."""
        with self._errors(action):
            conn = self._connection()
            if bulk:
                conn.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    try:
                        conn.rollback()
                    except sqlite3.Error:
                        logger.debug("SQLite cache %s: rollback failed", self.path, exc_info=True)
                    raise
            finally:
                if bulk:
                    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")

    def _touch(self, conn: sqlite3.Connection, primary_key: str) -> None:
        """Mark a resource as used for LRU eviction; a read-only or busy file only
        loses LRU precision, so a failure here does not fail (or long delay) the
        lookup."""
        try:
            with _busy_timeout(conn, BOOKKEEPING_WAIT):
                conn.execute(
                    "UPDATE entries SET last_access = ? WHERE primary_hash = ? AND primary_key = ?",
                    (time.time(), _hash(primary_key), primary_key),
                )
        except sqlite3.OperationalError as exc:
            logger.debug("SQLite cache %s: last access not recorded: %s", self.path, exc)

    def _rows(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        for page in self._pages(sql, params):
            yield from page

    def _pages(self, sql: str, params: Sequence[Any]) -> Iterator[list[tuple[Any, ...]]]:
        """Rows of a query run on a reader connection of the pool, a page at a time:
        one snapshot for the whole listing, and the caller may write to the cache
        between pages (its writes go through its own connection)."""
        with self._errors("list"):
            conn = self._acquire_reader()
        try:
            with self._errors("list"):
                cursor = conn.execute(sql, params)
            try:
                while True:
                    with self._errors("list"):
                        rows = cursor.fetchmany(PAGE_SIZE)
                    if not rows:
                        return
                    yield rows
            finally:
                cursor.close()
        finally:
            self._release_reader(conn)

    # ---- bodies ---------------------------------------------------------------------

    def _open_pair(self, key: str, with_head: bool) -> tuple[Entry | None, BinaryIO] | None:
        """An entry's head (if asked for; ``None`` when unreadable) and its body.

        A body stored inline or in one chunk comes whole with the head in one
        statement (a statement sees one snapshot). A longer one is streamed by a
        reader that holds a read transaction, in which the head is read too."""
        head_column = "h.head" if with_head else "NULL"
        with self._errors("read body"):
            row = (
                self._connection()
                .execute(
                    f"SELECT {head_column}, e.chunks, e.size, coalesce(h.body, b.data), h.crc"
                    " FROM entries AS e JOIN heads AS h ON h.id = e.id"
                    " LEFT JOIN bodies AS b ON b.body_id = e.body_id AND b.seq = 0"
                    " WHERE e.key_hash = ? AND e.key = ?",
                    (_hash(key), key),
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
        entry = _load(key, head) if with_head else None
        return entry, io.BytesIO(verified(data, crc, where))

    def _open_stream(self, key: str, with_head: bool) -> tuple[Entry | None, BinaryIO] | None:
        with self._errors("read body"):
            conn = self._acquire_reader()
            try:
                conn.execute("BEGIN")
                row = conn.execute(
                    "SELECT h.head, e.body_id, e.chunks, e.size, h.crc FROM entries AS e"
                    " JOIN heads AS h ON h.id = e.id WHERE e.key_hash = ? AND e.key = ?",
                    (_hash(key), key),
                ).fetchone()
            except BaseException:
                self._release_reader(conn)
                raise
        if row is None:  # deleted since the first look
            self._release_reader(conn)
            return None
        head, body_id, chunks, size, crc = row
        entry = _load(key, head) if with_head else None
        if with_head and entry is None:
            self._release_reader(conn)
            return None, io.BytesIO(b"")
        reader = _ChunkReader(self, conn, key, body_id, chunks, size, crc)
        return entry, cast(BinaryIO, reader)

    def _acquire_reader(self) -> sqlite3.Connection:
        self._connection()  # set up, and reset after a fork
        with self._lock:
            if self._readers_idle:
                return self._readers_idle.pop()
        conn = self._open()
        with self._lock:
            self._readers_open.add(conn)
        return conn

    def _release_reader(self, conn: sqlite3.Connection) -> None:
        """End the reader's snapshot; keep the connection for the next reader."""
        try:
            conn.rollback()
            reusable = True
        except sqlite3.Error:
            reusable = False
        with self._lock:
            if (
                reusable
                and conn in self._readers_open
                and len(self._readers_idle) < READER_POOL_SIZE
            ):
                self._readers_idle.append(conn)
                return
            self._readers_open.discard(conn)
        _close_quietly(conn)


class _ChunkReader(io.BufferedIOBase):
    """A body read one chunk at a time from a snapshot held until EOF or close."""

    def __init__(
        self,
        cache: SQLiteCache,
        conn: sqlite3.Connection,
        key: str,
        body_id: int,
        chunks: int,
        size: int,
        crc: int,
    ) -> None:
        super().__init__()
        self._cache: SQLiteCache | None = cache
        self._crc = Crc()
        self._expected_crc = crc
        self._where = f"SQLite cache {cache.path}: {key}"
        self._conn = conn
        self._key = key
        self._body_id = body_id
        self._chunks = chunks
        self._size = size
        self._seq = 0
        self._delivered = 0
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        if size is None or size < 0:
            return self.readall()
        parts = []
        while size > 0 and self._fill():
            part = self._buffer[:size]
            self._buffer = self._buffer[len(part) :]
            parts.append(part)
            size -= len(part)
        return b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        self._check_open()
        if not self._fill():
            return b""
        size = len(self._buffer) if size < 0 else size
        part = self._buffer[:size]
        self._buffer = self._buffer[len(part) :]
        return bytes(part)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(memoryview(buffer).cast("B")))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        """The rest of the body in one ``bytes``, holding it once (plus a chunk): a
        ``BytesIO`` grows in place and hands its buffer over, where joining a list
        of chunks would hold the body twice."""
        self._check_open()
        whole = io.BytesIO()
        while self._fill():
            whole.write(self._buffer)
            self._buffer = memoryview(b"")
        return whole.getvalue()

    def close(self) -> None:
        self._finish()
        super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed body")

    def _fill(self) -> bool:
        """Make sure the buffer holds data; False at the end of the body."""
        if self._buffer:
            return True
        if self._seq >= self._chunks:
            self._finish()
            return False
        assert self._cache is not None
        with self._cache._errors("read body"):
            try:
                row = self._conn.execute(
                    "SELECT data FROM bodies WHERE body_id = ? AND seq = ?",
                    (self._body_id, self._seq),
                ).fetchone()
            except BaseException:
                self._finish()
                raise
        data = b"" if row is None else row[0]
        self._delivered += len(data)
        self._crc.update(data)
        last = self._seq == self._chunks - 1
        if (
            row is None
            or self._delivered > self._size
            or (last and self._delivered != self._size)
            or (last and self._crc.value != self._expected_crc)
        ):
            self._finish()
            raise ChecksumMismatchError(self._where)
        self._seq += 1
        self._buffer = memoryview(data)
        return True

    def _finish(self) -> None:
        """Give the connection back (once), ending the snapshot."""
        cache, self._cache = self._cache, None
        if cache is not None:
            cache._release_reader(self._conn)


class _SQLiteWriter(BodyWriter):
    """Stores full chunks as they come (each in a short transaction) under a body
    id that nothing refers to yet; ``commit`` makes the entry point at it."""

    def __init__(self, cache: SQLiteCache, entry: Entry) -> None:
        self._cache = cache
        self._entry = entry
        self._buffer = bytearray()
        self._body_id: int | None = None  # set once a transaction claiming it committed
        self._chunks = 0
        self._size = 0
        self._crc = Crc()
        self._done = False

    def write(self, chunk: bytes) -> None:
        if self._done:
            raise RuntimeError("this writer was already committed or aborted")
        self._size += len(chunk)
        self._crc.update(chunk)
        step = self._cache.chunk_size
        view = memoryview(chunk).cast("B")
        if self._buffer:  # complete the piece begun by earlier writes
            taken = min(step - len(self._buffer), len(view))
            self._buffer += view[:taken]
            view = view[taken:]
            if len(self._buffer) == step:
                self._store_piece(bytes(self._buffer))
                self._buffer = bytearray()
        # Full pieces straight from the caller's bytes: a large body given whole (a
        # response that was not streamed) is never copied whole once more.
        while len(view) >= step:
            self._store_piece(bytes(view[:step]))
            view = view[step:]
        self._buffer += view

    def _store_piece(self, piece: bytes) -> None:
        try:
            with self._cache._transaction("write body") as conn:
                body_id = self._store_chunk(conn, piece)
        except BaseException:
            self.abort()
            raise
        self._body_id = body_id
        self._chunks += 1

    def commit(self) -> Entry:
        if self._done:
            raise RuntimeError("this writer was already committed or aborted")
        entry = replace(self._entry, size=self._size)
        columns = _head_columns(entry)
        try:
            with self._cache._transaction("store") as conn:
                body_id, chunks, inline = self._body_id, self._chunks, None
                if body_id is None:  # smaller than a chunk: the body goes with the head
                    inline = bytes(self._buffer)
                else:
                    if self._buffer:
                        self._store_chunk(conn, bytes(self._buffer))
                        chunks += 1
                    if not conn.execute(
                        "DELETE FROM writers WHERE body_id = ?", (body_id,)
                    ).rowcount:
                        raise StorageError(_CLAIM_LOST)
                # The entry it replaces goes, with its body.
                _delete_where(conn, _BY_KEY, [(columns["key_hash"], entry.key)])
                now = time.time()
                row = {**columns, "last_access": now, "body_id": body_id, "chunks": chunks}
                entry_id = _with_free_id(conn, entry.expires, _INSERT_ENTRY, row)
                conn.execute(
                    "INSERT INTO heads (id, head, crc, body) VALUES (?, ?, ?, ?)",
                    (entry_id, columns["head"], self._crc.value, inline),
                )
                _add_counts(conn, 1, entry.size, columns["head_size"])
                _evict(conn, self._cache.max_size)
                _delete_orphans(conn, now)
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._buffer = bytearray()
        return entry

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._buffer = bytearray()
        if self._body_id is None:
            return
        try:
            with self._cache._transaction("discard body") as conn:
                conn.execute("DELETE FROM bodies WHERE body_id = ?", (self._body_id,))
                conn.execute("DELETE FROM writers WHERE body_id = ?", (self._body_id,))
        except StorageError as exc:  # the chunks go later, as orphans
            logger.warning("%s", exc)

    def _store_chunk(self, conn: sqlite3.Connection, data: bytes) -> int:
        """Add the next chunk inside the caller's transaction and return the body id:
        the first chunk claims a new one, later ones check the claim still stands."""
        now = time.time()
        body_id = self._body_id
        if body_id is None:
            cursor = conn.execute("INSERT INTO writers (touched_at) VALUES (?)", (now,))
            body_id = cast(int, cursor.lastrowid)
        elif not conn.execute(
            "UPDATE writers SET touched_at = ? WHERE body_id = ?", (now, body_id)
        ).rowcount:
            raise StorageError(_CLAIM_LOST)
        if data:
            conn.execute(
                "INSERT INTO bodies (body_id, seq, data) VALUES (?, ?, ?)",
                (body_id, self._chunks, data),
            )
        return body_id


# ---- helpers ------------------------------------------------------------------------


def resolve_path(path: str | os.PathLike[str], use_cache_dir: bool = False) -> Path:
    """Where the database file goes: ``.sqlite`` added when there is no suffix, a
    relative path put in the user's cache folder with ``use_cache_dir``."""
    resolved = Path(path).expanduser()
    if use_cache_dir and not resolved.is_absolute():
        from platformdirs import user_cache_dir

        resolved = Path(user_cache_dir("httpcache")) / resolved
    if not resolved.suffix:
        resolved = resolved.with_name(resolved.name + ".sqlite")
    return resolved


def make_private_dirs(folder: Path) -> None:
    """Create ``folder`` and missing parents, each 0700 whatever the umask (folders
    that already exist are left as they are)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for created in reversed(missing):
        try:
            created.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(created, 0o700)


def create_private_file(path: Path) -> None:
    """Create an empty database file 0600 (SQLite gives -wal and -shm the same mode)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.chmod(path, 0o600)
    finally:
        os.close(fd)


def _enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch to WAL (persistent in the file). The switch needs a moment alone with
    the file, and SQLite may say "locked" without waiting, hence the retries."""
    deadline = time.monotonic() + timeout
    while conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _schema_version(conn: sqlite3.Connection) -> int | None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return row[0] if row and isinstance(row[0], int) else None


def _checkpoint(conn: sqlite3.Connection) -> None:
    """Move the WAL into the file and truncate it, without waiting on readers."""
    with _busy_timeout(conn, 0.0):
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


@contextmanager
def _busy_timeout(conn: sqlite3.Connection, seconds: float) -> Iterator[None]:
    """Wait at most ``seconds`` for locks during the block (not the usual timeout)."""
    (usual,) = conn.execute("PRAGMA busy_timeout").fetchone()
    conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(usual)}")


def _evict(conn: sqlite3.Connection, max_size: int | None) -> None:
    """Delete least recently used entries until bodies and heads fit ``max_size``."""
    if max_size is None:
        return
    (excess,) = conn.execute(
        "SELECT total(value) - ? FROM counters WHERE name IN ('body_bytes', 'head_bytes')",
        (max_size,),
    ).fetchone()
    if excess <= 0:
        return
    conn.execute(_LAST_ACCESS_INDEX)
    doomed = []
    rows = conn.execute("SELECT id, size + head_size FROM entries ORDER BY last_access, id")
    for entry_id, cost in rows:
        doomed.append((entry_id,))
        excess -= cost
        if excess <= 0:
            break
    rows.close()
    _delete_where(conn, "id = ?", doomed)
    logger.debug("SQLite cache: evicted %d least recently used entries", len(doomed))


def _delete_where(conn: sqlite3.Connection, where: str, params: Iterable[Sequence[Any]]) -> int:
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
    _add_counts(conn, -removed, -int(body_bytes), -int(head_bytes))
    return removed


def _with_free_id(
    conn: sqlite3.Connection,
    expires: float | None,
    sql: str,
    row: dict[str, Any],
    old_id: int | None = None,
) -> int:
    """Run ``sql`` (the insert of an entry, or an update moving one from ``old_id``)
    with a new id ordered by ``expires``, and return it; an id already taken (a
    one in a million chance per millisecond) is drawn again."""
    high = _expiry_ms(expires) << ID_RANDOM_BITS
    for attempt in range(8):
        entry_id = high | random.getrandbits(ID_RANDOM_BITS)
        try:
            conn.execute(sql, {**row, "id": entry_id, "old_id": old_id})
        except sqlite3.IntegrityError:
            if attempt == 7:
                raise
            continue
        return entry_id
    raise AssertionError("unreachable")


def _expiry_ms(expires: float | None) -> int:
    """The millisecond an entry's id is ordered by: its expiry, clamped to what an
    id holds (never-expiring entries last)."""
    if expires is None or math.isnan(expires) or expires * 1000 >= MAX_ID_MS:
        return MAX_ID_MS
    return max(int(expires * 1000), 0)


def _expired_params(now: float) -> tuple[int, float]:
    """Parameters of ``_EXPIRED``: every entry with ``expires <= now`` has an id at
    most the first, because ids grow with expiry (see ``_expiry_ms``)."""
    return ((_expiry_ms(now) + 1) << ID_RANDOM_BITS) - 1, now


def _hash(text: str) -> int:
    """A signed 64-bit hash of a key or URL for the integer indexes (a collision only
    costs a row more to compare: queries match the text too)."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _add_counts(
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


def _delete_orphans(conn: sqlite3.Connection, now: float) -> None:
    """Delete chunks whose writer stopped touching them long ago (a dead process)."""
    cutoff = now - ORPHAN_AGE
    conn.execute(
        "DELETE FROM bodies WHERE body_id IN (SELECT body_id FROM writers WHERE touched_at < ?)",
        (cutoff,),
    )
    conn.execute("DELETE FROM writers WHERE touched_at < ?", (cutoff,))


def _head_columns(entry: Entry) -> dict[str, Any]:
    head = dumps_entry(entry)
    return {
        "key": entry.key,
        "key_hash": _hash(entry.key),
        "primary_key": entry.primary_key,
        "primary_hash": _hash(entry.primary_key),
        "method": entry.method,
        "url": entry.url,
        "url_hash": _hash(entry.url),
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


def _load(key: str, head: bytes) -> Entry | None:
    """Decode a stored head; an unreadable one is a miss, with a warning."""
    try:
        return loads_entry(head)
    except DeserializationError as exc:
        logger.warning("SQLite cache: skipping unreadable entry %s: %s", key, exc)
        return None


# A listing builds an entry per row: through the frozen dataclasses' ``__init__``
# (a generic ``object.__setattr__`` per field) that costs as much as reading the
# row, so ``_summary`` fills the slots through their descriptors, in field order.
# Every field is set (``test_summary_is_a_whole_entry`` compares with ``Entry(...)``).
_SET_ENTRY = [getattr(Entry, f.name).__set__ for f in fields(Entry)]
_SET_REQUEST = [getattr(Request, f.name).__set__ for f in fields(Request)]
assert len(_SET_ENTRY) == 12 and len(_SET_REQUEST) == 4, "Entry or Request changed: update _summary"


def _summary(row: Sequence[Any]) -> Entry:
    """An entry rebuilt from its columns (no header fields)."""
    key, primary_key, method, url, status, size, created, expires, stale, req_t, resp_t = row
    response = _SUMMARY_RESPONSES.get(status)
    if response is None:  # one frozen, header-less response per status, shared
        response = _SUMMARY_RESPONSES[status] = Response(status, _NO_HEADERS)
    request = object.__new__(Request)
    _SET_REQUEST[0](request, method)
    _SET_REQUEST[1](request, url)
    _SET_REQUEST[2](request, _NO_HEADERS)
    _SET_REQUEST[3](request, None)
    entry = object.__new__(Entry)
    _SET_ENTRY[0](entry, key)
    _SET_ENTRY[1](entry, primary_key)
    _SET_ENTRY[2](entry, request)
    _SET_ENTRY[3](entry, response)
    _SET_ENTRY[4](entry, req_t)
    _SET_ENTRY[5](entry, resp_t)
    _SET_ENTRY[6](entry, created)
    _SET_ENTRY[7](entry, expires)
    _SET_ENTRY[8](entry, size)
    _SET_ENTRY[9](entry, stale)
    _SET_ENTRY[10](entry, ())
    _SET_ENTRY[11](entry, False)
    return entry


def _glob_prefilter(pattern: str) -> str:
    """A SQLite GLOB matching at least what ``url_matches(url, pattern)`` matches,
    against the URL without its scheme. ``*`` and ``?`` mean the same in both;
    brackets differ (``[!a]`` vs ``[^a]``), so from the first ``[`` on, anything."""
    rest = pattern.split("://", 1)[-1]
    bracket = rest.find("[")
    return rest if bracket < 0 else rest[:bracket] + "*"


def _close_quietly(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error:
        logger.debug("SQLite cache: closing a connection failed", exc_info=True)
