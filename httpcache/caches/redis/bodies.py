"""Bodies in and out of Redis.

A body that fits in one chunk is written inline with its head, in one script. A
larger one goes to a fresh generation's list, chunk by chunk, which has a short TTL
until the commit (a writer that dies leaves nothing for long); the commit script
adds the last chunk, swaps the head (which names the generation), sets every TTL and
retires the previous body after a grace period, so that a reader streaming it can
finish. Readers get the head's generation and read only that generation's chunks: a
head is never paired with another body. A body list is checked against its CRC-32
as its last chunk is read.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from ...errors import BodyReadError, ChecksumMismatchError
from ...models import Entry
from .._checksum import Crc
from ..base import BodyWriter
from .heads import Head
from .scripts import REDIS_ERRORS, Client, storage_errors

if TYPE_CHECKING:
    from .writes import Writes


class BodyStream(io.RawIOBase):
    """A stored body, read from Redis one chunk at a time."""

    def __init__(self, client: Client, body_key: str, head: Head, first: bytes) -> None:
        super().__init__()
        self._client = client
        self._body_key = body_key
        self._chunks = head.chunks
        self._size = head.size
        self._index = 0
        self._chunk = memoryview(first)
        self._pos = 0
        self._total = len(first)
        self._crc = Crc()
        self._crc.update(first)
        self._expected_crc = head.crc

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._pos >= len(self._chunk):
            if not self._next_chunk():
                return 0
        n = min(len(buffer), len(self._chunk) - self._pos)
        buffer[:n] = self._chunk[self._pos : self._pos + n]
        self._pos += n
        return n

    def readall(self) -> bytes:
        parts = [bytes(self._chunk[self._pos :])]
        while self._next_chunk():
            parts.append(bytes(self._chunk))
        self._pos = len(self._chunk)
        return b"".join(parts)

    def _next_chunk(self) -> bool:
        if self._index + 1 >= self._chunks:
            if self._total != self._size:
                raise ChecksumMismatchError(
                    self._body_key, f"{self._total} bytes, not {self._size}"
                )
            if self._crc.value != self._expected_crc:
                raise ChecksumMismatchError(self._body_key)
            return False
        self._index += 1
        try:
            data = cast("bytes | None", self._client.lindex(self._body_key, self._index))
        except REDIS_ERRORS as exc:
            raise BodyReadError(f"{self._body_key}: could not read: {exc}") from exc
        if data is None:
            raise BodyReadError(f"{self._body_key} vanished while it was being read")
        self._chunk = memoryview(data)
        self._pos = 0
        self._total += len(data)
        self._crc.update(data)
        return True


class RedisWriter(BodyWriter):
    """Pushes full chunks as they come; ``commit`` stores the rest and swaps the head."""

    def __init__(self, writes: Writes, entry: Entry, body_prefix: str, chunk_size: int) -> None:
        self._writes = writes
        self._entry = entry
        self._gen = uuid.uuid4().hex
        self._body_key = body_prefix + self._gen
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self._pushed = 0
        self._size = 0
        self._crc = Crc()
        self._done = False

    def write(self, chunk: bytes) -> None:
        if self._done:
            raise RuntimeError("this writer was already committed or aborted")
        self._buffer += chunk
        self._size += len(chunk)
        self._crc.update(chunk)
        size = self._chunk_size
        while len(self._buffer) >= size:
            with storage_errors(self._writes.owner, "store a body"):
                self._writes.push_chunk(self._body_key, bytes(self._buffer[:size]))
            del self._buffer[:size]
            self._pushed += 1

    def commit(self) -> Entry:
        if self._done:
            raise RuntimeError("this writer was already committed or aborted")
        self._done = True
        entry = replace(self._entry, size=self._size)
        try:
            with storage_errors(self._writes.owner, "store"):
                total = self._writes.commit(
                    entry, self._gen, self._pushed, bytes(self._buffer), self._crc.value
                )
        except BaseException:
            self._writes.discard(self._body_key)
            raise
        finally:
            self._buffer = bytearray()
        self._writes.after_commit(total)
        return entry

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._buffer = bytearray()
        if self._pushed:
            self._writes.discard(self._body_key)
