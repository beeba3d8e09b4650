"""A hit answers before requests' network-only work, yet every input still counts."""

from __future__ import annotations

import requests

from httpcache import CachedSession
from tests.support.origin import Origin, Reply, Seen


def echo(seen: Seen) -> Reply:
    text = f"{seen.query}|{seen.headers.get('accept', '')}|{seen.headers.get('authorization', '')}"
    headers = {"Cache-Control": "max-age=600", "Vary": "Accept"}
    return Reply(200, headers, text.encode())


def test_session_headers_auth_and_params_change_the_answer(origin: Origin) -> None:
    session = CachedSession(backend="memory")
    url = origin.route("/in", echo)
    assert session.get(url, params={"a": "1"}).text == "a=1|*/*|"
    assert session.get(url, params={"a": "1"}).from_cache
    assert session.get(url, params={"a": "2"}).text == "a=2|*/*|"
    session.headers["Accept"] = "text/csv"
    assert session.get(url, params={"a": "1"}).text == "a=1|text/csv|"  # Vary: Accept
    session.auth = ("alice", "secret")
    alice = session.get(url, params={"a": "1"})
    assert not alice.from_cache and alice.text.startswith("a=1|text/csv|Basic ")
    session.auth = ("bob", "secret")
    assert not session.get(url, params={"a": "1"}).from_cache
    assert session.get(url, params={"a": "1"}, auth=("alice", "secret")).from_cache


def test_hooks_run_on_hits(origin: Origin) -> None:
    session = CachedSession(backend="memory")
    url = origin.route("/hook", echo)
    seen: list[bool] = []
    session.hooks["response"].append(lambda r, **kw: seen.append(r.from_cache))
    session.get(url)
    # as in requests, a request's own response hooks replace the session's
    session.get(url, hooks={"response": [lambda r, **kw: seen.append("request hook")]})
    session.get(url)
    assert seen == [False, "request hook", True]


def test_redirects_from_cache_are_followed(origin: Origin) -> None:
    session = CachedSession(backend="memory")
    target = origin.route("/target", Reply(200, {"Cache-Control": "max-age=600"}, b"there"))
    start = origin.route(
        "/moved", Reply(301, {"Location": "/target", "Cache-Control": "max-age=600"}, b"")
    )
    assert session.get(start).text == "there"
    again = session.get(start)
    assert again.text == "there" and again.from_cache and again.url == target
    assert [r.status_code for r in again.history] == [301]
    assert again.history[0].from_cache
    assert (origin.hits("/moved"), origin.hits("/target")) == (1, 1)


def test_other_adapters_are_respected(origin: Origin) -> None:
    session = CachedSession(backend="memory")
    session.mount(origin.url("/plain"), requests.adapters.HTTPAdapter())
    url = origin.route("/plain", echo)
    session.get(url)
    assert not hasattr(session.get(url), "from_cache")  # the plain adapter answered
    assert origin.hits("/plain") == 2
