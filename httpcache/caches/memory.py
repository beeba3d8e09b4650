"""DictCache: entries and bodies in this process's memory.

Entries are frozen objects, so they are kept as they are (no serialization) and
handed out without copying. An ``OrderedDict`` keeps least-recently-used order for
``max_size``.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import BinaryIO

from ..models import Entry
from .base import BaseCache, BodyWriter, freshens

#: A rough count of what a head costs besides its body, for ``max_size``.
HEAD_OVERHEAD = 512


class DictCache(BaseCache):
    """An in-memory cache, safe to share between threads of one process."""

    def __init__(self, max_size: int | None = None) -> None:
        super().__init__(max_size)
        self._lock = threading.RLock()
        self._items: OrderedDict[str, tuple[Entry, bytes]] = OrderedDict()
        self._by_primary: dict[str, set[str]] = {}
        self._bytes = 0

    # ---- protocol ----------------------------------------------------------------

    def find(self, primary_key: str) -> list[Entry]:
        with self._lock:
            found = []
            for key in self._by_primary.get(primary_key, ()):
                self._items.move_to_end(key)
                found.append(self._items[key][0])
            return found

    def read_entry(self, key: str) -> Entry | None:
        with self._lock:
            item = self._items.get(key)
            return item[0] if item else None

    def open_body(self, key: str) -> BinaryIO | None:
        with self._lock:
            item = self._items.get(key)
        return io.BytesIO(item[1]) if item else None

    def open_entry(self, key: str) -> tuple[Entry, BinaryIO] | None:
        with self._lock:
            item = self._items.get(key)
        return (item[0], io.BytesIO(item[1])) if item else None

    def open_writer(self, entry: Entry) -> BodyWriter:
        return _MemoryWriter(self, entry)

    def update_head(self, entry: Entry) -> None:
        with self._lock:
            item = self._items.get(entry.key)
            if item is not None and freshens(entry, item[0]):
                self._items[entry.key] = (replace(entry, size=item[0].size), item[1])

    def delete_keys(self, keys: Iterable[str]) -> int:
        with self._lock:
            return sum(self._remove(key) for key in set(keys))

    def iter_entries(self) -> Iterator[Entry]:
        with self._lock:
            snapshot = [entry for entry, _ in self._items.values()]
        return iter(snapshot)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._by_primary.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    # ---- internals -------------------------------------------------------------------

    def _store(self, entry: Entry, body: bytes) -> None:
        with self._lock:
            self._remove(entry.key)
            self._items[entry.key] = (entry, body)
            self._by_primary.setdefault(entry.primary_key, set()).add(entry.key)
            self._bytes += entry.size + HEAD_OVERHEAD
            self._evict()

    def _remove(self, key: str) -> bool:
        item = self._items.pop(key, None)
        if item is None:
            return False
        entry = item[0]
        self._bytes -= entry.size + HEAD_OVERHEAD
        siblings = self._by_primary.get(entry.primary_key)
        if siblings is not None:
            siblings.discard(key)
            if not siblings:
                del self._by_primary[entry.primary_key]
        return True

    def _evict(self) -> None:
        """Drop least recently used entries until the store fits ``max_size``."""
        if self.max_size is None:
            return
        while self._bytes > self.max_size and self._items:
            oldest = next(iter(self._items))
            self._remove(oldest)


class _MemoryWriter(BodyWriter):
    def __init__(self, cache: DictCache, entry: Entry) -> None:
        self._cache = cache
        self._entry = entry
        self._buffer = io.BytesIO()
        self._done = False

    def write(self, chunk: bytes) -> None:
        self._buffer.write(chunk)

    def commit(self) -> Entry:
        if self._done:
            raise RuntimeError("this writer was already committed or aborted")
        self._done = True
        body = self._buffer.getvalue()
        entry = replace(self._entry, size=len(body))
        self._cache._store(entry, body)
        return entry

    def abort(self) -> None:
        self._done = True
        self._buffer = io.BytesIO()
