"""What the two file backends share: layout, safe reads, atomic writes, locks, counters.

Layout under the cache folder (every name is a hex digest or fixed, never URL text)::

    entries/<kd[:2]>/<kd>         one file per entry: a frame (see below)
    variants/<pd[:2]>/<pd>/<kd>   empty markers: the keys stored under one primary key
    .tmp/<random>.tmp             files being written, flock-ed by their live writer
    .locks/<kd[:2]>.lock          256 lock stripes (+ stats.lock), kept to a fixed set
    stats                         hit and miss counts folded from the log
    stats.log                     one byte appended per lookup: ``+`` a hit, ``-`` a miss

``kd`` is a digest of an entry's key and ``pd`` of its primary key. An entry whose
key is its primary key (no ``Vary``) is found at ``entries/<pd>`` without a marker, so
``find`` opens that file and lists one small folder, usually absent. A marker is only
a hint: ``find`` checks each entry it names (and drops markers whose entry is gone).

Counting a lookup appends one byte to ``stats.log`` (``O_APPEND``: no lock, no new
file, and one byte cannot be torn by a crash). Reading the counts folds the log into
``stats`` under the ``stats`` lock: the log is renamed to ``stats.<token>``, taken with
an exclusive ``flock`` (an appender holds a shared one while it writes, and appends
again to a new log if it finds its file unlinked), counted, recorded in ``stats``
with its token, then removed. A leftover ``stats.<token>`` (a crash mid-fold) is
folded next time, unless ``stats`` already names it. Bytes other than ``+`` and ``-``
are ignored, so damage costs counts, never the cache.

An entry file is a frame: ``magic (4) | head length (u32) | body CRC-32 (u32) |
payload length (u64) | head | payload``, the head being ``serialize.dumps_entry``
output (which ends with its own CRC-32). The file's size must be exactly what the
frame says, so an empty, truncated or extended file is rejected like a foreign or
damaged one: a miss, logged once, never a crash. The body's CRC-32 (the payload's in
a ``FileCache`` file, the body file's for ``SeparateBodyFileCache``) is computed by
the writer and checked on read: a small body when it is opened, a larger one as its
end is read (``_checksum``). A lookup that finds an entry file damaged removes it.

Every write goes to a new file in ``.tmp`` (same file system) that is then moved into
place with ``os.replace`` (or ``os.link``, see ``file``), so a reader sees the old file
or the new one. A body up to ``StagedWriter.IN_MEMORY`` is collected in memory and
written in one go at commit. A writer holds ``flock`` on its temporary file; a file in
``.tmp`` nobody holds belongs to a dead writer (``kill -9``): ``clear()`` removes it,
and so does an instance's first write, and its writes every ``SWEEP_EVERY`` seconds.

A hit reads its head once: ``find`` keeps the files it opened (per thread) and
``open_entry`` serves from the one it asks for if the path still names that very file
(same inode: files are replaced, never edited), else reads it anew. Decoded heads are
remembered by their bytes (``HeadMemo``), so an unchanged head is not decoded again.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
import os
import re
import secrets
import stat
import struct
import threading
import time
import weakref
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, ClassVar, NamedTuple, cast

import msgpack
from filelock import FileLock, Timeout

from ..errors import ChecksumMismatchError, DeserializationError, StorageError
from ..models import Entry
from ..serialize import MAX_HEAD_BYTES, dumps_entry
from ._checksum import Crc, VerifiedBody, verified
from .base import BaseCache, BodyWriter

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: temporary files are judged by age
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("httpcache")

FRAME = struct.Struct(">4sIIQ")  # magic, head length, body CRC-32, payload length
CRC_AT = 8  # offset of the body's CRC-32 in the frame
_CRC = struct.Struct(">I")
#: Bodies up to this size are read whole and checked when opened; larger ones are
#: checked as they are read.
SMALL_BODY = 64 << 10
_HEX32 = re.compile(r"[0-9a-f]{32}\Z")
_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO planted in the cache must not block the open
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_CREATE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_LOCK_FLAGS = (
    os.O_RDWR
    | os.O_CREAT
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_APPEND_FLAGS = (
    os.O_WRONLY
    | os.O_APPEND
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
LOCK_TIMEOUT = 30.0  # seconds; a stripe is held for a few file operations at most
_POLL = 0.002
_STATS_MAGIC = "httpcache-stats"
_STATS_VERSION = 2  # [magic, version, hits, misses, token of the last log folded]
_HIT, _MISS = b"+", b"-"
_ROTATED = re.compile(r"stats\.([0-9a-f]{16})\Z")
#: A lookup that finds the counter log this long folds it (if the lock is free).
FOLD_AT = 64 << 10
#: Bytes read at once from the start of an entry file: the frame prefix and most heads.
HEAD_READ = 4096
_ABANDONED_AGE = 3600.0  # without flock: a temporary file this old is a dead writer's
SWEEP_EVERY = 10.0  # seconds between an instance's sweeps of dead writers' files
#: ``max_size``: past the limit, least recently used entries go until this share of it
#: is left; the folder is measured again after this share of it was written.
EVICT_TO = 0.9
RESCAN_SHARE = 0.1


class _Busy(Exception):
    """A lock asked for without waiting is held elsewhere."""


def cache_folder(directory: str | os.PathLike[str], use_cache_dir: bool = False) -> str:
    """The absolute folder: ``~`` expanded, a relative path put in the user's cache
    folder with ``use_cache_dir`` (as requests-cache does)."""
    path = os.path.expanduser(os.fspath(directory))
    if use_cache_dir and not os.path.isabs(path):
        from platformdirs import user_cache_dir

        path = os.path.join(user_cache_dir("httpcache"), path)
    return os.path.abspath(path)


def name_of(key: str) -> str:
    """The file name for a key: a 128-bit hex digest, whatever the key holds."""
    data = key.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16, person=b"httpcache-file").hexdigest()


@contextlib.contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Turn any ``OSError`` into ``StorageError`` (the original chained); a damaged
    body (``ChecksumMismatchError``) stays what it is."""
    try:
        yield
    except StorageError:
        raise
    except OSError as exc:
        raise StorageError(f"cannot {what}: {exc}") from exc


