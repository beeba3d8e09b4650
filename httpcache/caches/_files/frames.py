"""Entry files' frames: ``magic (4) | head length (u32) | body CRC-32 (u32) | payload
length (u64) | head | payload``; reading a frame, checking a body, and the files and
decoded heads a lookup keeps for the hit that follows."""

from __future__ import annotations

import contextlib
import io
import os
import struct
from typing import BinaryIO, NamedTuple, cast

from ...errors import ChecksumMismatchError, DeserializationError
from ...models import Entry
from ...serialize import MAX_HEAD_BYTES, dumps_entry
from .._checksum import VerifiedBody, verified
from .primitives import read_at

FRAME = struct.Struct(">4sIIQ")  # magic, head length, body CRC-32, payload length

CRC_AT = 8  # offset of the body's CRC-32 in the frame

CRC = struct.Struct(">I")

#: Bodies up to this size are read whole and checked when opened; larger ones are
#: checked as they are read.
SMALL_BODY = 64 << 10

#: Bytes read at once from the start of an entry file: the frame prefix and most heads.
HEAD_READ = 4096


class Frame(NamedTuple):
    entry: Entry
    offset: int  # where the payload starts
    length: int  # payload bytes
    token: str = ""  # SeparateBodyFileCache: which body file goes with this head
    crc: int = 0  # the body's CRC-32


class Opened(NamedTuple):
    """An entry file open for reading, its frame, and which file it is (device, inode)."""

    fd: int
    frame: Frame
    file_id: tuple[int, int]


#: Files may stay open between calls: on Windows an open file cannot be replaced.
_CAN_HOLD = os.name != "nt"


class HeldFiles:
    """Entry files one thread's ``find`` opened, kept for its ``open_entry``: a hit
    reads and decodes its head once. Closed by the next ``find``, or with the thread."""

    def __init__(self) -> None:
        self._files: dict[str, Opened] = {}

    def keep(self, kd: str, opened: Opened) -> None:
        previous = self._files.pop(kd, None)
        if previous is not None:
            os.close(previous.fd)
        if not _CAN_HOLD:  # pragma: no cover - Windows
            os.close(opened.fd)
            return
        self._files[kd] = opened

    def take(self, kd: str) -> Opened | None:
        """Entry ``kd``'s file, now the caller's to close; the others are closed."""
        opened = self._files.pop(kd, None)
        self.close()
        return opened

    def close(self) -> None:
        files, self._files = self._files, {}
        for opened in files.values():
            with contextlib.suppress(OSError):
                os.close(opened.fd)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at exit, modules may be torn down already
            self.close()


def frame_prefix(magic: bytes, entry: Entry, payload_length: int, crc: int = 0) -> bytes:
    head = dumps_entry(entry)
    return FRAME.pack(magic, len(head), crc, payload_length) + head


def open_verified(fd: int, offset: int, length: int, crc: int, where: str) -> BinaryIO:
    """The body of ``length`` bytes at ``offset`` of ``fd`` (closed by the stream, or
    now if this fails), checked against ``crc``: a small body read and checked now
    (``ChecksumMismatchError``), a larger one as its end is read."""
    try:
        if length <= SMALL_BODY:
            data = read_at(fd, length, offset)
            if len(data) != length:
                raise ChecksumMismatchError(where, f"{len(data)} bytes, not {length}")
            os.close(fd)
            return io.BytesIO(verified(data, crc, where))
        os.lseek(fd, offset, os.SEEK_SET)
        return cast(BinaryIO, VerifiedBody(os.fdopen(fd, "rb"), length, crc, where))
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise


def read_frame(fd: int, magic: bytes, size: int, extra: int = 0) -> tuple[bytes, int, int, int]:
    """The head bytes of the frame at the start of ``fd`` (a file of ``size`` bytes),
    followed by up to ``extra`` bytes of its payload; the payload's offset and length,
    and the body's CRC-32.

    Raises ``DeserializationError`` if the frame is foreign or does not fit the file.
    """
    data = read_at(fd, min(size, max(HEAD_READ, FRAME.size + extra)), 0)
    if len(data) < FRAME.size:
        raise DeserializationError(f"{size} bytes, too short for a cache file")
    found, head_length, crc, length = FRAME.unpack_from(data)
    if found != magic:
        kind = "another format version" if found[:3] == magic[:3] else "not a httpcache file"
        raise DeserializationError(f"{kind} (starts with {found!r})")
    offset = FRAME.size + head_length
    if head_length > MAX_HEAD_BYTES or size != offset + length:
        raise DeserializationError(f"{size} bytes where the frame says {offset + length}: damaged")
    wanted = head_length + min(extra, length)
    head = data[FRAME.size : FRAME.size + wanted]
    if len(head) < wanted:
        head += read_at(fd, wanted - len(head), FRAME.size + len(head))
    return head, offset, length, crc


class HeadMemo:
    """Entries decoded lately, by the bytes they were decoded from: a hit on an
    unchanged file skips msgpack and the field checks (the bytes are compared whole)."""

    SIZE = 256
    LARGEST = 16 << 10  # bytes of head: larger ones are decoded every time

    def __init__(self) -> None:
        self._items: dict[tuple[int, bytes], Entry] = {}

    def get(self, length: int, head: bytes) -> Entry | None:
        return self._items.get((length, head))

    def put(self, length: int, head: bytes, entry: Entry) -> None:
        if len(head) > self.LARGEST:
            return
        items = self._items
        if len(items) >= self.SIZE:
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                del items[next(iter(items))]  # the oldest (threads may race: then none)
        items[(length, head)] = entry
