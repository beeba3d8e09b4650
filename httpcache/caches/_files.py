"""What the two file backends share: layout, safe reads, atomic writes, locks, counters.

Layout under the cache folder (every name is a hex digest or fixed, never URL text)::

    entries/<kd[:2]>/<kd>         one file per entry: a frame (see below)
    variants/<pd[:2]>/<pd>/<kd>   empty markers: the keys stored under one primary key
    .tmp/<random>.tmp             files being written, flock-ed by their live writer
    .locks/<kd[:2]>.lock          256 lock stripes (+ stats.lock), kept to a fixed set
    stats                         persistent hit and miss counters

``kd`` is a digest of an entry's key and ``pd`` of its primary key, so ``read_entry``
opens one file and ``find`` lists one small folder. A marker is only a hint: ``find``
checks each entry it names (and drops markers whose entry is gone).

An entry file is a frame: ``magic (4) | head length (u32) | payload length (u64) |
head | payload``, the head being ``serialize.dumps_entry`` output. The file's size
must be exactly what the frame says, so an empty, truncated or extended file is
rejected like a foreign or damaged one: a miss, logged once, never a crash.

Every write goes to a new file in ``.tmp`` (same file system) that is then moved into
place with ``os.replace``, so a reader sees the old file or the new one. A writer holds
``flock`` on its temporary file; a file in ``.tmp`` nobody holds belongs to a dead
writer (``kill -9``) and the next writer, or ``clear()``, removes it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
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
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, ClassVar, NamedTuple

import msgpack
from filelock import FileLock, Timeout

from ..errors import DeserializationError, StorageError
from ..models import Entry
from ..serialize import MAX_HEAD_BYTES, dumps_entry, loads_entry
from .base import BaseCache, BodyWriter

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: temporary files are judged by age
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("httpcache")

FRAME = struct.Struct(">4sIQ")  # magic, head length, payload length
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
LOCK_TIMEOUT = 30.0  # seconds; a stripe is held for a few file operations at most
_POLL = 0.002
_STATS_MAGIC = "httpcache-stats"
_ABANDONED_AGE = 3600.0  # without flock: a temporary file this old is a dead writer's
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
    """Turn any ``OSError`` into ``StorageError`` (the original chained)."""
    try:
        yield
    except OSError as exc:
        raise StorageError(f"cannot {what}: {exc}") from exc


# ---- frames ----------------------------------------------------------------------------


class Frame(NamedTuple):
    entry: Entry
    offset: int  # where the payload starts
    length: int  # payload bytes
    token: str = ""  # SeparateBodyFileCache: which body file goes with this head


def frame_prefix(magic: bytes, entry: Entry, payload_length: int) -> bytes:
    head = dumps_entry(entry)
    return FRAME.pack(magic, len(head), payload_length) + head


def read_at(fd: int, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes from ``offset`` (fewer only at the end of the file)."""
    os.lseek(fd, offset, os.SEEK_SET)
    parts = []
    while size > 0 and (part := os.read(fd, size)):
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def read_frame(fd: int, magic: bytes) -> Frame:
    """Parse the frame at the start of ``fd``, or raise ``DeserializationError``."""
    size = os.fstat(fd).st_size
    prefix = read_at(fd, FRAME.size, 0)
    if len(prefix) < FRAME.size:
        raise DeserializationError(f"{size} bytes, too short for a cache file")
    found, head_length, length = FRAME.unpack(prefix)
    if found != magic:
        kind = "another format version" if found[:3] == magic[:3] else "not a httpcache file"
        raise DeserializationError(f"{kind} (starts with {found!r})")
    expected = FRAME.size + head_length + length
    if head_length > MAX_HEAD_BYTES or size != expected:
        raise DeserializationError(f"{size} bytes where the frame says {expected}: damaged")
    entry = loads_entry(read_at(fd, head_length, FRAME.size))
    return Frame(entry, FRAME.size + head_length, length)


# ---- files -----------------------------------------------------------------------------


