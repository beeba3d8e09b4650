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


def test_an_adapter_mounted_by_the_user_does_the_network_io(origin: Origin) -> None:
    """The cache stays in front of a mounted adapter; the adapter sends what misses."""
    sent: list[str] = []

    class Counting(requests.adapters.HTTPAdapter):
        def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
            sent.append(request.url)
            return super().send(request, *args, **kwargs)

    session = CachedSession(backend="memory")
    session.mount(origin.url("/plain"), Counting())
    url = origin.route("/plain", echo)
    first, second = session.get(url), session.get(url)
    assert (first.from_cache, second.from_cache) == (False, True)
    assert second.text == first.text
    assert sent == [url] and origin.hits("/plain") == 1


def test_remembered_preparation_tells_apart_equal_looking_inputs(origin: Origin) -> None:
    """1, 1.0, True and "1" compare or hash alike in Python but make different URLs."""
    session = CachedSession(backend="memory")
    url = origin.route("/types", echo)
    answers = [session.get(url, params={"a": v}).text for v in (1, 1.0, True, "1", b"1")]
    assert answers == ["a=1|*/*|", "a=1.0|*/*|", "a=True|*/*|", "a=1|*/*|", "a=1|*/*|"]
    assert session.get(url, params=[("a", "1"), ("b", "2")]).text == "a=1&b=2|*/*|"
    swapped = session.get(url, params=[("b", "2"), ("a", "1")])  # the same normalized URL
    assert swapped.from_cache and swapped.request.url.endswith("?b=2&a=1")
    assert session.get(url, params={"a": ["1", "2"]}).text == "a=1&a=2|*/*|"


def test_remembered_preparation_follows_session_changes(origin: Origin, tmp_path) -> None:
    session = CachedSession(backend="memory")
    url = origin.route("/changes", echo)
    assert session.get(url).text == "|*/*||"[:-1]
    session.params = {"s": "1"}
    assert session.get(url).text == "s=1|*/*|"
    session.headers["Accept"] = "a/b"
    assert session.get(url).text == "s=1|a/b|"
    session.headers["Accept"] = "c/d"
    assert session.get(url).text == "s=1|c/d|"
    session.headers = {"Accept": "e/f"}  # a plain dict replaces the session's headers
    assert session.get(url).text == "s=1|e/f|"
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login carol password pw\n")
    import os

    os.environ["NETRC"] = str(netrc)
    try:
        carol = session.get(url)
        assert carol.text.startswith("s=1|e/f|Basic ") and not carol.from_cache
        session.trust_env = False
        assert session.get(url).text == "s=1|e/f|"
        assert session.get(url).from_cache
    finally:
        del os.environ["NETRC"]


def test_remembered_preparation_uses_current_hooks_cookies_and_config(origin: Origin) -> None:
    session = CachedSession(backend="memory")
    url = origin.route(
        "/cookies",
        lambda seen: Reply(
            200,
            {"Cache-Control": "max-age=600", "Vary": "Cookie"},
            seen.headers.get("cookie", "").encode(),
        ),
    )
    assert session.get(url).text == ""
    assert session.get(url).from_cache
    seen: list[bool] = []
    session.hooks["response"].append(lambda r, **kw: seen.append(r.from_cache))
    assert session.get(url).from_cache and seen == [True]
    session.cookies.set("id", "42")
    assert session.get(url).text == "id=42"  # Vary: Cookie; the jar's cookie is sent
    assert session.get(url, cookies={"id": "7"}).text == "id=7"
    session.cookies.clear()
    assert session.get(url).text == "" and session.get(url).from_cache
    session.settings.match_headers = ["X-Tenant"]
    a = session.get(url, headers={"X-Tenant": "a"})
    b = session.get(url, headers={"X-Tenant": "b"})
    assert not a.from_cache and not b.from_cache and a.cache_key != b.cache_key
    assert session.get(url, headers={"X-Tenant": "a"}).from_cache


def test_a_new_preparation_looks_netrc_up_once_and_equals_requests_own(
    tmp_path, monkeypatch
) -> None:
    import requests.sessions

    from httpcache import _prepared

    calls: list[str] = []
    lookup = requests.sessions.get_netrc_auth

    def counted(url: str, raise_errors: bool = False) -> object:
        calls.append(url)
        return lookup(url, raise_errors)

    monkeypatch.setattr(requests.sessions, "get_netrc_auth", counted)
    monkeypatch.setattr(_prepared, "get_netrc_auth", counted)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine with.test login carol password pw\n")
    monkeypatch.setenv("NETRC", str(netrc))
    session = requests.Session()
    session.headers["X-S"] = "1"
    for url, authorized in (("http://with.test/a?b=1", True), ("http://without.test/a", False)):
        memo = _prepared.PreparedMemo().find(session, "get", url, {"c": "2"}, {"X-R": "r"}, None)
        assert memo is not None and len(calls) == 1
        own = session.prepare_request(
            requests.Request("GET", url, params={"c": "2"}, headers={"X-R": "r"})
        )
        made = memo.template
        assert (made.method, made.url, made.body) == (own.method, own.url, own.body)
        assert list(made.headers.items()) == list(own.headers.items())
        assert ("Authorization" in made.headers) is authorized
        assert made.hooks == own.hooks and made._cookies.items() == own._cookies.items()
        calls.clear()
