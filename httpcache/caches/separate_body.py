"""SeparateBodyFileCache: heads and bodies in separate files, bodies streamed both ways.

Heads live where ``FileCache`` keeps its entries (see ``_files``); the frame's payload
is a random token naming the body, ``bodies/<kd[:2]>/<kd>.<token>``. A commit, under
the entry's lock:

0. a marker ``bodies/<kd[:2]>/<kd>.pending`` says the key's files are being changed;
1. the body, streamed into ``.tmp``, moves to a new, uniquely named body file;
2. the head naming it replaces the old head (``os.replace``): the commit point;
3. the previous body (named by the old head) is removed, then the marker.

A marker found at step 0 was left by a process that died in the middle: then every
body of the key but the new one is removed (the only time a folder of bodies is
listed, so a store costs the same however many entries the cache holds). Removing an
entry takes the same steps: marker, head, the body it named, marker.

A reader thus never pairs a head with a missing or different body: a body file is
complete before any head names it, and never changes. If a rewrite removes the body
between a reader's reading the head and opening the body, the reader reads the head
again (at most three times in all, as rewrites keep winning only under heavy
contention); if the body is still missing, it is a miss. Listing reads heads only, and
freshening (``update_head``) rewrites only the small head file.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from typing import BinaryIO

from ..errors import DeserializationError, StorageError
from ..models import Entry
from ..serialize import loads_entry
from ._file_options import FileCacheOptions
from ._files import (
    CREATE_FLAGS,
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
                with self._changing(kd, (old.token,) if old else (), keep=token):
                    tmp.move_to(body, self)
                    try:
                        self._install(entry, old.entry if old else None, head)
                    except BaseException:
                        remove_file(body)  # no head names it
                        raise
        finally:
            head.discard()

    @contextlib.contextmanager
    def _removing(self, kd: str, frame: Frame | None) -> Iterator[None]:
        # A head there but unreadable: its body is not known, so every one goes.
        known = (frame.token,) if frame else None if os.path.lexists(self._entry_path(kd)) else ()
        with self._changing(kd, known):
            yield

    @contextlib.contextmanager
    def _changing(self, kd: str, old: tuple[str, ...] | None, keep: str = "") -> Iterator[None]:
        """Steps 0 and 3 of a change to key ``kd`` (see the module's text) around the
        caller's; ``old``: the bodies to remove after it (None: not known, all but
        ``keep``). On an exception the marker stays: the next change tidies up."""
        pending = os.path.join(self._bodies_dir, kd[:2], f"{kd}.pending")
        died = os.path.lexists(pending)  # a change of this key that never ended
        if not died:
            self._make_marker(pending)
        yield
        if died or old is None:
            self._remove_extra(kd, keep=keep)
        else:
            for token in old:
                if token != keep:
                    remove_file(self._body_path(kd, token))
        remove_file(pending)

    def _make_marker(self, path: str) -> None:
        for _ in range(3):  # a concurrent clear may remove the empty folder meanwhile
            try:
                os.close(os.open(path, CREATE_FLAGS, self.filemode))
                return
            except FileExistsError:
                return
            except FileNotFoundError:
                self._make_dir(os.path.dirname(path))
        raise StorageError(f"cannot create {path}")

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