# ---- frames ----------------------------------------------------------------------------


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


def read_at(fd: int, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes from ``offset`` (fewer only at the end of the file)."""
    parts = []
    while size > 0 and (part := _pread(fd, size, offset)):
        parts.append(part)
        size -= len(part)
        offset += len(part)
    return b"".join(parts)


def _pread(fd: int, size: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - Windows
    return os.read(fd, size)  # pragma: no cover


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


# ---- files -----------------------------------------------------------------------------


def open_file(path: str) -> int | None:
    """Open a regular file for reading without following a symlink; ``None`` if absent.

    A symlink or anything but a regular file is logged and reported as absent.
    """
    opened = open_regular(path)
    return None if opened is None else opened[0]


def open_regular(path: str) -> tuple[int, os.stat_result] | None:
    """``open_file``, with the file's ``fstat``."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            logger.warning("%s is a symbolic link, not followed: a miss", path)
            return None
        raise StorageError(f"cannot open {path}: {exc}") from exc
    try:
        info = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        logger.warning("%s is not a regular file: a miss", path)
        return None
    return fd, info


def stamp(fd: int) -> None:
    """Set a file's mtime to now: least-recently-used order for ``max_size``."""
    now = time.time_ns()
    with contextlib.suppress(OSError):  # a read-only cache still serves hits
        os.utime(fd, ns=(now, now))


def _try_flock(fd: int) -> bool | None:
    """Take ``flock`` without waiting: True, False if held elsewhere, None if unsupported."""
    if fcntl is None:  # pragma: no cover - Windows
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            return False
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):  # pragma: no cover
            return None
        raise
    return True


def _abandoned(fd: int) -> bool:
    """True if no live writer holds this temporary file."""
    locked = _try_flock(fd)
    if locked is None:  # pragma: no cover - no flock here: judge by age
        return time.time() - os.fstat(fd).st_mtime > _ABANDONED_AGE
    return locked


