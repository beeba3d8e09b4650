"""One exception tree for everything httpcache raises on purpose."""

from __future__ import annotations


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
