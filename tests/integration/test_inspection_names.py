"""requests-cache's inspection names on every backend, through the real origin."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import time_machine

from httpcache import CachedResponse, CachedSession, ConfigurationError
from tests.support.origin import Origin, Reply, Seen, counter_handler

BACKENDS = ["memory", "sqlite", "filesystem", "separate-body", "redis"]
T0 = 1_800_000_000
PLAIN = {"Content-Type": "text/plain"}
#: No freshness of its own, but a validator: kept past expiry on every backend.
VALIDATED = {"Content-Type": "text/plain", "ETag": '"e"'}


def at(seconds: float) -> time_machine.travel:
    return time_machine.travel(T0 + seconds, tick=False)


@pytest.fixture(params=BACKENDS)
def make_session(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., CachedSession]:
    name = request.param

    def make(**options: object) -> CachedSession:
        if name == "redis":
            server = request.getfixturevalue("redis_server")
            namespace = request.getfixturevalue("redis_namespace")
            return CachedSession(namespace, backend="redis", url=server.url, **options)
        if name == "memory":
            return CachedSession(backend="memory", **options)
        return CachedSession(str(tmp_path / "cache"), backend=name, **options)

    return make


def test_filter_urls_and_responses(origin: Origin, make_session: Callable) -> None:
    short = origin.route("/short", counter_handler(VALIDATED))
    long = origin.route("/long", counter_handler(VALIDATED))
    session = make_session()
    with at(0):
        session.get(short, expire_after=10)
        session.get(long, expire_after=1000)
    with at(100):
        cache = session.cache
        assert cache.urls() == sorted([short, long])
        assert cache.urls(valid=False) == [short]
        assert cache.urls(expired=False) == [long]
        assert cache.urls(older_than=50) == sorted([short, long])
        assert cache.urls(older_than=timedelta(seconds=500)) == []
        expired = list(cache.filter(valid=False))
        assert [r.url for r in expired] == [short]
        assert expired[0].text == "body 1" and expired[0].is_expired
        assert isinstance(expired[0], CachedResponse)
        responses = cache.responses
        assert len(responses) == 2
        key = next(k for k in responses if responses[k].url == long)
        assert responses[key].text == "body 1" and responses[key].from_cache
        assert key in responses and "nope" not in responses
        with pytest.raises(KeyError):
            responses["nope"]
        with pytest.raises(TypeError):
            responses["x"] = None  # type: ignore[index]
    with pytest.raises(ConfigurationError, match="older_than"):
        session.cache.urls(older_than=-1)


def test_contains_and_delete_by_request(origin: Origin, make_session: Callable) -> None:
    url = origin.route("/r", counter_handler({"Cache-Control": "max-age=600", "Vary": "Accept"}))
    session = make_session()
    session.get(url, params={"a": "1"})
    session.get(url, params={"a": "1"}, headers={"Accept": "x/y"})
    session.get(url, params={"a": "2"})
    wanted = requests.Request("GET", url, params={"a": "1"})
    assert session.cache.contains(request=wanted)
    assert session.cache.contains(request=wanted.prepare())
    assert not session.cache.contains(request=requests.Request("GET", url, params={"a": "3"}))
    assert not session.cache.contains(request=wanted, verify=False)
    assert session.cache.delete(requests=[wanted]) == 2  # both Vary variants
    assert not session.cache.contains(request=wanted)
    assert session.cache.contains(url=f"{url}?a=2")
    assert not session.get(url, params={"a": "1"}).from_cache


def test_delete_older_than_a_timedelta(origin: Origin, make_session: Callable) -> None:
    url = origin.route("/o", counter_handler({"Cache-Control": "max-age=6000"}))
    session = make_session()
    with at(0):
        session.get(url + "?v=old")
    with at(100):
        session.get(url + "?v=new")
        assert session.cache.delete(older_than=timedelta(seconds=50)) == 1
        assert session.cache.urls() == [url + "?v=new"]


def test_remove_old_entries_reads_naive_datetimes_as_utc(
    origin: Origin, make_session: Callable
) -> None:
    url = origin.route("/n", counter_handler({"Cache-Control": "max-age=6000"}))
    session = make_session()
    with at(0):
        session.get(url + "?v=a")
    with at(100):
        session.get(url + "?v=b")
    naive = datetime.fromtimestamp(T0 + 50, UTC).replace(tzinfo=None)
    assert session.cache.remove_old_entries(naive) == 1
    assert session.cache.urls() == [url + "?v=b"]


def test_save_response_then_served(origin: Origin, make_session: Callable) -> None:
    url = origin.route("/s", counter_handler(PLAIN))
    plain = requests.get(url)
    session = make_session()
    session.cache.save_response(plain)
    answer = session.get(url)
    assert answer.from_cache and answer.text == "body 1" and answer.expires is None
    with at(0):
        later = requests.get(url + "?v=x")
        session.cache.save_response(later, expires=datetime.fromtimestamp(T0 + 60, UTC))
    with at(30):
        assert session.get(url + "?v=x").from_cache
    with at(90):
        assert not session.get(url + "?v=x").from_cache
    assert origin.hits("/s") == 3


def test_reset_expiration_and_remove_expired_responses(
    origin: Origin, make_session: Callable
) -> None:
    url = origin.route("/x", counter_handler(VALIDATED))
    session = make_session()
    with at(0):
        session.get(url + "?v=a", expire_after=10)
        session.get(url + "?v=b", expire_after=1000)
    with at(100):
        assert session.remove_expired_responses(expire_after=5) == 1
        assert session.cache.urls() == [url + "?v=b"]
        assert session.get(url + "?v=b").from_cache
    with at(106):  # the new lifetime counts from when it was given
        assert not session.get(url + "?v=b").from_cache
    with at(200):
        assert session.cache.reset_expiration(datetime.fromtimestamp(T0 + 300, UTC)) == 1
        assert session.get(url + "?v=b").from_cache
        with pytest.raises(ConfigurationError):
            session.cache.reset_expiration("whenever")


def test_redirect_aliases(origin: Origin, make_session: Callable) -> None:
    target = origin.route("/target", counter_handler(PLAIN))
    origin.route("/moved", lambda _s: Reply(302, {"Location": "/target"}, b"see /target"))
    session = make_session(cache_control=False)
    first = session.get(origin.url("/moved"))
    assert first.url == target and not first.from_cache
    assert len(session.cache.redirects) == 1
    assert list(session.cache.redirects.values()) == [target]
    again = session.get(origin.url("/moved"))
    assert again.from_cache and again.text == "body 1"
    assert isinstance(again.history[0], CachedResponse)
    assert origin.hits("/moved") == 1 and origin.hits("/target") == 1


def test_no_redirect_alias_without_a_lifetime_of_the_callers(origin: Origin) -> None:
    origin.route("/target", counter_handler({"Cache-Control": "max-age=600"}))
    origin.route("/moved", lambda _s: Reply(302, {"Location": "/target"}, b""))
    session = CachedSession(backend="memory")  # headers decide: a 302 is not kept
    session.get(origin.url("/moved"))
    assert len(session.cache.redirects) == 0
    assert session.get(origin.url("/moved")).history[0].from_cache is False


def test_names_of_the_cache(tmp_path: Path) -> None:
    sqlite = CachedSession(str(tmp_path / "db.sqlite"), backend="sqlite")
    assert sqlite.cache.db_path == tmp_path / "db.sqlite"
    assert sqlite.cache.cache_name == str(tmp_path / "db.sqlite")
    files = CachedSession(str(tmp_path / "files"), backend="filesystem")
    assert files.cache.cache_dir == tmp_path / "files"
    assert files.cache.cache_name in repr(files)
    with pytest.raises(AttributeError):
        files.cache.db_path  # noqa: B018
    home = CachedSession("~", backend="filesystem")
    assert home.cache.cache_dir == Path("~").expanduser()


def test_wrap_keeps_the_sessions_settings(origin: Origin) -> None:
    def echo(seen: Seen) -> Reply:
        return Reply(200, {"Cache-Control": "max-age=600"}, seen.headers.get("x-team", "").encode())

    url = origin.route("/w", echo)
    plain = requests.Session()
    plain.headers["X-Team"] = "blue"
    plain.verify = False
    session = CachedSession.wrap(plain, backend="memory", expire_after=60)
    assert isinstance(session, CachedSession)
    assert session.verify is False and session.settings.expire_after == 60
    assert session.get(url).text == "blue"
    assert session.get(url).from_cache


def test_cached_response_is_a_type_for_isinstance(origin: Origin) -> None:
    url = origin.route("/t", counter_handler({"Cache-Control": "max-age=600"}))
    session = CachedSession(backend="memory")
    assert not isinstance(session.get(url), CachedResponse)
    assert isinstance(session.get(url), CachedResponse)
    assert not isinstance("text", CachedResponse)
    with pytest.raises(TypeError):
        CachedResponse()
