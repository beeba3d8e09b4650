"""File primitives of the file backends: opening without following links, atomic
placement through a temporary file, flock, sweeping what dead writers left, and the
names files get (a digest of the key, never URL text)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from typing import Protocol

from ...errors import StorageError

try:
    import fcntl as fcntl  # re-exported: the other parts lock with it too
except ImportError:  # pragma: no cover - Windows: temporary files are judged by age
    fcntl = None  # type: ignore[assignment]


logger = logging.getLogger("httpcache")

HEX32 = re.compile(r"[0-9a-f]{32}\Z")

READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO planted in the cache must not block the open
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)

CREATE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)

LOCK_FLAGS = (
    os.O_RDWR
    | os.O_CREAT
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)

APPEND_FLAGS = (
    os.O_WRONLY
    | os.O_APPEND
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)

_ABANDONED_AGE = 3600.0  # without flock: a temporary file this old is a dead writer's

SWEEP_EVERY = 10.0  # seconds between an instance's sweeps of dead writers' files


class TempOwner(Protocol):
    """What a temporary file needs of the cache it belongs to."""

    _tmp_dir: str
    filemode: int
    max_size: int | None

    def _make_dir(self, path: str) -> None: ...


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


def open_file(path: str) -> int | None:
    """Open a regular file for reading without following a symlink; ``None`` if absent.

    A symlink or anything but a regular file is logged and reported as absent.
    """
    opened = open_regular(path)
    return None if opened is None else opened[0]


def open_regular(path: str) -> tuple[int, os.stat_result] | None:
    """``open_file``, with the file's ``fstat``."""
    try:
        fd = os.open(path, READ_FLAGS)
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


def try_flock(fd: int) -> bool | None:
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


def abandoned(fd: int) -> bool:
    """True if no live writer holds this temporary file."""
    locked = try_flock(fd)
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
            fd = os.open(path, READ_FLAGS)
        except FileNotFoundError:
            continue  # committed or removed meanwhile
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                os.unlink(path)  # .tmp is private: a symlink there is junk
            continue
        try:
            # Unlink only the inode we hold: a committed file was renamed away.
            if abandoned(fd) and os.lstat(path).st_ino == os.fstat(fd).st_ino:
                os.unlink(path)
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)


class TempFile:
    """A new file in ``.tmp``, flock-ed for as long as it is open."""

    def __init__(self, cache: TempOwner) -> None:
        folder = cache._tmp_dir
        for _ in range(5):
            path = os.path.join(folder, secrets.token_hex(8) + ".tmp")
            try:
                fd = os.open(path, CREATE_FLAGS, cache.filemode)
            except FileNotFoundError:
                cache._make_dir(folder)
                continue
            # A sweep may have taken it between create and flock: then it is unlinked.
            if try_flock(fd) is not False and (info := os.fstat(fd)).st_nlink > 0:
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

    def move_to(self, path: str, cache: TempOwner, replace: bool = True) -> bool:
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


def walk2(top: str) -> Iterator[os.DirEntry[str]]:
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


def rmdir_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError, OSError):
        os.rmdir(path)  # only when empty


def remove_file(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def read_whole(path: str) -> bytes:
    """A small regular file's bytes (``b""`` if absent or not a regular file)."""
    fd = open_file(path)
    if fd is None:
        return b""
    try:
        return read_at(fd, os.fstat(fd).st_size, 0)
    finally:
        os.close(fd)
