"""Redirect chains and loops through the cache, on every backend.

A chain of cacheable redirects (301, 308, 302 and 307 with explicit freshness) ends
at a cacheable response: the first request follows it and stores each hop as what
it is; the same request again is answered hop by hop from the cache, without the
origin, with the same history. A loop raises ``TooManyRedirects`` as plain requests
does, the second time too (from the cache), and leaves the cache usable.
"""

from __future__ import annotations

import pytest
import requests

from tests.faults._backends import Store, store  # noqa: F401 - fixture
from tests.support.origin import Origin, Reply

FRESH = "max-age=600"


def _hop(status: int, to: str) -> Reply:
    return Reply(status, {"Location": to, "Cache-Control": FRESH}, b"")


def test_a_chain_of_redirects_is_served_from_the_cache(
    origin: Origin,
    store: Store,  # noqa: F811
) -> None:
    origin.route("/a", _hop(301, "/b"))
    origin.route("/b", _hop(308, "/c"))
    origin.route("/c", _hop(302, "/d"))
    origin.route("/d", _hop(307, "/end"))
    origin.route("/end", Reply(200, {"Cache-Control": FRESH}, b"the end"))
    session = store.session()
    first = session.get(origin.url("/a"))
    assert first.text == "the end" and not first.from_cache
    assert [r.status_code for r in first.history] == [301, 308, 302, 307]
    before = origin.hits()
    again = session.get(origin.url("/a"))
    assert origin.hits() == before, "a hop went to the origin"
    assert again.text == "the end" and again.from_cache
    assert [r.status_code for r in again.history] == [301, 308, 302, 307]
    assert all(r.from_cache for r in again.history)
    assert again.url == origin.url("/end")


def test_a_redirect_loop_raises_as_plain_requests_does(
    origin: Origin,
    store: Store,  # noqa: F811
) -> None:
    origin.route("/loop1", _hop(302, "/loop2"))
    origin.route("/loop2", _hop(302, "/loop1"))
    session = store.session()
    session.max_redirects = 5
    for _ in range(2):  # from the origin, then from the cache
        with pytest.raises(requests.TooManyRedirects):
            session.get(origin.url("/loop1"))
    assert origin.hits("/loop1") <= 3 and origin.hits("/loop2") <= 3
    origin.route("/after", Reply(200, {"Cache-Control": FRESH}, b"fine"))
    session.get(origin.url("/after"))
    assert session.get(origin.url("/after")).from_cache  # the cache goes on working
