"""The SQLite cache's connections: one per thread for statements, a small pool for
readers that keep a snapshot across calls, set-up of the file, and what happens
when the file cannot be used as it is.

Every connection is opened with ``check_same_thread=False`` so that ``close()`` can
close them from any thread; otherwise a connection is only used by its owner. A
forked child leaves its parent's connections alone and opens its own.

The file, on first use (once per instance and process):

- **new or of this schema**: used; an older httpcache's schema is dropped (one
  warning) and made anew.
- **not a database, or another application's** (a file of garbage, a database whose
  tables are not ours): moved aside as ``<name>.corrupt-<time>``, with one warning,
  and a new cache is started in its place. A file found damaged later (SQLite says
  it is malformed) is moved aside the same way, and the next call starts anew.
- **a newer httpcache's**: left alone; every call fails with ``StorageError`` (the
  driver uses the network), so that the newer version's entries survive.
- **read-only** (a read-only file system, or a file this process may not write):
  opened read-only. Hits are served and entries listed; every write fails with
  ``StorageError`` at once (the driver logs one warning and skips it). Whether the
  file became writable again is checked at most every ``READ_ONLY_RECHECK`` seconds.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..._dirs import make_private_dirs
from ...errors import StorageError
from . import schema
from .paths import create_private_file, file_id, move_aside

logger = logging.getLogger("httpcache")

#: Idle body-reader connections kept open for reuse.
READER_POOL_SIZE = 4
#: Page cache of each connection (KiB), and of one doing a bulk delete.
CACHE_KIB = 2048
BULK_CACHE_KIB = 65536
#: The WAL is cut back to this after a checkpoint (``journal_size_limit``).
WAL_LIMIT = 64 << 20
#: Seconds between checks that a read-only file became writable again.
READ_ONLY_RECHECK = 1.0
#: What SQLite says of a file that is not, or no longer, a usable database.
_UNUSABLE = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT"})
_UNUSABLE_TEXT = ("file is not a database", "database disk image is malformed")
#: What SQLite says when it may not write the file or its journals.
_READ_ONLY = frozenset({"SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM"})
_READ_ONLY_TEXT = ("readonly database", "unable to open database file", "read-only")


class MovedAside(StorageError):
    """The file was unusable and has been moved aside; a new cache starts at the
    next call."""


def unusable(exc: BaseException) -> bool:
    """Whether SQLite says the file is not (or no longer) a usable database."""
    name = getattr(exc, "sqlite_errorname", "")
    if name:
        return name.split("_(")[0] in _UNUSABLE or name.startswith("SQLITE_CORRUPT")
    return any(text in str(exc) for text in _UNUSABLE_TEXT)


def _read_only_error(exc: BaseException) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    if name and any(name.startswith(kind) for kind in _READ_ONLY):
        return True
    return any(text in str(exc) for text in _READ_ONLY_TEXT)


class Connections:
    """The connections to one database file (see the module's text)."""

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        #: The file is opened read-only (see the module's text).
        self.read_only = False
        self._read_only_since = 0.0
        self._reset()

    def _reset(self) -> None:
        """Forget every connection (after ``close`` or in a forked child)."""
        self._local = threading.local()
        self._conns: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._readers_idle: list[sqlite3.Connection] = []
        self._readers_open: set[sqlite3.Connection] = set()
        self._ready = False
        self._file: tuple[int, int] | None = None  # the file set up (device, inode)
        self._pid = os.getpid()

    # ---- this thread's connection -----------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        if self._pid != os.getpid():
            # A forked child: the parent's connections (and lock) are not ours to use,
            # nor to close (closing could disturb the parent's locks): keep them aside.
            self._forked_away = [conn for _, conn in self._conns] + list(self._readers_open)
            self._lock = threading.Lock()
            self._reset()
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
                        close_quietly(other)
                self._conns = kept
            self._local.conn = conn
        elif conn.in_transaction and not getattr(self._local, "batch", False):
            conn.rollback()  # left open by an interrupted call
        return conn

    def all_open(self) -> list[sqlite3.Connection]:
        """Every connection open now (for tests and ``close``)."""
        with self._lock:
            return [conn for _, conn in self._conns] + list(self._readers_open)

    def idle_readers(self) -> int:
        with self._lock:
            return len(self._readers_idle)

    def close(self) -> None:
        """Close every connection (those of other threads too); later use reopens."""
        with self._lock:
            conns = [conn for _, conn in self._conns] + list(self._readers_open)
            self._reset()
        for conn in conns:
            close_quietly(conn)

    # ---- readers keeping a snapshot -----------------------------------------------------

    def acquire_reader(self) -> sqlite3.Connection:
        self.connection()  # set up, and reset after a fork
        with self._lock:
            if self._readers_idle:
                return self._readers_idle.pop()
        conn = self._open()
        with self._lock:
            self._readers_open.add(conn)
        return conn

    def release_reader(self, conn: sqlite3.Connection) -> None:
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
        close_quietly(conn)

    # ---- errors and transactions ----------------------------------------------------------

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Translate sqlite3 errors into ``StorageError`` (the original chained); a
        file found unusable is moved aside first (``MovedAside``)."""
        try:
            yield
        except sqlite3.Error as exc:
            if unusable(exc):
                moved = self._move_aside(exc)
                if moved is not None:
                    raise MovedAside(
                        f"SQLite cache {self.path}: {action} failed: {exc}; the file was"
                        f" moved aside to {moved.name} and a new cache is started"
                    ) from exc
            raise StorageError(f"SQLite cache {self.path}: {action} failed: {exc}") from exc

    @contextmanager
    def transaction(self, action: str, bulk: bool = False) -> Iterator[sqlite3.Connection]:
        """A write transaction: the write lock is taken at once (waiting up to the
        busy timeout), so it cannot fail half-way for want of the lock. ``bulk``
        lends the connection a larger page cache for the transaction: deleting many
        rows touches index pages in random order. Inside this thread's ``batch`` it
        is a savepoint of the batch's transaction (a failure undoes its own writes)."""
        if getattr(self._local, "batch", False):
            with self.errors(action):
                conn = self.connection()
                conn.execute("SAVEPOINT step")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK TO step")
                    conn.execute("RELEASE step")
                    raise
                conn.execute("RELEASE step")
            return
        with self.errors(action):
            self._check_writable(action)
            conn = self.connection()
            if self.read_only:  # found so by the set-up this call made
                raise StorageError(f"SQLite cache {self.path} is read-only: not written ({action})")
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

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One write transaction for every write this thread makes inside the block,
        committed at its end (rolled back on an exception); a nested batch joins."""
        if getattr(self._local, "batch", False):
            yield
            return
        with self.transaction("store a batch", bulk=True):
            self._local.batch = True
            try:
                yield
            finally:
                self._local.batch = False

    def _check_writable(self, action: str) -> None:
        """Refuse a write to a file opened read-only, unless it became writable (then
        every connection is opened anew, read-write)."""
        if not self.read_only:
            return
        now = time.monotonic()
        if now - self._read_only_since >= READ_ONLY_RECHECK and self._writable():
            logger.debug("SQLite cache %s is writable again", self.path)
            self.close()
            self.read_only = False
            self.connection()
            if not self.read_only:
                return
        raise StorageError(f"SQLite cache {self.path} is read-only: not written ({action})")

    def _writable(self) -> bool:
        self._read_only_since = time.monotonic()
        folder = self.path.parent
        return os.access(self.path, os.W_OK) and os.access(folder, os.W_OK)

    # ---- opening ---------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self._setup()
                    self._ready = True
        return self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            return self._connect_read_only()
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            # WAL with NORMAL sync survives a killed process; a power cut may only
            # lose the last commits (fine for a cache).
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT}")
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            # Deleted rows are still zeroed in the pages a delete writes anyway,
            # without the extra writes of FULL (which some builds default to).
            conn.execute("PRAGMA secure_delete = FAST")
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect_read_only(self) -> sqlite3.Connection:
        """A read-only connection: ``mode=ro`` needs the WAL's shared-memory file, which
        a read-only folder may lack; then ``immutable`` (nobody can change the file)."""
        uri = self.path.resolve().as_uri()
        last: sqlite3.Error | None = None
        for query in ("mode=ro", "immutable=1"):
            try:
                conn = sqlite3.connect(
                    f"{uri}?{query}",
                    uri=True,
                    timeout=self.busy_timeout,
                    isolation_level=None,
                    check_same_thread=False,
                )
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
                return conn
            except sqlite3.Error as exc:
                last = exc
        assert last is not None
        raise last

    def _setup(self) -> None:
        """Create the folder, the file and the schema; move an unusable file aside."""
        try:
            make_private_dirs(self.path.parent)
            create_private_file(self.path)
        except OSError as exc:
            if not self.path.is_file():
                raise StorageError(f"SQLite cache {self.path}: {exc}") from exc
            self._go_read_only(exc)
        for attempt in range(2):
            self._file = file_id(self.path)
            try:
                self._prepare()
                return
            except sqlite3.Error as exc:
                if unusable(exc) and attempt == 0:
                    self._replace(str(exc))
                    continue
                if _read_only_error(exc) and not self.read_only and self.path.is_file():
                    self._go_read_only(exc)
                    continue
                raise StorageError(f"SQLite cache {self.path}: cannot open: {exc}") from exc
            except _Foreign as foreign:
                if attempt == 0 and not self.read_only:
                    self._replace(str(foreign))
                    continue
                raise StorageError(f"SQLite cache {self.path}: {foreign}") from None

    def _prepare(self) -> None:
        conn = self._connect()
        try:
            found, version = schema.examine(conn)
            if found is schema.Found.FOREIGN:
                raise _Foreign("it holds another application's tables, not a cache's")
            if found is schema.Found.NEWER:
                raise StorageError(
                    f"SQLite cache {self.path} has schema {version}, from a newer httpcache"
                )
            if self.read_only:
                if found is not schema.Found.CURRENT:
                    raise StorageError(f"SQLite cache {self.path} is read-only and not ready")
                return
            if found is schema.Found.EMPTY:
                # Freed pages go back to the file system (must precede the first table).
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            _enable_wal(conn, self.busy_timeout)
            if found is not schema.Found.CURRENT:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    again, version = schema.examine(conn)  # now that we hold the write lock
                    if again is not schema.Found.CURRENT:
                        schema.create(conn, again, version, self.path)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.rollback()
                    raise
                if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
                    # An older schema's file: VACUUM applies the setting (it is empty).
                    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
                    conn.execute("VACUUM")
        finally:
            conn.close()

    def _go_read_only(self, exc: BaseException) -> None:
        logger.debug("SQLite cache %s opened read-only: %s", self.path, exc)
        self.read_only = True
        self._read_only_since = time.monotonic()

    def _replace(self, why: str) -> None:
        """Move the unusable file aside (one warning) so that a new one is made."""
        moved = move_aside(self.path, self._file)
        if moved is not None:
            logger.warning(
                "SQLite cache %s is unusable (%s): moved aside to %s; a new cache is started",
                self.path,
                why,
                moved.name,
            )
        create_private_file(self.path)

    def _move_aside(self, exc: BaseException) -> Path | None:
        """A file found damaged while in use: close everything, move it aside, and
        start anew at the next call."""
        if self.read_only:
            return None
        expected = self._file
        self.close()
        moved = move_aside(self.path, expected)
        if moved is not None:  # the caller's MovedAside says so (the one warning)
            logger.debug("SQLite cache %s: damaged (%s), moved aside to %s", self.path, exc, moved)
        return moved


class _Foreign(Exception):
    """The file at the cache's path is a database of something else."""


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


def checkpoint(conn: sqlite3.Connection) -> None:
    """Move the WAL into the file and truncate it, without waiting on readers."""
    with busy_timeout(conn, 0.0):
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


@contextmanager
def busy_timeout(conn: sqlite3.Connection, seconds: float) -> Iterator[None]:
    """Wait at most ``seconds`` for locks during the block (not the usual timeout)."""
    (usual,) = conn.execute("PRAGMA busy_timeout").fetchone()
    conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(usual)}")


def close_quietly(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error:
        logger.debug("SQLite cache: closing a connection failed", exc_info=True)