def sweep_temps(folder: str) -> None:
    """Remove temporary files whose writer died (``kill -9``, power loss)."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(folder, name)
        try:
            fd = os.open(path, _READ_FLAGS)
        except FileNotFoundError:
            continue  # committed or removed meanwhile
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                os.unlink(path)  # .tmp is private: a symlink there is junk
            continue
        try:
            # Unlink only the inode we hold: a committed file was renamed away.
            if _abandoned(fd) and os.lstat(path).st_ino == os.fstat(fd).st_ino:
                os.unlink(path)
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)


#: Lock files this process holds (``FlockLock``): a forked child closes its copies, which
#: would otherwise keep the parent's locks held for as long as the child lives.
_HELD_LOCKS: set[int] = set()


def _close_inherited_locks() -> None:
    for fd in list(_HELD_LOCKS):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


class FlockLock:
    """An exclusive ``flock`` on a lock file, reentrant per thread: on POSIX this is
    the lock ``filelock.FileLock`` takes (same file, same ``flock``, so the two exclude
    each other), without its bookkeeping, which cost ~150 µs per acquire and release.

    Each acquire opens the file anew: the open file description is the thread's own,
    so threads and processes exclude each other alike. A lock file removed while
    waited on (``clear()``) is noticed (no links left) and a new one is locked.
    """

    def __init__(self, lock_file: str, timeout: float, mode: int) -> None:
        self.lock_file = lock_file
        self._timeout = timeout
        self._mode = mode
        self._local = threading.local()  # .fd, .depth, .pid of this thread's hold
        self._fallback: FileLock | None = None  # where the file system has no flock

    def acquire(self, timeout: float | None = None, poll_interval: float = _POLL) -> None:
        if self._fallback is not None:
            self._fallback.acquire(timeout, poll_interval=poll_interval)
            return
        local = self._local
        if getattr(local, "depth", 0) and local.pid == os.getpid():
            local.depth += 1
            return
        wait = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while (fd := self._try_once()) is None:
            if self._fallback is not None:  # pragma: no cover - no flock here
                self._fallback.acquire(timeout, poll_interval=poll_interval)
                return
            if time.monotonic() >= deadline:
                raise Timeout(self.lock_file)
            time.sleep(poll_interval)
        _HELD_LOCKS.add(fd)
        local.fd, local.depth, local.pid = fd, 1, os.getpid()

    def _try_once(self) -> int | None:
        """The locked file's descriptor, or None if another holder has it."""
        while True:
            fd = os.open(self.lock_file, _LOCK_FLAGS, self._mode)
            try:
                locked = _try_flock(fd)
                if not locked:
                    if locked is None:  # pragma: no cover - filelock has a fallback
                        self._fallback = FileLock(self.lock_file, self._timeout, mode=self._mode)
                    os.close(fd)
                    return None
                info = os.fstat(fd)
                if info.st_nlink > 0:
                    if stat.S_IMODE(info.st_mode) != self._mode:  # the umask took bits
                        os.fchmod(fd, self._mode)
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # removed while we waited: lock the new file

    def release(self) -> None:
        if self._fallback is not None:  # pragma: no cover - no flock here
            self._fallback.release()
            return
        local = self._local
        local.depth -= 1
        if local.depth == 0 and local.pid == os.getpid():
            _HELD_LOCKS.discard(local.fd)
            os.close(local.fd)  # the flock goes with the last descriptor


class TempFile:
    """A new file in ``.tmp``, flock-ed for as long as it is open."""

    def __init__(self, cache: FileCacheBase) -> None:
        folder = cache._tmp_dir
        for _ in range(5):
            path = os.path.join(folder, secrets.token_hex(8) + ".tmp")
            try:
                fd = os.open(path, _CREATE_FLAGS, cache.filemode)
            except FileNotFoundError:
                cache._make_dir(folder)
                continue
            # A sweep may have taken it between create and flock: then it is unlinked.
            if _try_flock(fd) is not False and (info := os.fstat(fd)).st_nlink > 0:
                break
            os.close(fd)
        else:
            raise StorageError(f"cannot create a temporary file in {folder}")
        try:
            if stat.S_IMODE(info.st_mode) != cache.filemode:  # the umask took bits
                os.fchmod(fd, cache.filemode)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        self.path = path
        self.file = os.fdopen(fd, "wb")
        self._moved = False
        #: The frame already gives the body's length (``FileCache`` patches it if not).
        self.sealed = False
        #: The CRC-32 of the body written (set at commit).
        self.crc = 0

    def fileno(self) -> int:
        return self.file.fileno()

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def move_to(self, path: str, cache: FileCacheBase, replace: bool = True) -> bool:
        """Put this file at ``path`` in one atomic step, replacing what was there; with
        ``replace=False`` only if nothing is there (else False, and it stays here)."""
        self.file.flush()
        if cache.max_size is not None:  # least-recently-used order, finer than the kernel's
            stamp(self.fileno())
        put = os.replace if replace else _link
        try:
            placed = put(self.path, path)
        except FileNotFoundError:  # its folder is new, or was removed by a clear()
            cache._make_dir(os.path.dirname(path))
            placed = put(self.path, path)
        if placed is False:
            return False
        if not replace:
            os.unlink(self.path)  # a crash before this leaves a name for sweep_temps
        self._moved = True
        return True

    def discard(self) -> None:
        """Close (releasing the flock) and, unless moved into place, remove."""
        with contextlib.suppress(OSError):
            self.file.close()
        if not self._moved:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self._moved = True


