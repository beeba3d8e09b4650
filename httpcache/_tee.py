"""Streamed bodies between the caller and storage (``stream=True``).

``StoredRaw`` stands in for urllib3's response over a body read from storage: a
body found damaged at its end (``ChecksumMismatchError``, which urllib3 reports as a
broken connection) is reported once to the engine and raised as the error the glue
gives (``DamagedBodyError``, a ``ChunkedEncodingError``).

``TeeRaw`` stands in for urllib3's response as ``requests.Response.raw``. Every
decoded chunk the caller reads is also written to a ``BodyWriter``; the entry is
committed only when the body ended normally. A read that fails (short body, broken
chunk, reset), a stream the caller abandons, or a raw read of undecoded bytes
aborts the writer, so nothing truncated or still encoded is ever stored.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from urllib3 import HTTPResponse
from urllib3.exceptions import ProtocolError

from ._convert import decoded_completely
from ._guard import StorageGuard
from .caches.base import BodyWriter
from .errors import ChecksumMismatchError

logger = logging.getLogger("httpcache")


class _Sink:
    """The writer's state, kept apart from ``TeeRaw`` so a finalizer can abort it."""

    def __init__(
        self, writer: BodyWriter, guard: StorageGuard, on_done: Callable[[bool], None]
    ) -> None:
        self.writer: BodyWriter | None = writer
        self.guard = guard
        self.on_done = on_done
        self.finished = False

    def feed(self, chunk: bytes) -> None:
        if self.writer is None or not chunk:
            return
        try:
            self.writer.write(chunk)
        except Exception as exc:  # storage failed mid-stream: stop storing, keep serving
            self.guard.failed("write a body", exc)
            self._abort()

    def finish(self, complete: bool) -> None:
        if self.finished:
            return
        self.finished = True
        stored = False
        if complete and self.writer is not None:
            writer, self.writer = self.writer, None
            stored = self.guard.call("store a body", lambda: writer.commit() is not None, False)
        else:
            self._abort()
        self.on_done(stored)

    def _abort(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            self.guard.call("abort a write", writer.abort, None)


class TeeRaw:
    """urllib3's response, with what the caller reads also sent to storage."""

    def __init__(
        self,
        raw: HTTPResponse,
        writer: BodyWriter,
        guard: StorageGuard,
        on_done: Callable[[bool], None],
    ) -> None:
        self._raw = raw
        self._sink = _Sink(writer, guard, on_done)
        self._finalizer = weakref.finalize(self, self._sink.finish, False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def _decodes(self, decode_content: bool | None) -> bool:
        if "content-encoding" not in self._raw.headers:
            return True
        return self._raw.decode_content if decode_content is None else decode_content

    def stream(
        self, amt: int | None = 2**16, decode_content: bool | None = None
    ) -> Iterator[bytes]:
        if not self._decodes(decode_content):
            self._sink.finish(False)  # only decoded bodies are stored
        try:
            for chunk in self._raw.stream(amt, decode_content=decode_content):
                self._sink.feed(chunk)
                yield chunk
        except BaseException:  # includes GeneratorExit: an abandoned stream stores nothing
            self._sink.finish(False)
            raise
        self._finish()

    def read(
        self, amt: int | None = None, decode_content: bool | None = None, **kwargs: Any
    ) -> bytes:
        if not self._decodes(decode_content):
            self._sink.finish(False)
        try:
            data = self._raw.read(amt, decode_content=decode_content, **kwargs)
        except BaseException:
            self._sink.finish(False)
            raise
        self._sink.feed(data)
        if amt is None or (amt and not data):
            self._finish()
        return data

    def _finish(self) -> None:
        """The body ended: store it, unless its content coding was cut short."""
        complete = decoded_completely(self._raw)
        if not complete:
            logger.warning("not stored: the content coding of the body was cut short")
        self._sink.finish(complete)

    def close(self) -> None:
        self._sink.finish(False)
        self._raw.close()


def _damage_in(exc: BaseException) -> ChecksumMismatchError | None:
    """The checksum mismatch behind ``exc`` (urllib3 wraps it in ``ProtocolError``)."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        if isinstance(seen, ChecksumMismatchError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class StoredRaw:
    """urllib3's response over a stored body, with damage found at its end raised as
    ``translate(damage)`` (after ``on_damage(damage)``, once)."""

    def __init__(
        self,
        raw: HTTPResponse,
        on_damage: Callable[[ChecksumMismatchError], None],
        translate: Callable[[ChecksumMismatchError], Exception],
    ) -> None:
        self._raw = raw
        self._on_damage: Callable[[ChecksumMismatchError], None] | None = on_damage
        self._translate = translate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def stream(
        self, amt: int | None = 2**16, decode_content: bool | None = None
    ) -> Iterator[bytes]:
        try:
            yield from self._raw.stream(amt, decode_content=decode_content)
        except (ProtocolError, ChecksumMismatchError) as exc:
            self._raise_damage(exc)
            raise

    def read(
        self, amt: int | None = None, decode_content: bool | None = None, **kwargs: Any
    ) -> bytes:
        try:
            return self._raw.read(amt, decode_content=decode_content, **kwargs)
        except (ProtocolError, ChecksumMismatchError) as exc:
            self._raise_damage(exc)
            raise

    def _raise_damage(self, exc: BaseException) -> None:
        """Raise the translated error if ``exc`` comes from damage; else return."""
        damage = _damage_in(exc)
        if damage is None:
            return
        report, self._on_damage = self._on_damage, None
        if report is not None:
            report(damage)
        raise self._translate(damage) from damage
