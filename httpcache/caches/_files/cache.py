"""What the two file backends share: layout, reading and writing entries, deleting.

Layout under the cache folder (every name is a hex digest or fixed, never URL text)::

    entries/<kd[:2]>/<kd>         one file per entry: a frame (see ``frames``)
    variants/<pd[:2]>/<pd>/<kd>   empty markers: the keys stored under one primary key
    .tmp/<random>.tmp             files being written, flock-ed by their live writer
    .locks/<kd[:2]>.lock          256 lock stripes (+ stats.lock), kept to a fixed set
    stats                         hit and miss counts folded from the log (``stats_log``)
    stats.log                     one byte appended per lookup: ``+`` a hit, ``-`` a miss

``kd`` is a digest of an entry's key and ``pd`` of its primary key. An entry whose
key is its primary key (no ``Vary``) is found at ``entries/<pd>`` without a marker, so
``find`` opens that file and lists one small folder, usually absent. A marker is only
a hint: ``find`` checks each entry it names (and drops markers whose entry is gone).
A lookup that finds an entry file damaged removes it.

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
import logging
import os
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, ClassVar

from filelock import FileLock, Timeout

from ...errors import DeserializationError, StorageError
from ...models import Entry
from ..base import BaseCache
from .frames import Frame, HeadMemo, HeldFiles, Opened
from .locks import LOCK_TIMEOUT, POLL, Busy, FlockLock
from .primitives import (
    CREATE_FLAGS,
    HEX32,
    SWEEP_EVERY,
    TempFile,
    cache_folder,
    fcntl,
    list_names,
    name_of,
    open_regular,
    remove_file,
    rmdir_quietly,
    stamp,
    storage_errors,
    sweep_temps,
    walk2,
)
from .size_limit import SizeLimit
from .stats_log import StatsLog

logger = logging.getLogger("httpcache")


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
        self.forever = forever
        self.filemode = filemode
        self.dirmode = dirmode
        self._reads = threading.local()  # .held: this thread's HeldFiles
        self._place(cache_folder(directory, use_cache_dir))

    @property
    def directory(self) -> str:
        """The cache's folder, created when first written to."""
        return self._directory

    @directory.setter
    def directory(self, value: str | os.PathLike[str]) -> None:
        # CacheControl's FileCache lets its folder be assigned after it is made.
        self._place(cache_folder(value))

    def _place(self, directory: str) -> None:
        """Set the folder and everything derived from its path."""
        self._directory = directory
        self._entries_dir = os.path.join(directory, "entries")
        self._variants_dir = os.path.join(directory, "variants")
        self._tmp_dir = os.path.join(directory, ".tmp")
        self._locks_dir = os.path.join(directory, ".locks")
        self._locks: dict[str, FileLock | FlockLock] = {}
        self._swept: float | None = None  # when this instance last swept .tmp
        self._memo = HeadMemo()
        self._stats = StatsLog(self, directory, self._locked, self._stage)
        self._size_limit = SizeLimit(lambda: self._stripe_roots, self._entries_dir, self._remove)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.directory!r})"

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

    @contextlib.contextmanager
    def _locked(self, name: str, wait: bool = True) -> Iterator[None]:
        """Hold lock ``name`` (a two-digit stripe or "stats") against threads and processes.

        Without ``wait``, raise ``Busy`` at once if it is held elsewhere.
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
            lock.acquire(timeout=None if wait else 0, poll_interval=POLL)
        except Timeout as exc:
            if not wait:
                raise Busy(name) from None
            raise StorageError(f"{lock.lock_file} stayed locked {LOCK_TIMEOUT} s") from exc
        except OSError as exc:
            raise StorageError(f"cannot lock {lock.lock_file}: {exc}") from exc
        try:
            yield
        finally:
            lock.release()

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

    def find(self, primary_key: str) -> list[Entry]:
        """Every variant stored under ``primary_key``; their files stay open in this
        thread for an ``open_entry`` that follows (the next ``find`` closes them)."""
        pd = name_of(primary_key)
        held = self._held()
        held.close()
        found = []
        with storage_errors("find entries"):
            marked = [kd for kd in list_names(self._variant_dir(pd)) if HEX32.match(kd)]
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
        if self.forever:
            logger.debug("forever=True, so entries are only deleted by delete()")
            return 0
        with storage_errors("delete entries"):
            return sum(self._remove(name_of(key)) for key in set(keys))

    def delete(
        self,
        *keys: str,
        urls: Iterable[str] | None = None,
        expired: bool = False,
        older_than: float | None = None,
        now: float | None = None,
    ) -> int:
        """As ``BaseCache.delete``, in one pass over the entries: each found to go is
        removed with the primary key read in that pass (its head is not read again).
        An explicit call deletes even with ``forever=True``."""
        now = time.time() if now is None else now
        doomed: dict[str, str | None] = {name_of(key): None for key in keys}
        wanted_urls = {self.url_normalizer(u) for u in urls or ()}
        if wanted_urls or expired or older_than is not None:
            for entry in self.iter_entries():
                if (
                    entry.url in wanted_urls
                    or (expired and entry.is_expired_at(now))
                    or (older_than is not None and now - entry.created_at > older_than)
                ):
                    doomed[name_of(entry.key)] = entry.primary_key
        with storage_errors("delete entries"):
            return sum(self._remove(kd, primary_key) for kd, primary_key in doomed.items())

    def iter_entries(self) -> Iterator[Entry]:
        with storage_errors("list entries"):
            for item in walk2(self._entries_dir):
                if HEX32.match(item.name):
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
                        rmdir_quietly(folder)
            for stripe in list_names(self._variants_dir):
                for pd in list_names(os.path.join(self._variants_dir, stripe)):
                    for kd in list_names(self._variant_dir(pd)):
                        if HEX32.match(kd):
                            self._drop_stale_marker(pd, kd)
                rmdir_quietly(os.path.join(self._variants_dir, stripe))
            sweep_temps(self._tmp_dir)
            self._held().close()
            with self._locked("stats"):
                # A lookup appending meanwhile finds its log unlinked and starts a new one.
                for name in self._stats.files():
                    remove_file(os.path.join(self.directory, name))
            # Lock files go last, each removed while held: a waiter that opened the old
            # file sees it unlinked once it gets the lock and retries on a fresh one
            # (filelock >= 3.20.4 checks st_nlink after locking).
            for name in list_names(self._locks_dir):
                if name.endswith(".lock"):
                    with self._locked(name[: -len(".lock")]):
                        remove_file(os.path.join(self._locks_dir, name))

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
                os.close(os.open(path, CREATE_FLAGS, self.filemode))
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
        rmdir_quietly(os.path.dirname(path))

    def _drop_stale_marker(self, pd: str, kd: str) -> None:
        """Remove a marker whose entry file is gone (a crash between two steps)."""
        with self._locked(kd[:2]):
            if not os.path.lexists(self._entry_path(kd)):
                self._unmark(pd, kd)

    def _remove(self, kd: str, primary_key: str | None = None) -> bool:
        """Remove an entry's files and marker; True if its file existed. With its
        ``primary_key`` known, an entry without files apart is not read first."""
        with self._locked(kd[:2]):
            frame = None
            if primary_key is None or self.BODY_APART:
                frame = self._head(kd)
                primary_key = frame.entry.primary_key if frame is not None else primary_key
            with self._removing(kd, frame):
                existed = remove_file(self._entry_path(kd))
            # A variant's marker (an entry keyed by its primary key has none).
            if primary_key is not None and name_of(primary_key) != kd:
                self._unmark(name_of(primary_key), kd)
        return existed

    @contextlib.contextmanager
    def _removing(self, kd: str, frame: Frame | None) -> Iterator[None]:
        """Around the removal of entry ``kd``'s file (``frame``: what it held, if read):
        removes its other files (separate bodies)."""
        yield

    def _remove_extra(self, kd: str, keep: str = "") -> None:
        """Remove files besides the entry file (separate bodies), except ``keep``."""

    def _stored_bytes(self, entry: Entry) -> int:
        """What a committed entry takes on disk (its entry file, plus a separate body)."""
        try:
            size = os.stat(self.path_of(entry.key)).st_size
        except OSError:  # replaced or removed since by another writer
            size = 0
        return size + entry.size if self.BODY_APART else max(size, entry.size)

    # ---- size limit -----------------------------------------------------------------------

    def _evict(self, committed: Entry) -> None:
        """Keep the files within ``max_size`` after ``committed`` was stored (see
        ``size_limit``)."""
        if self.max_size is None or self.forever:
            return
        self._size_limit.stored(self._stored_bytes(committed), self.max_size)

    def _forget_usage(self) -> None:
        self._size_limit.forget()

    # ---- persistent hit and miss counters --------------------------------------------------

    def record_lookup(self, hit: bool) -> None:
        """Count a lookup: one byte appended to the log (see ``stats_log``)."""
        self._stats.record(hit)

    def lookup_counts(self) -> tuple[int, int]:
        return self._stats.counts()

    def close(self) -> None:
        """Close the entry files this thread's last ``find`` left open."""
        self._held().close()
