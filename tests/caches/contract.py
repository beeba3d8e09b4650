"""The contract every cache backend honours. Each backend's test module subclasses
``CacheContract`` and provides a ``cache`` fixture that yields a fresh, empty cache,
and, for a store that outlives its instance, a ``reopen`` fixture: a function that
closes an instance and opens another on the same store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from httpcache.caches.base import BaseCache, EntryInfo
from httpcache.keys import digest
from httpcache.models import Entry, Headers, Request, Response

#: A fixed time in 2023: entries' ``stale_until`` lies in the past of the real clock,
#: so a backend that turns it into a TTL (Redis) needs a minimum TTL to pass.
NOW = 1_700_000_000.0


def make_entry(
    url: str = "http://example.test/a",
    *,
    key: str | None = None,
    primary_key: str | None = None,
    created_at: float = NOW,
    expires: float | None = NOW + 60,
    status: int = 200,
    headers: dict[str, str] | None = None,
    vary: tuple[tuple[str, str], ...] = (),
) -> Entry:
    primary = primary_key or digest(["GET", url])
    return Entry(
        key=key or (digest([primary, [list(v) for v in vary]]) if vary else primary),
        primary_key=primary,
        request=Request("GET", url, Headers({"Accept": "*/*"})),
        response=Response(status, Headers(headers or {"Content-Type": "text/plain"}), "OK", url),
        request_time=created_at - 0.1,
        response_time=created_at,
        created_at=created_at,
        expires=expires,
        stale_until=None if expires is None else expires + 30,
        vary=vary,
    )


class CacheContract:
    """Behaviour users and the driver rely on, whatever the backend."""

    @pytest.fixture
    def cache(self) -> BaseCache:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    @pytest.fixture
    def reopen(self) -> Callable[[BaseCache], BaseCache] | None:
        """Close an instance and open another on the same store; None: the store is
        the instance (memory)."""
        return None

    # ---- reading a pair ---------------------------------------------------------

    def test_open_entry_gives_the_head_and_body_of_one_write(self, cache: BaseCache) -> None:
        assert cache.open_entry("missing") is None
        first = cache.save(make_entry(), b"first body")
        pair = cache.open_entry(first.key)
        assert pair is not None
        entry, stream = pair
        with stream:
            assert (entry, stream.read()) == (first, b"first body")
        second = cache.save(make_entry(created_at=NOW + 5), b"the second, longer body")
        cache.find(second.primary_key)  # as the driver does before serving
        entry, stream = cache.open_entry(second.key) or (None, None)
        assert entry == second and stream is not None
        with stream:
            assert stream.read() == b"the second, longer body"
        cache.delete_keys([second.key])
        assert cache.open_entry(second.key) is None

    def test_open_entry_streams_a_large_body(self, cache: BaseCache) -> None:
        body = bytes(range(256)) * 12_000  # 3 MB: several chunks, or a file read as it goes
        stored = cache.save(make_entry(), body)
        pair = cache.open_entry(stored.key)
        assert pair is not None
        with pair[1] as stream:
            parts = []
            while part := stream.read(65536):
                parts.append(part)
        assert b"".join(parts) == body and pair[0].size == len(body)

    # ---- the shape of a listing -----------------------------------------------------

    def test_entries_yield_entry_info_with_every_field(self, cache: BaseCache) -> None:
        stored = cache.save(make_entry("http://h.test/info", expires=NOW + 5), b"info body")
        [info] = cache.entries(now=NOW)
        assert type(info) is EntryInfo
        assert info == EntryInfo.of(stored)
        assert (info.key, info.url, info.method, info.status) == (
            stored.key,
            "http://h.test/info",
            "GET",
            200,
        )
        assert (info.size, info.created_at, info.expires) == (9, NOW, NOW + 5)
        assert info.host == "h.test"
        assert not info.is_expired_at(NOW) and info.is_expired_at(NOW + 5)
        assert cache.get(info.key) == stored  # the whole entry, headers and all

    # ---- a store outlives its instance --------------------------------------------

    def test_a_reopened_store_keeps_its_entries(
        self, cache: BaseCache, reopen: Callable[[BaseCache], BaseCache] | None
    ) -> None:
        if reopen is None:
            pytest.skip("the store is the instance")
        kept = cache.save(make_entry("http://h.test/kept"), b"kept body")
        gone = cache.save(make_entry("http://h.test/gone"), b"gone body")
        cache.delete_keys([gone.key])
        cache.record_lookup(hit=True)
        cache.record_lookup(hit=False)
        other = reopen(cache)
        assert other is not cache
        assert other.find(kept.primary_key) == [kept]
        assert other.read_body(kept.key) == b"kept body"
        assert other.read_entry(gone.key) is None
        assert [e.key for e in other.entries()] == [kept.key]
        stats = other.stats()
        assert (stats.entries, stats.bytes, stats.hits, stats.misses) == (1, 9, 1, 1)
        stored = other.save(make_entry("http://h.test/new"), b"new")
        assert reopen(other).read_body(stored.key) == b"new"

    # ---- storing and reading --------------------------------------------------

    def test_saved_entry_and_body_read_back(self, cache: BaseCache) -> None:
        entry = cache.save(make_entry(), b"hello body")
        assert entry.size == len(b"hello body")
        [found] = cache.find(entry.primary_key)
        assert found == entry
        assert cache.read_entry(entry.key) == entry
        assert cache.read_body(entry.key) == b"hello body"

    def test_missing_key_is_none(self, cache: BaseCache) -> None:
        assert cache.find("nope") == []
        assert cache.read_entry("nope") is None
        assert cache.open_body("nope") is None

    def test_binary_body_kept_byte_for_byte(self, cache: BaseCache) -> None:
        body = bytes(range(256)) * 1000
        entry = cache.save(make_entry(), body)
        assert cache.read_body(entry.key) == body

    def test_empty_body(self, cache: BaseCache) -> None:
        entry = cache.save(make_entry(), b"")
        assert cache.read_body(entry.key) == b""
        assert cache.read_entry(entry.key).size == 0

    def test_streamed_write_in_chunks(self, cache: BaseCache) -> None:
        writer = cache.open_writer(make_entry())
        for i in range(50):
            writer.write(bytes([i]) * 1000)
        entry = writer.commit()
        assert entry.size == 50_000
        assert cache.read_body(entry.key) == b"".join(bytes([i]) * 1000 for i in range(50))

    def test_uncommitted_write_is_invisible(self, cache: BaseCache) -> None:
        writer = cache.open_writer(make_entry())
        writer.write(b"partial")
        assert cache.read_entry(make_entry().key) is None
        writer.abort()
        assert cache.read_entry(make_entry().key) is None
        assert len(cache) == 0

    def test_aborted_rewrite_keeps_the_old_entry(self, cache: BaseCache) -> None:
        old = cache.save(make_entry(), b"old body")
        writer = cache.open_writer(make_entry(created_at=NOW + 5))
        writer.write(b"new bo")
        writer.abort()
        assert cache.read_entry(old.key) == old
        assert cache.read_body(old.key) == b"old body"

    def test_rewrite_replaces_entry_and_body(self, cache: BaseCache) -> None:
        cache.save(make_entry(), b"old body, longer than the new one")
        new = cache.save(make_entry(created_at=NOW + 5), b"new")
        assert cache.read_entry(new.key) == new
        assert cache.read_body(new.key) == b"new"
        assert len(cache) == 1

    def test_variants_share_a_primary_key(self, cache: BaseCache) -> None:
        json_variant = make_entry(vary=(("accept", "=application/json"),))
        html_variant = make_entry(vary=(("accept", "=text/html"),))
        assert json_variant.key != html_variant.key
        json_variant = cache.save(json_variant, b"{}")
        html_variant = cache.save(html_variant, b"<p>")
        found = {e.key: e for e in cache.find(json_variant.primary_key)}
        assert found == {json_variant.key: json_variant, html_variant.key: html_variant}
        assert cache.read_body(json_variant.key) == b"{}"
        assert cache.read_body(html_variant.key) == b"<p>"

    def test_update_head_keeps_the_body(self, cache: BaseCache) -> None:
        entry = cache.save(make_entry(), b"body")
        fresher = entry.with_changes(
            expires=NOW + 600, response=Response(200, Headers({"ETag": '"v2"'}), "OK")
        )
        cache.update_head(fresher)
        assert cache.read_entry(entry.key) == fresher
        assert cache.read_body(entry.key) == b"body"

    def test_update_head_of_missing_entry_does_nothing(self, cache: BaseCache) -> None:
        cache.update_head(make_entry())
        assert cache.read_entry(make_entry().key) is None

    def test_headers_keep_order_case_and_repeats(self, cache: BaseCache) -> None:
        headers = Headers([("Link", "</a>"), ("X-Thing", "é ü"), ("link", "</b>")])
        entry = make_entry().with_changes(response=Response(200, headers, "OK", "u"))
        cache.save(entry, b"x")
        stored = cache.read_entry(entry.key)
        assert stored.response.headers.fields() == headers.fields()

    # ---- deleting ---------------------------------------------------------------

    def test_delete_keys_counts_what_existed(self, cache: BaseCache) -> None:
        a = cache.save(make_entry("http://h.test/a"), b"a")
        b = cache.save(make_entry("http://h.test/b"), b"b")
        assert cache.delete_keys([a.key, "missing"]) == 1
        assert cache.read_entry(a.key) is None
        assert cache.open_body(a.key) is None
        assert cache.read_entry(b.key) == b

    def test_clear_removes_everything(self, cache: BaseCache) -> None:
        for i in range(5):
            cache.save(make_entry(f"http://h.test/{i}"), b"x" * i)
        cache.clear()
        assert len(cache) == 0
        assert list(cache.entries()) == []

    # ---- inspection ---------------------------------------------------------------

    def _populate(self, cache: BaseCache) -> dict[str, Entry]:
        entries = {
            "fresh": make_entry("http://one.test/fresh", expires=NOW + 100),
            "stale": make_entry("http://one.test/stale", expires=NOW - 100),
            "never": make_entry("http://two.test/never", expires=None),
            "old": make_entry("http://two.test/old", created_at=NOW - 10_000, expires=NOW - 1),
        }
        return {name: cache.save(e, name.encode()) for name, e in entries.items()}

    def test_entries_filters(self, cache: BaseCache) -> None:
        stored = self._populate(cache)

        def urls(**kw: object) -> set[str]:
            return {e.url for e in cache.entries(now=NOW, **kw)}

        assert urls() == {e.url for e in stored.values()}
        assert urls(expired=True) == {stored["stale"].url, stored["old"].url}
        assert urls(expired=False) == {stored["fresh"].url, stored["never"].url}
        assert urls(host="TWO.test") == {stored["never"].url, stored["old"].url}
        assert urls(url="*one.test/f*") == {stored["fresh"].url}
        assert urls(url="http://two.test/*", expired=True) == {stored["old"].url}

    def test_entries_report_size_without_bodies(self, cache: BaseCache) -> None:
        stored = self._populate(cache)
        sizes = {e.url: e.size for e in cache.entries()}
        assert sizes == {e.url: len(name) for name, e in stored.items()}

    def test_delete_by_url_expired_and_age(self, cache: BaseCache) -> None:
        stored = self._populate(cache)
        assert cache.delete(urls=["HTTP://ONE.test:80/fresh"], now=NOW) == 1
        assert not cache.contains(key=stored["fresh"].key)
        assert cache.delete(older_than=5_000, now=NOW) == 1
        assert not cache.contains(url=stored["old"].url)
        assert cache.delete(expired=True, now=NOW) == 1
        assert {e.url for e in cache.entries()} == {stored["never"].url}

    def test_delete_by_key_and_contains(self, cache: BaseCache) -> None:
        stored = self._populate(cache)
        assert cache.contains(key=stored["never"].key)
        assert cache.contains(url="http://two.test/never")
        assert not cache.contains(url="http://two.test/other")
        assert cache.delete(stored["never"].key, "missing") == 1
        assert not cache.contains(key=stored["never"].key)

    def test_remove_expired(self, cache: BaseCache) -> None:
        stored = self._populate(cache)
        assert cache.remove_expired(now=NOW) == 2
        assert {e.url for e in cache.entries()} == {stored["fresh"].url, stored["never"].url}
        assert cache.remove_expired(now=NOW) == 0

    def test_stats(self, cache: BaseCache) -> None:
        self._populate(cache)
        cache.record_lookup(hit=True)
        cache.record_lookup(hit=True)
        cache.record_lookup(hit=False)
        stats = cache.stats(now=NOW)
        assert (stats.entries, stats.expired) == (4, 2)
        assert stats.bytes == len("freshstaleneverold")
        assert stats.per_host == {"one.test": 2, "two.test": 2}
        assert (stats.hits, stats.misses) == (2, 1)

    # ---- limits and sharing ------------------------------------------------------

    def test_max_size_evicts_least_recently_used(self, cache: BaseCache) -> None:
        """Past ``max_size`` the least recently used entries go: first the oldest
        written, then, once the oldest left was used again, the next one instead.
        (What fits depends on what each backend counts: pages, files, overhead.)"""
        cache.max_size = 100_000
        body = b"x" * 10_000

        def save_until_eviction(start: int) -> int:
            n = start
            while True:
                before = len(cache)
                cache.save(make_entry(f"http://h.test/{n}"), body)
                n += 1
                if len(cache) <= before:
                    return n
                assert n < 100, "nothing was ever evicted"

        def kept() -> list[int]:
            return sorted(int(e.url.rsplit("/", 1)[1]) for e in cache.entries())

        written = save_until_eviction(0)
        first = kept()
        assert 0 not in first and written - 1 in first  # the oldest went, the newest stayed
        assert first == list(range(first[0], written))  # only the oldest ones went
        oldest = first[0]
        cache.find(make_entry(f"http://h.test/{oldest}").primary_key)  # used again
        written = save_until_eviction(written)
        second = kept()
        assert oldest in second and oldest + 1 not in second and written - 1 in second
        assert sum(e.size for e in cache.entries()) <= 100_000

    def test_threads_write_and_read_concurrently(self, cache: BaseCache) -> None:
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                for i in range(25):
                    url = f"http://h.test/{n}/{i}"
                    body = f"{n}:{i}:".encode() * 100
                    entry = cache.save(make_entry(url), body)
                    assert cache.read_body(entry.key) == body
            except BaseException as exc:  # collected and re-raised in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(cache) == 100