def _link(source: str, target: str) -> bool:
    """Give ``source``'s file the name ``target`` too, unless ``target`` exists (False,
    as where the file system has no hard links)."""
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
            return False
        raise
    return True


def _walk2(top: str) -> Iterator[os.DirEntry[str]]:
    """Files in the two-hex-digit subfolders of ``top``."""
    try:
        stripes = [d.path for d in os.scandir(top) if len(d.name) == 2]
    except FileNotFoundError:
        return
    for stripe in stripes:
        with contextlib.suppress(FileNotFoundError), os.scandir(stripe) as items:
            yield from items


def list_names(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def _rmdir(path: str) -> None:
    with contextlib.suppress(FileNotFoundError, OSError):
        os.rmdir(path)  # only when empty


def remove_file(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


# ---- the shared backend ----------------------------------------------------------------


class FileCacheBase(BaseCache):
    """Everything but the entry format; ``FileCache`` and ``SeparateBodyFileCache``
    add how bodies are stored."""

    MAGIC: ClassVar[bytes]
    #: Bodies are files of their own (not in the entry file).
    BODY_APART: ClassVar[bool] = False

    def __init__(
        self,
        directory: str | os.PathLike[str],
        forever: bool = False,
        filemode: int = 0o600,
        dirmode: int = 0o700,
        *,
        max_size: int | None = None,
        use_cache_dir: bool = False,
    ) -> None:
        if forever and max_size is not None:
            raise ValueError("forever=True keeps every entry, so it takes no max_size")
        super().__init__(max_size)
        self.directory = cache_folder(directory, use_cache_dir)
        self.forever = forever
        self.filemode = filemode
        self.dirmode = dirmode
        self._entries_dir = os.path.join(self.directory, "entries")
        self._variants_dir = os.path.join(self.directory, "variants")
        self._tmp_dir = os.path.join(self.directory, ".tmp")
        self._locks_dir = os.path.join(self.directory, ".locks")
        self._stats_path = os.path.join(self.directory, "stats")
        self._log_path = os.path.join(self.directory, "stats.log")
        self._locks: dict[str, FileLock | FlockLock] = {}
        self._explicit = threading.local()
        self._reads = threading.local()  # .held: this thread's HeldFiles
        self._swept: float | None = None  # when this instance last swept .tmp
        self._memo = HeadMemo()
        # max_size: bytes of the folder as last measured plus what was stored since.
        self._usage_lock = threading.Lock()
        self._measured = False
        self._estimate = 0
        self._unmeasured = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.directory!r})"

    # ---- paths and folders --------------------------------------------------------

    def path_of(self, key: str) -> str:
        """The file holding an entry's head (whether or not it exists)."""
        return self._entry_path(name_of(key))

    def _entry_path(self, kd: str) -> str:
        return os.path.join(self._entries_dir, kd[:2], kd)

    def _variant_dir(self, pd: str) -> str:
        return os.path.join(self._variants_dir, pd[:2], pd)

    def _marker_path(self, pd: str, kd: str) -> str:
        return os.path.join(self._variant_dir(pd), kd)

    @property
    def _stripe_roots(self) -> tuple[str, ...]:
        """Folders whose files are split in ``<kd[:2]>`` subfolders, one per lock stripe."""
        return (self._entries_dir,)

    def _make_dir(self, path: str) -> None:
        """Create ``path`` and its missing parents with exactly ``dirmode``, umask or not."""
        try:
            os.mkdir(path, self.dirmode)
        except FileExistsError:
            return
        except FileNotFoundError:
            self._make_dir(os.path.dirname(path))
            try:
                os.mkdir(path, self.dirmode)
            except FileExistsError:
                return
        os.chmod(path, self.dirmode)

    # ---- locks ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, name: str, wait: bool = True) -> Iterator[None]:
        """Hold lock ``name`` (a two-digit stripe or "stats") against threads and processes.

        Without ``wait``, raise ``_Busy`` at once if it is held elsewhere.
        """
        lock = self._locks.get(name)
        if lock is None:
            path = os.path.join(self._locks_dir, name + ".lock")
            kind = FileLock if fcntl is None else FlockLock
            lock = self._locks.setdefault(
                name, kind(path, timeout=LOCK_TIMEOUT, mode=self.filemode)
            )
        try:
            self._make_dir(self._locks_dir)  # with exactly dirmode, before a lock file
            lock.acquire(timeout=None if wait else 0, poll_interval=_POLL)
        except Timeout as exc:
            if not wait:
                raise _Busy(name) from None
            raise StorageError(f"{lock.lock_file} stayed locked {LOCK_TIMEOUT} s") from exc
        except OSError as exc:
            raise StorageError(f"cannot lock {lock.lock_file}: {exc}") from exc
        try:
            yield
        finally:
            lock.release()

    # ---- reading ----------------------------------------------------------------------

    @abstractmethod
    def _parse(self, fd: int, size: int) -> Frame:
        """The frame of an entry file of ``size`` bytes, checked (or ``DeserializationError``)."""

    def _decoded(self, length: int, head: bytes, decode: Callable[[], Entry]) -> Entry:
        """``decode()``, or the entry decoded before from the same bytes."""
        entry = self._memo.get(length, head)
        if entry is None:
            entry = decode()
            self._memo.put(length, head, entry)
        return entry

    def _open_frame(self, kd: str, remove_damaged: bool = False) -> Opened | None:
        """An open entry file and its frame, or ``None`` (absent, or damaged: logged,
        and with ``remove_damaged`` removed)."""
        path = self._entry_path(kd)
        opened = open_regular(path)
        if opened is None:
            return None
        fd, info = opened
        keep_open = False
        try:
            frame = self._parse(fd, info.st_size)
            if name_of(frame.entry.key) != kd:
                raise DeserializationError("it holds an entry of another key")
            keep_open = True
            return Opened(fd, frame, (info.st_dev, info.st_ino))
        except DeserializationError as exc:
            logger.warning("skipping unreadable cache file %s: %s", path, exc)
            if remove_damaged:
                self._remove_damaged(kd, (info.st_dev, info.st_ino))
            return None
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc
        finally:
            if not keep_open:
                os.close(fd)

    def _remove_damaged(self, kd: str, file_id: tuple[int, int]) -> None:
        """Remove entry ``kd``'s file if it is still the damaged one (a rewrite stays)."""
        path = self._entry_path(kd)
        try:
            with self._locked(kd[:2]):
                info = os.lstat(path)
                if (info.st_dev, info.st_ino) == file_id:
                    os.unlink(path)
                    self._remove_extra(kd)
        except (OSError, StorageError) as exc:  # read-only, say: it stays a miss
            logger.debug("damaged %s not removed: %s", path, exc)

    def _head(self, kd: str, held: bool = False) -> Frame | None:
        """The frame of entry ``kd`` (closing the file), or ``None``; with ``held``,
        the one ``find`` read in this thread if its file is still in place."""
        opened = self._reopen(kd) if held else self._open_frame(kd)
        if opened is None:
            return None
        os.close(opened.fd)
        return opened.frame

    def _reopen(self, kd: str) -> Opened | None:
        """Entry ``kd`` as ``find`` left it open in this thread, if its file is still the
        one at its path (files are replaced, never edited: same inode, same bytes), or
        else as it is now."""
        held = self._held().take(kd)
        if held is not None:
            try:
                info = os.lstat(self._entry_path(kd))
                if (info.st_dev, info.st_ino) == held.file_id:
                    return held
            except OSError:
                pass  # gone, or unreachable: as it is now says which
            os.close(held.fd)
        return self._open_frame(kd)

    def _hold_written(self, kd: str, tmp: TempFile, frame: Frame) -> None:
        """Keep entry ``kd``, just written from ``tmp`` with ``frame``, open for this
        thread's ``open_entry`` (the answer to a 304 reads the head it has written)."""
        written = os.fstat(tmp.fileno())
        opened = open_regular(self._entry_path(kd))  # read-only, unlike tmp
        if opened is None:
            return
        fd, info = opened
        if (info.st_dev, info.st_ino) != (written.st_dev, written.st_ino):
            os.close(fd)
            return
        self._held().keep(kd, Opened(fd, frame, (info.st_dev, info.st_ino)))

    def _held(self) -> HeldFiles:
        held = getattr(self._reads, "held", None)
        if held is None:
            held = self._reads.held = HeldFiles()
        return held

    # ---- the storage protocol -----------------------------------------------------------

    def find(self, primary_key: str) -> list[Entry]:
        """Every variant stored under ``primary_key``; their files stay open in this
        thread for an ``open_entry`` that follows (the next ``find`` closes them)."""
        pd = name_of(primary_key)
        held = self._held()
        held.close()
        found = []
        with storage_errors("find entries"):
            marked = [kd for kd in list_names(self._variant_dir(pd)) if _HEX32.match(kd)]
            for kd in [pd, *(kd for kd in marked if kd != pd)]:
                opened = self._open_frame(kd, remove_damaged=True)
                if opened is None:
                    if kd != pd:
                        with contextlib.suppress(StorageError):  # a read-only cache serves
                            self._drop_stale_marker(pd, kd)
                    continue
                if opened.frame.entry.primary_key != primary_key:
                    os.close(opened.fd)
                    continue
                stamp(opened.fd)
                held.keep(kd, opened)
                found.append(opened.frame.entry)
        return found

    def read_entry(self, key: str) -> Entry | None:
        with storage_errors("read an entry"):
            frame = self._head(name_of(key))
        return frame.entry if frame is not None else None

    def open_body(self, key: str) -> BinaryIO | None:
        opened = self.open_entry(key)
        return opened[1] if opened is not None else None

    @abstractmethod
    def open_entry(self, key: str) -> tuple[Entry, BinaryIO] | None:
        """An entry's head and a stream of its body, both of the same commit."""

    def delete_keys(self, keys: Iterable[str]) -> int:
        if self.forever and not getattr(self._explicit, "active", False):
            logger.debug("forever=True, so entries are only deleted by delete()")
            return 0
        with storage_errors("delete entries"):
            return sum(self._remove(name_of(key)) for key in set(keys))

    def delete(self, *keys: str, **options: Any) -> int:
        """As ``BaseCache.delete``; an explicit call deletes even with ``forever=True``."""
        self._explicit.active = True
        try:
            return super().delete(*keys, **options)
        finally:
            self._explicit.active = False

    def iter_entries(self) -> Iterator[Entry]:
        with storage_errors("list entries"):
            for item in _walk2(self._entries_dir):
                if _HEX32.match(item.name):
                    frame = self._head(item.name)
                    if frame is not None:
                        yield frame.entry

    def clear(self) -> None:
        self._forget_usage()
        with storage_errors("clear the cache"):
            stripes = {name for root in self._stripe_roots for name in list_names(root)}
            for stripe in sorted(s for s in stripes if len(s) == 2):
                with self._locked(stripe):
                    for root in self._stripe_roots:
                        folder = os.path.join(root, stripe)
                        for name in list_names(folder):
                            remove_file(os.path.join(folder, name))
                        _rmdir(folder)
            for stripe in list_names(self._variants_dir):
                for pd in list_names(os.path.join(self._variants_dir, stripe)):
                    for kd in list_names(self._variant_dir(pd)):
                        if _HEX32.match(kd):
                            self._drop_stale_marker(pd, kd)
                _rmdir(os.path.join(self._variants_dir, stripe))
            sweep_temps(self._tmp_dir)
            self._held().close()
            with self._locked("stats"):
                # A lookup appending meanwhile finds its log unlinked and starts a new one.
                for name in list_names(self.directory):
                    if _ROTATED.match(name) or name in ("stats", "stats.log"):
                        remove_file(os.path.join(self.directory, name))
            # Lock files go last, each removed while held: a waiter that opened the old
            # file sees it unlinked once it gets the lock and retries on a fresh one
            # (filelock >= 3.20.4 checks st_nlink after locking).
            for name in list_names(self._locks_dir):
                if name.endswith(".lock"):
                    with self._locked(name[: -len(".lock")]):
                        remove_file(os.path.join(self._locks_dir, name))

    # ---- writing helpers --------------------------------------------------------------

    def _sweep_if_due(self) -> None:
        """Remove dead writers' temporary files: at this instance's first write, then
        every ``SWEEP_EVERY`` seconds (a sweep opens every temporary file there is)."""
        now = time.monotonic()
        if self._swept is not None and now - self._swept < SWEEP_EVERY:
            return
        self._swept = now
        with storage_errors("start writing an entry"):
            sweep_temps(self._tmp_dir)

    def _new_temp(self) -> TempFile:
        with storage_errors("create a temporary file"):
            return TempFile(self)

    def _stage(self, data: bytes) -> TempFile:
        """A temporary file holding ``data``."""
        tmp = self._new_temp()
        try:
            tmp.write(data)
        except BaseException:
            tmp.discard()
            raise
        return tmp

    def _seal(self, data: bytearray, size: int) -> None:
        """Complete a frame held in memory now that the body's ``size`` is known."""

    @abstractmethod
    def _commit(self, tmp: TempFile, entry: Entry) -> None:
        """Store ``entry`` whose body was written to ``tmp``."""

    def _install(self, entry: Entry, old: Entry | None, tmp: TempFile) -> None:
        """Index ``entry`` and move its file into place; the caller holds its stripe lock.

        A variant's marker comes first, so its file is never in place without one (an
        entry keyed by its primary key needs none: ``find`` opens it directly).
        """
        kd = name_of(entry.key)
        if entry.key != entry.primary_key:
            self._mark(name_of(entry.primary_key), kd)
        tmp.move_to(self._entry_path(kd), self)
        if old is not None and old.primary_key != entry.primary_key:
            self._unmark(name_of(old.primary_key), kd)

    def _mark(self, pd: str, kd: str) -> None:
        path = self._marker_path(pd, kd)
        for _ in range(5):  # a concurrent delete may remove the empty folder meanwhile
            try:
                os.close(os.open(path, _CREATE_FLAGS, self.filemode))
            except FileExistsError:
                return
            except FileNotFoundError:
                self._make_dir(os.path.dirname(path))
                continue
            os.chmod(path, self.filemode)
            return
        raise StorageError(f"cannot create {path}")

    def _unmark(self, pd: str, kd: str) -> None:
        path = self._marker_path(pd, kd)
        remove_file(path)
        _rmdir(os.path.dirname(path))

    def _drop_stale_marker(self, pd: str, kd: str) -> None:
        """Remove a marker whose entry file is gone (a crash between two steps)."""
        with self._locked(kd[:2]):
            if not os.path.lexists(self._entry_path(kd)):
                self._unmark(pd, kd)

    def _remove(self, kd: str) -> bool:
        """Remove an entry's files and marker; True if its file existed."""
        with self._locked(kd[:2]):
            frame = self._head(kd)
            existed = remove_file(self._entry_path(kd))
            self._remove_extra(kd)
            if frame is not None:
                self._unmark(name_of(frame.entry.primary_key), kd)
        return existed

    def _remove_extra(self, kd: str, keep: str = "") -> None:
        """Remove files besides the entry file (separate bodies), except ``keep``."""

    # ---- size limit -----------------------------------------------------------------------

    def _usage(self) -> dict[str, list[int]]:
        """``{kd: [last use in ns, bytes]}`` from a stat of every file, none opened."""
        usage: dict[str, list[int]] = {}
        for root in self._stripe_roots:
            for item in _walk2(root):
                kd = item.name[:32]
                if not _HEX32.match(kd):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    info = item.stat(follow_symlinks=False)
                    slot = usage.setdefault(kd, [0, 0])  # a body without head: oldest
                    slot[1] += info.st_size
                    if root == self._entries_dir:
                        slot[0] = info.st_mtime_ns
        return usage

    def _evict(self, committed: Entry) -> None:
        """Keep the files within ``max_size`` after ``committed`` was stored.

        Measuring the folder means a stat of every file, so it is done only when this
        instance's estimate (the last measure plus what it stored since) passes
        ``max_size``, or after it stored ``RESCAN_SHARE`` of it (other processes write
        too). A measure over the limit removes least recently used entries down to
        ``EVICT_TO`` of it, so that the next measures are that many writes away.
        A failure here is logged; the commit stands.
        """
        if self.max_size is None or self.forever:
            return
        added = self._stored_bytes(committed)
        with self._usage_lock:
            self._estimate += added
            self._unmeasured += added
            if (
                self._measured
                and self._estimate <= self.max_size
                and self._unmeasured < self.max_size * RESCAN_SHARE
            ):
                return
            self._measured, self._unmeasured = True, 0
        try:
            with storage_errors("evict entries"):
                usage = self._usage()
                total = sum(size for _, size in usage.values())
                if total > self.max_size:
                    goal = self.max_size * EVICT_TO
                    by_age = sorted(usage.items(), key=lambda item: (item[1][0], item[0]))
                    for kd, (_, size) in by_age:
                        if total <= goal:
                            break
                        self._remove(kd)
                        total -= size
                self._estimate = total
        except StorageError as exc:
            logger.warning("eviction stopped: %s", exc)

    def _forget_usage(self) -> None:
        """The folder changed in a way the estimate does not follow: measure next time."""
        with self._usage_lock:
            self._measured, self._estimate, self._unmeasured = False, 0, 0

    def _stored_bytes(self, entry: Entry) -> int:
        """What a committed entry takes on disk (its entry file, plus a separate body)."""
        try:
            size = os.stat(self.path_of(entry.key)).st_size
        except OSError:  # replaced or removed since by another writer
            size = 0
        return size + entry.size if self.BODY_APART else max(size, entry.size)

    # ---- persistent hit and miss counters --------------------------------------------------

    def record_lookup(self, hit: bool) -> None:
        """Count a lookup: one byte appended to the log (see the module's docstring)."""
        with storage_errors("count a lookup"):
            size = self._append_count(_HIT if hit else _MISS)
        if size >= FOLD_AT:  # keep the log short; if someone else is folding, they do it
            with contextlib.suppress(_Busy):
                self._fold_log(wait=False)

    def _append_count(self, mark: bytes) -> int:
        """Append ``mark`` to the log; the log's size before it."""
        for _ in range(5):
            fd = self._open_log()
            try:
                if fcntl is not None:  # a fold waits for appends in flight
                    fcntl.flock(fd, fcntl.LOCK_SH)
                info = os.fstat(fd)
                if info.st_nlink == 0:  # folded or cleared since we opened it
                    continue
                os.write(fd, mark)
                return info.st_size
            finally:
                os.close(fd)
        raise StorageError(f"{self._log_path} keeps being replaced")

    def _open_log(self) -> int:
        try:
            return os.open(self._log_path, _APPEND_FLAGS)
        except FileNotFoundError:
            pass
        self._make_dir(self.directory)
        try:
            fd = os.open(self._log_path, _APPEND_FLAGS | os.O_CREAT | os.O_EXCL, self.filemode)
        except FileExistsError:
            return os.open(self._log_path, _APPEND_FLAGS)
        try:
            os.fchmod(fd, self.filemode)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _fold_log(self, wait: bool) -> None:
        """Move the counts in the log (and any a crash left mid-fold) into ``stats``."""
        with self._locked("stats", wait), storage_errors("fold the hit/miss counters"):
            for name in list_names(self.directory):
                if _ROTATED.match(name):
                    self._fold_rotated(name)
            try:
                if os.lstat(self._log_path).st_size == 0:
                    return
                name = f"stats.{secrets.token_hex(8)}"
                os.rename(self._log_path, os.path.join(self.directory, name))
            except FileNotFoundError:
                return
            self._fold_rotated(name)

    def _fold_rotated(self, name: str) -> None:
        """Add a renamed log to ``stats`` (unless it says it has it), then remove it."""
        path = os.path.join(self.directory, name)
        fd = open_file(path)
        if fd is None:
            remove_file(path)  # not a regular file: not ours to count
            return
        try:
            if fcntl is not None:  # appends in flight finish first, later ones see nlink 0
                fcntl.flock(fd, fcntl.LOCK_EX)
            hits, misses, folded = self._read_counts()
            token = name[len("stats.") :]
            if token != folded:
                log = read_at(fd, os.fstat(fd).st_size, 0)
                hits, misses = hits + log.count(_HIT), misses + log.count(_MISS)
                data = msgpack.packb([_STATS_MAGIC, _STATS_VERSION, hits, misses, token])
                tmp = self._stage(data)
                try:
                    tmp.move_to(self._stats_path, self)
                finally:
                    tmp.discard()
            os.unlink(path)
        finally:
            os.close(fd)

    def lookup_counts(self) -> tuple[int, int]:
        self._fold_log(wait=True)
        hits, misses, _ = self._read_counts()
        return hits, misses

    def close(self) -> None:
        """Close the entry files this thread's last ``find`` left open."""
        self._held().close()

    def _read_counts(self) -> tuple[int, int, str]:
        """Hits, misses and the token of the last log folded, from ``stats``."""
        with storage_errors("read the hit/miss counters"):
            fd = open_file(self._stats_path)
            if fd is None:
                return 0, 0, ""
            with os.fdopen(fd, "rb") as file:
                data = file.read(256)
        try:
            magic, version, hits, misses, *rest = msgpack.unpackb(data)
            if (
                magic != _STATS_MAGIC
                or (version, len(rest)) not in ((1, 0), (_STATS_VERSION, 1))
                or not (hits >= 0 and misses >= 0)
            ):
                raise ValueError("not a httpcache stats file")
            return int(hits), int(misses), str(rest[0]) if rest else ""
        except Exception as exc:  # damaged counters restart from zero
            logger.warning("ignoring damaged %s: %r", self._stats_path, exc)
            return 0, 0, ""


class StagedWriter(BodyWriter):
    """Collects a body, in memory up to ``IN_MEMORY`` bytes and then in a temporary
    file; ``commit`` hands it to the cache (a small body is written in one go)."""

    IN_MEMORY = 64 << 10

    def __init__(self, cache: FileCacheBase, entry: Entry, prefix: bytes = b"") -> None:
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
        crc = _CRC.pack(self._crc.value)
        try:
            if self._tmp is None:  # all in memory: its frame can be complete
                if self._framed:
                    self._buffer[CRC_AT : CRC_AT + _CRC.size] = crc
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
