"""FileCache: one file per entry, head and body together, in a folder.

Each entry is one file (layout and frame in ``_files``): the frame's payload is the
body, so committing an entry is a single ``os.replace`` and a reader holding the
file sees one version of head and body whatever happens next. The body's length is
written into the frame at commit (the head goes first, before the size is known), and
is what ``Entry.size`` reports. ``open_body`` returns the file positioned at the body,
so hits stream from disk.

``FileCache(directory, forever=False, filemode=0o600, dirmode=0o700)`` is
CacheControl's signature. ``forever=True`` keeps entries until the user removes them:
the driver's deletions (``delete_keys``) do nothing and there is no size limit, while
``delete()``, ``remove_expired()`` and ``clear()`` still work.
"""

from __future__ import annotations

import os
import shutil
import struct
from typing import BinaryIO

from ..models import Entry
from ._files import (
    FRAME,
    FileCacheBase,
    Frame,
    StagedWriter,
    TempFile,
    frame_prefix,
    name_of,
    read_frame,
    storage_errors,
)
from .base import BodyWriter, freshens

_LENGTH_AT = FRAME.size - 8  # offset of the payload length in the frame prefix
_COPY_CHUNK = 1 << 20


class FileCache(FileCacheBase):
    """Entries as single files under ``directory``, safe to share between processes."""

    MAGIC = b"HCF\x01"

    def _parse(self, fd: int) -> Frame:
        frame = read_frame(fd, self.MAGIC)
        return frame._replace(entry=frame.entry.with_changes(size=frame.length))

    def open_entry(self, key: str) -> tuple[Entry, BinaryIO] | None:
        with storage_errors("read an entry"):
            opened = self._open_frame(name_of(key))
            if opened is None:
                return None
            fd, frame = opened
            try:
                os.lseek(fd, frame.offset, os.SEEK_SET)
            except BaseException:
                os.close(fd)
                raise
            return frame.entry, os.fdopen(fd, "rb")

    def open_writer(self, entry: Entry) -> BodyWriter:
        return StagedWriter(self, entry, prefix=frame_prefix(self.MAGIC, entry, 0))

    def _commit(self, tmp: TempFile, entry: Entry) -> None:
        tmp.file.seek(_LENGTH_AT)  # the body's length, unknown when the head went first
        tmp.write(struct.pack(">Q", entry.size))
        kd = name_of(entry.key)
        with self._locked(kd[:2]):
            old = self._head(kd)
            self._install(entry, old.entry if old else None, tmp)

    def update_head(self, entry: Entry) -> None:
        """Rewrite the entry's file with the new head and a copy of its body."""
        kd = name_of(entry.key)
        with self._locked(kd[:2]), storage_errors("update an entry"):
            opened = self._open_frame(kd)
            if opened is None:
                return
            fd, frame = opened
            if not freshens(entry, frame.entry):  # another response stored since
                os.close(fd)
                return
            with os.fdopen(fd, "rb") as old:
                entry = entry.with_changes(size=frame.length)
                tmp = self._stage(frame_prefix(self.MAGIC, entry, frame.length))
                try:
                    old.seek(frame.offset)
                    shutil.copyfileobj(old, tmp.file, _COPY_CHUNK)
                    self._install(entry, frame.entry, tmp)
                finally:
                    tmp.discard()