def open_file(path: str) -> int | None:
    """Open a regular file for reading without following a symlink; ``None`` if absent.

    A symlink or anything but a regular file is logged and reported as absent.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            logger.warning("%s is a symbolic link, not followed: a miss", path)
            return None
        raise StorageError(f"cannot open {path}: {exc}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        logger.warning("%s is not a regular file: a miss", path)
        return None
    return fd


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
            if _try_flock(fd) is not False and os.fstat(fd).st_nlink > 0:
                break
            os.close(fd)
        else:
            raise StorageError(f"cannot create a temporary file in {folder}")
        try:
            os.fchmod(fd, cache.filemode)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        self.path = path
        self.file = os.fdopen(fd, "wb")
        self._moved = False

    def fileno(self) -> int:
        return self.file.fileno()

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def move_to(self, path: str, cache: FileCacheBase) -> None:
        """Put this file at ``path`` in one atomic step (replacing what was there)."""
        self.file.flush()
        stamp(self.fileno())
        try:
            os.replace(self.path, path)
        except FileNotFoundError:  # its folder was removed by a concurrent clear()
            cache._make_dir(os.path.dirname(path))
            os.replace(self.path, path)
        self._moved = True

    def discard(self) -> None:
        """Close (releasing the flock) and, unless moved into place, remove."""
        with contextlib.suppress(OSError):
            self.file.close()
        if not self._moved:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self._moved = True


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
        self._locks: dict[str, FileLock] = {}
        self._explicit = threading.local()
        # Hit and miss counts not yet in the stats file (its lock was busy).
        self._pending_lock = threading.Lock()
        self._pending = [0, 0]
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
            lock = self._locks.setdefault(
                name, FileLock(path, timeout=LOCK_TIMEOUT, mode=self.filemode)
            )
        try:
            self._make_dir(self._locks_dir)  # filelock would create it ignoring dirmode
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
    def _parse(self, fd: int) -> Frame:
        """The frame of an entry file, checked (or ``DeserializationError``)."""

    def _open_frame(self, kd: str) -> tuple[int, Frame] | None:
        """An open entry file and its frame, or ``None`` (absent, or damaged: logged)."""
        path = self._entry_path(kd)
        fd = open_file(path)
        if fd is None:
            return None
        keep_open = False
        try:
            frame = self._parse(fd)
            if name_of(frame.entry.key) != kd:
                raise DeserializationError("it holds an entry of another key")
            keep_open = True
            return fd, frame
        except DeserializationError as exc:
            logger.warning("skipping unreadable cache file %s: %s", path, exc)
            return None
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc
        finally:
            if not keep_open:
                os.close(fd)

    def _head(self, kd: str, touch: bool = False) -> Frame | None:
        """The frame of entry ``kd`` (closing the file), or ``None``."""
        opened = self._open_frame(kd)
        if opened is None:
            return None
        fd, frame = opened
        if touch:
            stamp(fd)
        os.close(fd)
        return frame

    # ---- the storage protocol -----------------------------------------------------------

    def find(self, primary_key: str) -> list[Entry]:
        pd = name_of(primary_key)
        found = []
        with storage_errors("find entries"):
            for kd in list_names(self._variant_dir(pd)):
                if not _HEX32.match(kd):
                    continue
                frame = self._head(kd, touch=True)
                if frame is not None and frame.entry.primary_key == primary_key:
                    found.append(frame.entry)
                elif frame is None:
                    with contextlib.suppress(StorageError):  # a read-only cache still serves
                        self._drop_stale_marker(pd, kd)
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
            with self._locked("stats"):
                remove_file(self._stats_path)
                with self._pending_lock:
                    self._pending = [0, 0]
            # Lock files go last, each removed while held: a waiter that opened the old
            # file sees it unlinked once it gets the lock and retries on a fresh one
            # (filelock >= 3.20.4 checks st_nlink after locking).
            for name in list_names(self._locks_dir):
                if name.endswith(".lock"):
                    with self._locked(name[: -len(".lock")]):
                        remove_file(os.path.join(self._locks_dir, name))

    # ---- writing helpers --------------------------------------------------------------

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

    @abstractmethod
    def _commit(self, tmp: TempFile, entry: Entry) -> None:
        """Store ``entry`` whose body was written to ``tmp``."""

    def _install(self, entry: Entry, old: Entry | None, tmp: TempFile) -> None:
        """Index ``entry`` and move its file into place; the caller holds its stripe lock.

        The marker comes first, so an entry file is never in place without one.
        """
        kd = name_of(entry.key)
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

    def _evict(self, added: int) -> None:
        """Keep the files within ``max_size`` after a commit of ``added`` bytes.

        Measuring the folder means a stat of every file, so it is done only when this
        instance's estimate (the last measure plus what it stored since) passes
        ``max_size``, or after it stored ``RESCAN_SHARE`` of it (other processes write
        too). A measure over the limit removes least recently used entries down to
        ``EVICT_TO`` of it, so that the next measures are that many writes away.
        A failure here is logged; the commit stands.
        """
        if self.max_size is None or self.forever:
            return
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
        """Count a lookup in the ``stats`` file (replaced whole, under its lock).

        While another thread or process holds that lock, the count waits in this
        instance and goes with its next update, ``lookup_counts`` or ``close``: a
        lookup never queues behind others' just to count itself.
        """
        with self._pending_lock:
            self._pending[0 if hit else 1] += 1
        self._flush_counts(wait=False)

    def _flush_counts(self, wait: bool) -> None:
        """Add this instance's pending counts to the ``stats`` file."""
        with self._pending_lock:
            hits, misses = self._pending
            self._pending = [0, 0]
        if not (hits or misses):
            return
        try:
            with self._locked("stats", wait), storage_errors("update the hit/miss counters"):
                old_hits, old_misses = self._read_counts()
                data = msgpack.packb([_STATS_MAGIC, 1, old_hits + hits, old_misses + misses])
                tmp = self._stage(data)
                try:
                    tmp.move_to(self._stats_path, self)
                finally:
                    tmp.discard()
        except BaseException as exc:
            with self._pending_lock:  # not written: they go next time
                self._pending[0] += hits
                self._pending[1] += misses
            if not isinstance(exc, _Busy):
                raise

    def lookup_counts(self) -> tuple[int, int]:
        self._flush_counts(wait=True)
        return self._read_counts()

    def close(self) -> None:
        """Write counts still pending (a failure is logged)."""
        try:
            self._flush_counts(wait=True)
        except StorageError as exc:
            logger.warning("hit/miss counts lost: %s", exc)

    def _read_counts(self) -> tuple[int, int]:
        with storage_errors("read the hit/miss counters"):
            fd = open_file(self._stats_path)
            if fd is None:
                return 0, 0
            with os.fdopen(fd, "rb") as file:
                data = file.read(256)
        try:
            magic, version, hits, misses = msgpack.unpackb(data)
            if (magic, version) != (_STATS_MAGIC, 1) or not (hits >= 0 and misses >= 0):
                raise ValueError("not a httpcache stats file")
            return int(hits), int(misses)
        except Exception as exc:  # damaged counters restart from zero
            logger.warning("ignoring damaged %s: %r", self._stats_path, exc)
            return 0, 0


