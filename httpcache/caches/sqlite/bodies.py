"""Bodies in and out of the SQLite cache, a chunk at a time.

Writing. A writer stores each full chunk in its own short transaction under a fresh
body id that no entry refers to yet, so a slow download never holds the write lock
for long and readers never see its chunks. ``commit()`` is one ``BEGIN IMMEDIATE``
transaction: last chunk (or the whole small body, inline with the head), entry and
head rows, old entry and body deleted, least recently used entries evicted past
``max_size``. The body's CRC-32 is computed as it is written.

Reading. A body of several chunks is read by a ``ChunkReader`` holding a read
transaction, i.e. a WAL snapshot, until it reaches the end or is closed: it gets
the complete body that was current when it was opened, whatever is committed
meanwhile, and checks the CRC-32 as its last chunk is read.
"""

from __future__ import annotations

import io
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from ...errors import ChecksumMismatchError, StorageError
from ...models import Entry
from .._checksum import Crc
from ..base import BodyWriter
from . import index
from .connections import Connections, checkpoint

logger = logging.getLogger("httpcache")

_CLAIM_LOST = "the body being written was removed (cache cleared, or writer idle too long)"


class ChunkReader(io.BufferedIOBase):
    """A body read one chunk at a time from a snapshot held until EOF or close."""

    def __init__(
        self,
        connections: Connections,
        conn: sqlite3.Connection,
        key: str,
        body: tuple[int, int, int, int],
    ) -> None:
        """``body``: its id, chunks, size and CRC-32."""
        super().__init__()
        self._connections: Connections | None = connections
        self._conn = conn
        self._body_id, self._chunks, self._size, self._expected_crc = body
        self._where = f"SQLite cache {connections.path}: {key}"
        self._crc = Crc()
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
        connections = self._connections
        assert connections is not None
        with connections.errors("read body"):
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
        connections, self._connections = self._connections, None
        if connections is not None:
            connections.release_reader(self._conn)


#: A piece of a body as the writer hands it to SQLite (any bytes-like object binds as
#: a BLOB, copied by SQLite: no copy of it is made first).
Piece = bytes | bytearray | memoryview


class SQLiteWriter(BodyWriter):
    """Stores full chunks as they come (each in a short transaction) under a body
    id that nothing refers to yet; ``commit`` makes the entry point at it."""

    def __init__(
        self,
        connections: Connections,
        entry: Entry,
        chunk_size: int,
        max_size: Callable[[], int | None],
    ) -> None:
        self._connections = connections
        self._entry = entry
        self._chunk_size = chunk_size
        self._max_size = max_size
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
        step = self._chunk_size
        view = memoryview(chunk).cast("B")
        if self._buffer:  # complete the piece begun by earlier writes
            taken = min(step - len(self._buffer), len(view))
            self._buffer += view[:taken]
            view = view[taken:]
            if len(self._buffer) == step:
                self._store_piece(self._buffer)  # bound as it is: SQLite copies it
                self._buffer = bytearray()
        # Full pieces straight from the caller's bytes: a large body given whole (a
        # response that was not streamed) is never copied whole once more.
        while len(view) >= step:
            self._store_piece(view[:step])
            view = view[step:]
        self._buffer += view

    def _store_piece(self, piece: Piece) -> None:
        try:
            with self._connections.transaction("write body") as conn:
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
        columns = index.head_columns(entry)
        max_size = self._max_size()
        try:
            with self._connections.transaction("store") as conn:
                body_id, chunks, inline = self._body_id, self._chunks, None
                if body_id is None:  # smaller than a chunk: the body goes with the head
                    inline = bytes(self._buffer)
                else:
                    if self._buffer:
                        self._store_chunk(conn, self._buffer)
                        chunks += 1
                    if not conn.execute(
                        "DELETE FROM writers WHERE body_id = ?", (body_id,)
                    ).rowcount:
                        raise StorageError(_CLAIM_LOST)
                # The entry it replaces goes, with its body.
                index.delete_where(conn, index.BY_KEY, [(columns["key_hash"], entry.key)])
                now = time.time()
                row = {**columns, "last_access": now, "body_id": body_id, "chunks": chunks}
                entry_id = index.with_free_id(conn, entry.expires, index.INSERT_ENTRY, row)
                conn.execute(
                    "INSERT INTO heads (id, head, crc, body) VALUES (?, ?, ?, ?)",
                    (entry_id, columns["head"], self._crc.value, inline),
                )
                index.add_counts(conn, 1, entry.size, columns["head_size"])
                index.evict(conn, max_size)
                index.delete_orphans(conn, now)
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._buffer = bytearray()
        if max_size is not None:
            self._bound_wal(max_size)
        return entry

    def _bound_wal(self, max_size: int) -> None:
        """Checkpoint once the WAL passes its share of ``max_size`` (see ``index``)."""
        path = self._connections.path
        try:
            wal = path.with_name(path.name + "-wal").stat().st_size
        except OSError:
            return
        if wal > max_size * index.WAL_SHARE:
            try:
                with self._connections.errors("checkpoint"):
                    checkpoint(self._connections.connection())
            except StorageError as exc:  # readers in the way: the next commit tries again
                logger.debug("%s", exc)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._buffer = bytearray()
        if self._body_id is None:
            return
        try:
            with self._connections.transaction("discard body") as conn:
                conn.execute("DELETE FROM bodies WHERE body_id = ?", (self._body_id,))
                conn.execute("DELETE FROM writers WHERE body_id = ?", (self._body_id,))
        except StorageError as exc:  # the chunks go later, as orphans
            logger.warning("%s", exc)

    def _store_chunk(self, conn: sqlite3.Connection, data: Piece) -> int:
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
