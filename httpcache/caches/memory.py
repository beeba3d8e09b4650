"""DictCache: entries and bodies in this process's memory.

Entries are frozen objects, so they are kept as they are (no serialization) and
handed out without copying. An ``OrderedDict`` keeps least-recently-used order for
``max_size``.

``DictCache(init_dict)`` is CacheControl's signature: the cache starts with the
entries of ``init_dict``, a mapping of key -> ``(Entry, body bytes)`` as this class
holds them (another ``DictCache``'s ``items()``, say); an empty one starts empty.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import BinaryIO

from ..errors import ConfigurationError
from ..models import Entry
from .base import BaseCache, BodyWriter, freshens

#: A rough count of what a head costs besides its body, for ``max_size``.
HEAD_OVERHEAD = 512


class DictCache(BaseCache):
    """An in-memory cache, safe to share between threads of one process."""

    def __init__(
        self,
        init_dict: Mapping[str, tuple[Entry, bytes]] | None = None,
        max_size: int | None = None,
    ) -> None:
        super().__init__(max_size)
        self._lock = threading.RLock()
        self._items: OrderedDict[str, tuple[Entry, bytes]] = OrderedDict()
        #: The keys of Vary variants, by primary key (an entry without Vary is kept
        #: under its primary key itself: found without a set of its own).
        self._by_primary: dict[str, set[str]] = {}
        self._bytes = 0
        if init_dict is not None:
            self._load(init_dict)

    def _load(self, init_dict: Mapping[str, tuple[Entry, bytes]]) -> None:
        if not isinstance(init_dict, Mapping):
            raise ConfigurationError(f"init_dict must be a mapping, not {init_dict!r}")
        for key, item in init_dict.items():
            if not (
                isinstance(item, tuple)
                and len(item) == 2
                and isinstance(item[0], Entry)
                and isinstance(item[1], bytes)
                and item[0].key == key
            ):
                raise ConfigurationError(
                    f"init_dict[{key!r}] must be an (Entry, bytes) pair stored under its key"
                )
            self._store(item[0], item[1])

    def items(self) -> list[tuple[str, tuple[Entry, bytes]]]:
        """Every key with its ``(Entry, body)``, least recently used first."""
        with self._lock:
            return list(self._items.items())

    def __repr__(self) -> str:
        return f"DictCache(<{len(self._items)} entries>)"

    # ---- protocol ----------------------------------------------------------------

    def find(self, primary_key: str) -> list[Entry]:
        with self._lock:
            found = []
            own = self._items.get(primary_key)
            if own is not None and own[0].primary_key == primary_key:
                self._items.move_to_end(primary_key)
                found.append(own[0])
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
            if entry.key != entry.primary_key:
                self._by_primary.setdefault(entry.primary_key, set()).add(entry.key)
            self._bytes += entry.size + HEAD_OVERHEAD
            self._evict()

    def _remove(self, key: str) -> bool:
        item = self._items.pop(key, None)
        if item is None:
            return False
        entry = item[0]
        self._bytes -= entry.size + HEAD_OVERHEAD
        siblings = self._by_primary.get(entry.primary_key) if key != entry.primary_key else None
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
