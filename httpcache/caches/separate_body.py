"""SeparateBodyFileCache: heads and bodies in separate files, bodies streamed both ways.

Heads live where ``FileCache`` keeps its entries (see ``_files``); the frame's payload
is a random token naming the body, ``bodies/<kd[:2]>/<kd>.<token>``. A commit, under
the entry's lock:

1. the body, streamed into ``.tmp``, moves to a new, uniquely named body file;
2. the head naming it replaces the old head (``os.replace``): the commit point;
3. the previous body (and any body of this key a crash left behind) is removed.

A reader thus never pairs a head with a missing or different body: a body file is
complete before any head names it, and never changes. If a rewrite removes the body
between a reader's reading the head and opening the body, the reader reads the head
again (at most three times in all, as rewrites keep winning only under heavy
contention); if the body is still missing, it is a miss. Listing reads heads only, and
freshening (``update_head``) rewrites only the small head file.
"""

from __future__ import annotations

import os
import re
import secrets
from typing import BinaryIO

from ..errors import DeserializationError
from ..models import Entry
from ..serialize import loads_entry
from ._file_options import FileCacheOptions
from ._files import (
    FRAME,
    Frame,
    StagedWriter,
    TempFile,
    frame_prefix,
    list_names,
    logger,
    name_of,
    open_file,
    open_verified,
    read_frame,
    remove_file,
    storage_errors,
)
from .base import BodyWriter, freshens

_TOKEN = re.compile(rb"[0-9a-f]{16}\Z")
_TOKEN_LENGTH = 16
#: Head reads per body open: each retry means a rewrite won a race, so it is rare.
_ATTEMPTS = 3


class SeparateBodyFileCache(FileCacheOptions):
    """Heads and bodies as separate files under ``directory``; bodies never in memory."""

    MAGIC = b"HCS\x02"  # 2: the frame holds the body's CRC-32
    BODY_APART = True

    @property
    def _bodies_dir(self) -> str:
        return os.path.join(self.directory, "bodies")

    @property
    def _stripe_roots(self) -> tuple[str, ...]:
        return (self._entries_dir, self._bodies_dir)

    def _body_path(self, kd: str, token: str) -> str:
        return os.path.join(self._bodies_dir, kd[:2], f"{kd}.{token}")

    def _parse(self, fd: int, size: int) -> Frame:
        data, offset, length, crc = read_frame(fd, self.MAGIC, size, extra=_TOKEN_LENGTH)
        head, token = data[: offset - FRAME.size], data[offset - FRAME.size :]
        if length != _TOKEN_LENGTH or not _TOKEN.match(token):
            raise DeserializationError(f"bad body name {token[:40]!r}")
        entry = self._decoded(length, data, lambda: loads_entry(head))
        return Frame(entry, offset, length, token.decode(), crc)

    def open_entry(self, key: str) -> tuple[Entry, BinaryIO] | None:
        kd = name_of(key)
        with storage_errors("read an entry"):
            for attempt in range(_ATTEMPTS):  # a rewrite may remove the body between head and open
                # The first head is the one find() read, if its file is still in place.
                frame = self._head(kd, held=attempt == 0)
                if frame is None:
                    return None
                path = self._body_path(kd, frame.token)
                fd = open_file(path)
                if fd is None:
                    continue
                if os.fstat(fd).st_size != frame.entry.size:
                    os.close(fd)
                    logger.warning("%s is not %d bytes: a miss", path, frame.entry.size)
                    return None
                return frame.entry, open_verified(fd, 0, frame.entry.size, frame.crc, path)
            logger.warning("the body of %s is missing: a miss", self._entry_path(kd))
            return None

    def open_writer(self, entry: Entry) -> BodyWriter:
        return StagedWriter(self, entry)

    def _commit(self, tmp: TempFile, entry: Entry) -> None:
        kd = name_of(entry.key)
        token = secrets.token_hex(8)
        head = self._stage(frame_prefix(self.MAGIC, entry, len(token), tmp.crc) + token.encode())
        try:
            with self._locked(kd[:2]):
                old = self._head(kd)
                body = self._body_path(kd, token)
                tmp.move_to(body, self)
                try:
                    self._install(entry, old.entry if old else None, head)
                except BaseException:
                    remove_file(body)  # no head names it
                    raise
                self._remove_extra(kd, keep=token)
        finally:
            head.discard()

    def update_head(self, entry: Entry) -> None:
        """Replace the head file only; it keeps naming the same body."""
        kd = name_of(entry.key)
        with self._locked(kd[:2]), storage_errors("update an entry"):
            frame = self._head(kd, held=True)
            if frame is None or not freshens(entry, frame.entry):
                return  # gone, or another response stored since
            entry = entry.with_changes(size=frame.entry.size)
            token = frame.token.encode()
            prefix = frame_prefix(self.MAGIC, entry, len(token), frame.crc)
            head = self._stage(prefix + token)
            try:
                self._install(entry, frame.entry, head)
                self._hold_written(kd, head, frame._replace(entry=entry, offset=len(prefix)))
            finally:
                head.discard()

    def _remove_extra(self, kd: str, keep: str = "") -> None:
        """Remove this key's body files but ``keep`` (old ones, or a crash's leftovers)."""
        folder = os.path.join(self._bodies_dir, kd[:2])
        for name in list_names(folder):
            if name.startswith(kd + ".") and name != f"{kd}.{keep}":
                remove_file(os.path.join(folder, name))
