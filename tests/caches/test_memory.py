from __future__ import annotations

import pytest

from httpcache.caches.memory import DictCache

from .contract import CacheContract


class TestDictCache(CacheContract):
    @pytest.fixture
    def cache(self) -> DictCache:
        return DictCache()
