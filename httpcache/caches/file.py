"""FileCache: one file per entry, head and body together, in a folder.

Each entry is one file (layout and frame in ``_files``): the frame's payload is the
body, so committing an entry is a single ``os.replace`` and a reader holding the
file sees one version of head and body whatever happens next. The body's length is
written into the frame at commit (the head goes first, before the size is known), and
is what ``Entry.size`` reports. ``open_body`` returns the file positioned at the body,
so hits stream from disk.

A new entry without ``Vary`` (none stored under its key) is put in place with
``link``, which fails if a file is there: it replaces nothing, so it takes no lock.
Replacing takes the entry's lock, as ``update_head`` does for its check-then-replace:
a file it checked stays there until it is done, so such a link cannot slip in between.

CacheControl's options (``forever``, ``lock_class``) are in ``_file_options``.
"""

from __future__ import annotations

import os
import shutil
import struct
from typing import BinaryIO

from ..models import Entry
from ..serialize import loads_entry
from ._file_options import FileCacheOptions
from ._files import (
    FRAME,
    Frame,
    StagedWriter,
    TempFile,
    frame_prefix,
    name_of,
    open_verified,
    read_at,
    read_frame,
    storage_errors,
)
from .base import BodyWriter, freshens

_LENGTH_AT = FRAME.size - 8  # offset of the payload length in the frame prefix
_COPY_CHUNK = 1 << 20


class FileCache(FileCacheOptions):
    """Entries as single files under ``directory``, safe to share between processes."""

    MAGIC = b"HCF\x02"  # 2: the frame holds the body's CRC-32

    def _parse(self, fd: int, size: int) -> Frame:
        head, offset, length, crc = read_frame(fd, self.MAGIC, size)
        entry = self._decoded(length, head, lambda: loads_entry(head).with_changes(size=length))
        return Frame(entry, offset, length, crc=crc)

    def open_entry(self, key: str) -> tuple[Entry, BinaryIO] | None:
        with storage_errors("read an entry"):
            opened = self._reopen(name_of(key))
            if opened is None:
                return None
            fd, frame, _ = opened
            where = self._entry_path(name_of(key))
            return frame.entry, open_verified(fd, frame.offset, frame.length, frame.crc, where)

    def open_writer(self, entry: Entry) -> BodyWriter:
        return StagedWriter(self, entry, prefix=frame_prefix(self.MAGIC, entry, 0))

    def _seal(self, data: bytearray, size: int) -> None:
        data[_LENGTH_AT : FRAME.size] = struct.pack(">Q", size)

    def _commit(self, tmp: TempFile, entry: Entry) -> None:
        if not tmp.sealed:  # the body's length, unknown when the head went first
            tmp.file.seek(_LENGTH_AT)
            tmp.write(struct.pack(">Q", entry.size))
        kd = name_of(entry.key)
        if entry.key == entry.primary_key and tmp.move_to(self._entry_path(kd), self, False):
            return  # new, and it needs no marker: nothing to lock (see the docstring)
        with self._locked(kd[:2]):
            old = self._head(kd)
            self._install(entry, old.entry if old else None, tmp)

    def update_head(self, entry: Entry) -> None:
        """Rewrite the entry's file with the new head and a copy of its body."""
        kd = name_of(entry.key)
        with self._locked(kd[:2]), storage_errors("update an entry"):
            opened = self._reopen(kd)
            if opened is None:
                return
            fd, frame, _ = opened
            if not freshens(entry, frame.entry):  # another response stored since
                os.close(fd)
                return
            with os.fdopen(fd, "rb") as old:
                entry = entry.with_changes(size=frame.length)
                prefix = frame_prefix(self.MAGIC, entry, frame.length, frame.crc)
                small = frame.length <= _COPY_CHUNK  # then one write
                body = read_at(fd, frame.length, frame.offset) if small else b""
                tmp = self._stage(prefix + body)
                try:
                    if not small:
                        old.seek(frame.offset)
                        shutil.copyfileobj(old, tmp.file, _COPY_CHUNK)
                    self._install(entry, frame.entry, tmp)
                    written = Frame(entry, len(prefix), frame.length, crc=frame.crc)
                    self._hold_written(kd, tmp, written)
                finally:
                    tmp.discard()
