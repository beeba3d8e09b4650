"""requests-cache's ``session`` module: sessions with requests-cache's defaults."""

from __future__ import annotations

from typing import Any

import requests

import httpcache

OriginalSession = requests.Session


class CacheMixin(httpcache.CacheMixin):
    def __init__(self, cache_name: str = "http_cache", backend: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("cache_control", False)
        super().__init__(cache_name, backend, **kwargs)


class CachedSession(CacheMixin, requests.Session):  # type: ignore[misc]
    """httpcache's CachedSession with requests-cache's defaults."""