class StagedWriter(BodyWriter):
    """Streams a body into a temporary file; ``commit`` hands it to the cache."""

    def __init__(self, cache: FileCacheBase, entry: Entry, prefix: bytes = b"") -> None:
        self._cache = cache
        self._entry = entry
        self._size = 0
        self._done = False
        with storage_errors("start writing an entry"):
            sweep_temps(cache._tmp_dir)
        self._tmp = cache._new_temp()
        # Never committed nor aborted (dropped by its owner): remove the file anyway.
        self._discard = weakref.finalize(self, self._tmp.discard)
        if prefix:
            self._write(prefix)

    def _write(self, data: bytes) -> None:
        try:
            self._tmp.write(data)
        except OSError as exc:
            self.abort()
            raise StorageError(f"cannot write {self._tmp.path}: {exc}") from exc

    def write(self, chunk: bytes) -> None:
        if self._done:
            raise StorageError("this writer was already committed or aborted")
        self._write(chunk)
        self._size += len(chunk)

    def commit(self) -> Entry:
        if self._done:
            raise StorageError("this writer was already committed or aborted")
        self._done = True
        try:
            with storage_errors(f"store {self._tmp.path}"):
                entry = self._entry.with_changes(size=self._size)
                self._cache._commit(self._tmp, entry)
        finally:
            self._discard()
        self._cache._evict(self._cache._stored_bytes(entry))
        return entry

    def abort(self) -> None:
        self._done = True
        self._discard()
