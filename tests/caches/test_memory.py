from __future__ import annotations

import pytest

from httpcache import CachedSession
from httpcache.caches.memory import DictCache
from tests.support.origin import Origin, Reply, Seen

from .contract import CacheContract


class TestDictCache(CacheContract):
    @pytest.fixture
    def cache(self) -> DictCache:
        return DictCache()


def _fresh(seen: Seen) -> Reply:
    return Reply(200, {"Cache-Control": "max-age=600", "X-Path": seen.path}, b"body")


def test_entries_share_the_request_fields_and_field_names_they_have_in_common(
    origin: Origin,
) -> None:
    """A memory cache keeps one copy of what every entry of a session has alike (the
    request's header fields, the response's field names), not one per entry."""
    session = CachedSession(backend="memory")
    urls = [origin.route(f"/shared/{n}", _fresh) for n in range(3)]
    for url in urls:
        assert session.get(url).text == "body"
    cache = session.cache
    assert isinstance(cache, DictCache)
    entries = [entry for _, (entry, _) in cache.items()]
    assert len(entries) == 3
    assert entries[0].request.headers is entries[1].request.headers is entries[2].request.headers
    names = [[name for name, _ in e.response.headers.fields()] for e in entries]
    assert names[0] == names[1] and all(a is b for a, b in zip(names[0], names[2], strict=True))
    assert [e.response.headers["X-Path"] for e in entries] == [f"/shared/{n}" for n in range(3)]
    # Found by their primary key, with no index kept for an entry without Vary.
    assert [cache.find(e.primary_key) for e in entries] == [[e] for e in entries]
    assert cache._by_primary == {}
