"""One exception tree for everything httpcache raises on purpose.

``DamagedBodyError``, what a streamed hit raises when its stored body turns out to be
damaged at its end, subclasses ``requests.exceptions.ChunkedEncodingError``; it is
defined with the requests glue and reached here lazily, so that importing this module
never imports requests.
"""

from __future__ import annotations

from typing import Any


class HttpCacheError(Exception):
    """Base of every exception httpcache raises."""


class ConfigurationError(HttpCacheError, ValueError):
    """An option has a value httpcache cannot use (bad duration, unknown backend ...)."""


class BackendNotAvailableError(ConfigurationError):
    """The named backend is unknown, or cannot be used on this installation."""


class StorageError(HttpCacheError):
    """A backend failed to read or write. The driver logs it and uses the network."""


class DeserializationError(StorageError):
    """Stored bytes are damaged, foreign or of another format version: a miss."""


class BodyReadError(StorageError, OSError):
    """A stored body failed in the middle of being read. An ``OSError`` too, so that
    urllib3 and requests report it as a broken read (``ChunkedEncodingError``)."""


class ChecksumMismatchError(BodyReadError):
    """A stored body does not match the checksum stored with it: it is damaged.

    Raised by backends when a body is opened (one read whole) or read to its end (one
    streamed). The driver treats it as a miss, logs one warning and removes the entry;
    a streamed hit raises ``DamagedBodyError`` to its caller instead.
    """

    def __init__(self, where: str, detail: str = "") -> None:
        self.where = where
        super().__init__(f"{where}: the stored body is damaged{f' ({detail})' if detail else ''}")


def __getattr__(name: str) -> Any:
    if name == "DamagedBodyError":  # needs requests: defined by the glue
        from ._glue import DamagedBodyError

        return DamagedBodyError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
