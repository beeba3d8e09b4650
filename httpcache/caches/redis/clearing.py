"""Clearing a Redis cache's namespace, with the bodies it leaves counted.

``clear`` removes every key of the namespace but its hit and miss counts (``SCAN`` +
``UNLINK``). A body of several chunks is not removed at once: it lives
``REPLACED_BODY_GRACE`` seconds more, so that a hit being streamed meanwhile is read
to its end. Those bodies still take Redis's memory, so they count for ``max_size``
until they go, as a body replaced or deleted one at a time does (``grace`` and
``bytes`` in ``keyspace``): their sizes come from the heads the clear removes, or
from the ``grace`` set for a body already in its grace (whose time is not renewed).
"""

from __future__ import annotations

import time
from typing import Any, cast

from ...errors import DeserializationError
from .heads import FORMAT_BYTES, LINE_MAX, unpack_head
from .index import PAGE, Index
from .keyspace import Keyspace
from .scripts import Client


class Clearing:
    """One ``clear`` of one namespace."""

    def __init__(self, client: Client, keyspace: Keyspace, index: Index, grace: float) -> None:
        self.client = client
        self.keyspace = keyspace
        self.index = index
        self.grace_ms = int(grace * 1000)
        #: Body lists found, and what each counts (from its head), once known.
        self.bodies: list[bytes] = []
        self.sizes: dict[bytes, int] = {}

    def run(self) -> None:
        in_grace = self._in_grace()  # read first: the scan removes the set
        keep = self.keyspace.stats.encode()
        batch: list[bytes] = []
        for name in self.client.scan_iter(match=self.keyspace.every_key(), count=1000):
            if name == keep:
                continue
            if self.keyspace.is_body(name):
                self.bodies.append(name)
                continue
            batch.append(name)
            if len(batch) >= PAGE:
                self._unlink(batch)
                batch = []
        if batch:
            self._unlink(batch)
        self._retire(in_grace)

    def _in_grace(self) -> dict[bytes, tuple[int, float]]:
        """Body lists already in their grace: size, and when Redis drops them."""
        members = cast(
            "list[tuple[bytes, float]]",
            self.client.zrange(self.keyspace.grace, 0, -1, withscores=True),
        )
        found = {}
        for member, drop_at in members:
            size, _, name = member.partition(b" ")
            if size.isdigit() and name:
                found[name] = (int(size), drop_at)
        return found

    def _unlink(self, names: list[bytes]) -> None:
        """Unlink keys, first noting the body list (and size) of each head among them."""
        heads = [name for name in names if self.keyspace.is_head(name)]
        if heads:
            pipe = self.client.pipeline(transaction=False)
            for name in heads:
                pipe.getrange(name, 0, LINE_MAX - 1)
            for name, value in zip(heads, pipe.execute(raise_on_error=False), strict=True):
                self._note_body(name, value)
        self.client.unlink(*names)

    def _note_body(self, head: bytes, value: Any) -> None:
        """The body list a head's line names (``heads``), with its size."""
        if not isinstance(value, bytes):
            return
        try:
            line = unpack_head(value)
        except DeserializationError:
            return  # damaged or foreign: its body, if any, is measured
        if line.version == FORMAT_BYTES and line.chunks > 0:
            self.sizes[self.keyspace.body_of_head(head, line.gen)] = line.size

    def _retire(self, in_grace: dict[bytes, tuple[int, float]]) -> None:
        """Give the bodies found their grace (unless already in it) and count them."""
        now = time.time()
        retired: list[tuple[bytes, int, int]] = []
        fresh = [name for name in self.bodies if name not in in_grace]
        for start in range(0, len(fresh), PAGE):
            page = fresh[start : start + PAGE]
            unknown = [name for name in page if name not in self.sizes]
            pipe = self.client.pipeline(transaction=False)
            for name in page:
                pipe.pexpire(name, self.grace_ms)
            for name in unknown:
                pipe.memory_usage(name, samples=0)
            replies = pipe.execute(raise_on_error=False)
            measured = dict(zip(unknown, replies[len(page) :], strict=True))
            for name, alive in zip(page, replies[: len(page)], strict=True):
                if alive and not isinstance(alive, Exception):  # not gone meanwhile
                    # An orphan (no head told its size) counts what Redis measures.
                    size = self.sizes.get(name, measured.get(name))
                    retired.append((name, size if isinstance(size, int) else 0, self.grace_ms))
        for name in self.bodies:
            if name in in_grace:
                size, drop_at = in_grace[name]
                left = int((drop_at - now) * 1000)
                if left > 0:
                    retired.append((name, size, left))
        for start in range(0, len(retired), PAGE):
            self.index.count_retired(
                (name.decode("utf-8", "surrogateescape"), size, left)
                for name, size, left in retired[start : start + PAGE]
            )
