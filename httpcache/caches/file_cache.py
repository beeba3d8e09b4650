"""CacheControl's module path for the file caches: ``cachecontrol.caches.file_cache``."""

from __future__ import annotations

from .file import FileCache
from .separate_body import SeparateBodyFileCache

__all__ = ["FileCache", "SeparateBodyFileCache"]
