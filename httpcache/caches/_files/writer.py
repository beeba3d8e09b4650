"""The file backends' body writer: a body collected in memory, then in a temporary
file, its CRC-32 computed as it comes, handed to the cache at commit."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Protocol

from ...errors import StorageError
from ...models import Entry
from .._checksum import Crc
from ..base import BodyWriter
from .frames import CRC, CRC_AT
from .primitives import TempFile, storage_errors


class Staging(Protocol):
    """What a writer needs of its cache: temporary files, and the commit."""

    def _sweep_if_due(self) -> None: ...

    def _new_temp(self) -> TempFile: ...

    def _seal(self, data: bytearray, size: int) -> None: ...

    def _commit(self, tmp: TempFile, entry: Entry) -> None: ...

    def _evict(self, committed: Entry) -> None: ...


class StagedWriter(BodyWriter):
    """Collects a body, in memory up to ``IN_MEMORY`` bytes and then in a temporary
    file; ``commit`` hands it to the cache (a small body is written in one go)."""

    IN_MEMORY = 64 << 10

    def __init__(self, cache: Staging, entry: Entry, prefix: bytes = b"") -> None:
        self._cache = cache
        self._entry = entry
        self._size = 0
        self._done = False
        self._buffer = bytearray(prefix)  # what is not in the file yet
        self._framed = bool(prefix)  # the body's CRC goes in this frame (else the head's)
        self._crc = Crc()
        self._tmp: TempFile | None = None
        self._discard: Callable[[], object] = _nothing

    def _spill(self) -> TempFile:
        """Move what is held to a new temporary file, which takes what follows."""
        self._cache._sweep_if_due()
        tmp = self._tmp = self._cache._new_temp()
        # Never committed nor aborted (dropped by its owner): remove the file anyway.
        self._discard = weakref.finalize(self, tmp.discard)
        buffer, self._buffer = self._buffer, bytearray()
        self._write(bytes(buffer))
        return tmp

    def _write(self, data: bytes) -> None:
        assert self._tmp is not None
        try:
            self._tmp.write(data)
        except OSError as exc:
            self.abort()
            raise StorageError(f"cannot write {self._tmp.path}: {exc}") from exc

    def write(self, chunk: bytes) -> None:
        if self._done:
            raise StorageError("this writer was already committed or aborted")
        self._size += len(chunk)
        self._crc.update(chunk)
        if self._tmp is None and len(self._buffer) + len(chunk) <= self.IN_MEMORY:
            self._buffer += chunk
            return
        # Past the limit: what is held goes to a file first, and a large chunk (a
        # whole body given at once) straight after it, never copied in memory.
        if self._tmp is None:
            self._spill()
        self._write(chunk)

    def commit(self) -> Entry:
        if self._done:
            raise StorageError("this writer was already committed or aborted")
        self._done = True
        entry = self._entry.with_changes(size=self._size)
        crc = CRC.pack(self._crc.value)
        try:
            if self._tmp is None:  # all in memory: its frame can be complete
                if self._framed:
                    self._buffer[CRC_AT : CRC_AT + CRC.size] = crc
                self._cache._seal(self._buffer, entry.size)
                self._spill().sealed = True
            assert self._tmp is not None
            self._tmp.crc = self._crc.value
            with storage_errors(f"store {self._tmp.path}"):
                if self._framed and not self._tmp.sealed:
                    self._tmp.file.seek(CRC_AT)
                    self._tmp.write(crc)
                self._cache._commit(self._tmp, entry)
        finally:
            self._discard()
        self._cache._evict(entry)
        return entry

    def abort(self) -> None:
        self._done = True
        self._buffer = bytearray()
        self._discard()


def _nothing() -> None:
    pass
