"""The cache composes with requests' extension points and the libraries built on them.

DESIGN.md, "Composing with requests": the cache acts in ``Session.send``, in front of
whatever transport adapter is mounted (which does the network I/O), and skips none of
what a user may have changed: another class's ``request()``, ``prepare_request()``, an
instance's ``send``, mounted adapters, hooks. Every test runs on memory, SQLite and a
real Redis server, against the local origin or a mocking library (never the internet).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import requests_mock
import responses
from requests.adapters import HTTPAdapter
from requests_oauthlib import OAuth2Session
from requests_toolbelt.sessions import BaseUrlSession
from urllib3.util.retry import Retry

from httpcache import CachedSession, CacheMixin
from tests.support.origin import Origin, Reply, Seen, counter_handler

FRESH = {"Cache-Control": "max-age=60"}

MakeSession = Callable[..., Any]


@pytest.fixture(params=["memory", "sqlite", "redis"])
def make_session(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeSession]:
    """``make_session(cls=CachedSession, **kwargs)``: a session of ``cls`` on this backend."""
    made: list[requests.Session] = []

    def make(cls: type = CachedSession, **kwargs: Any) -> Any:
        if request.param == "redis":
            server = request.getfixturevalue("redis_server")
            server.ensure_up()
            namespace = request.getfixturevalue("redis_namespace")
            session = cls(namespace, backend="redis", url=server.url, **kwargs)
        elif request.param == "sqlite":
            session = cls(str(tmp_path / "cache.sqlite"), backend="sqlite", **kwargs)
        else:
            session = cls(backend="memory", **kwargs)
        made.append(session)
        return session

    yield make
    for session in made:
        session.close()


def echo_header(name: str) -> Callable[[Seen], Reply]:
    """Replies with the value of request header ``name``, fresh for 60 s."""
    return lambda seen: Reply(200, FRESH, seen.headers.get(name, "").encode())


def echo_body(seen: Seen) -> Reply:
    return Reply(200, FRESH, seen.body)


# ---- mounted transport adapters ---------------------------------------------------------


def test_retrying_adapter_mounted_by_the_user(origin: Origin, make_session: MakeSession) -> None:
    statuses = iter([503, 503])

    def flaky(_seen: Seen) -> Reply:
        status = next(statuses, 200)
        return Reply(status, FRESH if status == 200 else {}, b"ok" if status == 200 else b"")

    url = origin.route("/flaky", flaky)
    s = make_session()
    retry = Retry(total=3, status_forcelist=[503], backoff_factor=0)
    s.mount("http://", HTTPAdapter(max_retries=retry))

    first = s.get(url)
    assert (first.status_code, first.text, first.from_cache) == (200, "ok", False)
    assert origin.hits("/flaky") == 3  # the user's adapter retried

    second = s.get(url)
    assert (second.status_code, second.text, second.from_cache) == (200, "ok", True)
    assert origin.hits("/flaky") == 3


@pytest.mark.parametrize("prefix", ["http://", "mock://"])
def test_requests_mock_adapter_mounted(make_session: MakeSession, prefix: str) -> None:
    adapter = requests_mock.Adapter()
    url = f"{prefix}mocked.test/thing"
    adapter.register_uri("GET", url, text="mocked", headers=FRESH)
    s = make_session()
    s.mount(prefix, adapter)

    first, second = s.get(url), s.get(url)
    assert (first.text, first.from_cache) == ("mocked", False)
    assert (second.text, second.from_cache) == ("mocked", True)
    assert adapter.call_count == 1


# ---- mocking libraries ------------------------------------------------------------------


def test_requests_mock_mocker_patching_the_class(make_session: MakeSession) -> None:
    s = make_session()
    url = "http://mocked.test/class"
    with requests_mock.Mocker() as m:
        m.get(url, text="mocked", headers=FRESH)
        first, second = s.get(url), s.get(url)
        assert (first.text, first.from_cache) == ("mocked", False)
        assert (second.text, second.from_cache) == ("mocked", True)
        assert m.call_count == 1


def test_requests_mock_mocker_on_the_session_answers_every_call(
    origin: Origin, make_session: MakeSession
) -> None:
    url = origin.route("/real", counter_handler(FRESH))
    s = make_session()
    s.get(url)
    assert s.get(url).from_cache  # cached from the real origin first

    with requests_mock.Mocker(session=s) as m:  # replaces this instance's send
        m.get(url, text="mocked", headers=FRESH)
        answers = [s.get(url), s.get(url)]
        assert [r.text for r in answers] == ["mocked", "mocked"]
        assert [r.from_cache for r in answers] == [False, False]
        assert m.call_count == 2
    assert origin.hits("/real") == 1


def test_responses_library(make_session: MakeSession) -> None:
    s = make_session()
    url = "http://mocked.test/responses"
    with responses.RequestsMock() as rsps:  # patches HTTPAdapter.send
        rsps.get(url, body="mocked", headers=FRESH)
        first, second = s.get(url), s.get(url)
        assert (first.text, first.from_cache) == ("mocked", False)
        assert (second.text, second.from_cache) == ("mocked", True)
        assert len(rsps.calls) == 1


# ---- other Session subclasses -----------------------------------------------------------


class CachedOAuth2Session(CacheMixin, OAuth2Session):
    pass


def test_requests_oauthlib_token_is_sent_and_partitions_the_cache(
    origin: Origin, make_session: MakeSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    url = origin.route("/me", echo_header("authorization"))
    s = make_session(
        CachedOAuth2Session,
        client_id="c",
        token={"access_token": "t1", "token_type": "Bearer"},
    )

    first, second = s.get(url), s.get(url)
    assert (first.text, first.from_cache) == ("Bearer t1", False)
    assert (second.text, second.from_cache) == ("Bearer t1", True)
    assert [seen.headers["authorization"] for seen in origin.requests_to("/me")] == ["Bearer t1"]

    s.token = {"access_token": "t2", "token_type": "Bearer"}
    third = s.get(url)
    assert (third.text, third.from_cache) == ("Bearer t2", False)
    assert origin.requests_to("/me")[-1].headers["authorization"] == "Bearer t2"
    assert origin.hits("/me") == 2


class CachedBaseUrlSession(CacheMixin, BaseUrlSession):
    pass


def test_requests_toolbelt_base_url_session(origin: Origin, make_session: MakeSession) -> None:
    origin.route("/a/x", Reply(200, FRESH, b"A"))
    origin.route("/b/x", Reply(200, FRESH, b"B"))
    s = make_session(CachedBaseUrlSession, base_url=origin.url("/a/"))

    assert s.get("x").text == "A"
    assert s.get("x").from_cache

    s.base_url = origin.url("/b/")
    moved = s.get("x")
    assert (moved.text, moved.from_cache) == ("B", False)
    assert (origin.hits("/a/x"), origin.hits("/b/x")) == (1, 1)


class StampedSession(CachedSession):
    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        prepared = super().prepare_request(request)
        prepared.headers["X-Request-Id"] = str(uuid.uuid4())
        return prepared


def test_prepare_request_override_runs_for_each_request(
    origin: Origin, make_session: MakeSession
) -> None:
    url = origin.route("/nostore", counter_handler({"Cache-Control": "no-store"}))
    s = make_session(StampedSession)

    s.get(url)
    s.get(url)
    ids = [seen.headers.get("x-request-id") for seen in origin.requests_to("/nostore")]
    assert len(ids) == 2 and None not in ids
    assert ids[0] != ids[1]


class HeaderMixin:
    """A ``request()`` override that comes after CacheMixin in the MRO."""

    mixin_calls = 0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        self.mixin_calls += 1
        kwargs["headers"] = {**(kwargs.get("headers") or {}), "X-Mixin": "1"}
        return super().request(method, url, *args, **kwargs)  # type: ignore[misc]


class MixedSession(CacheMixin, HeaderMixin, requests.Session):
    pass


def test_request_override_later_in_the_mro_runs_on_every_call(
    origin: Origin, make_session: MakeSession
) -> None:
    url = origin.route("/mixin", echo_header("x-mixin"))
    s = make_session(MixedSession)

    first, second = s.get(url), s.get(url)
    assert (first.text, first.from_cache) == ("1", False)  # the header reached the origin
    assert (second.text, second.from_cache) == ("1", True)
    assert s.mixin_calls == 2
    assert origin.hits("/mixin") == 1


# ---- an instance's send, hooks ----------------------------------------------------------


def test_send_wrapped_on_the_instance_runs_on_hits(
    origin: Origin, make_session: MakeSession
) -> None:
    url = origin.route("/wrapped", counter_handler(FRESH))
    s = make_session()
    calls: list[str] = []
    orig = s.send
    s.send = lambda req, **kw: (calls.append(req.url), orig(req, **kw))[1]

    first, second = s.get(url), s.get(url)
    assert (first.from_cache, second.from_cache) == (False, True)
    assert calls == [url, url]
    assert origin.hits("/wrapped") == 1


def test_response_hooks_run_on_misses_and_hits(origin: Origin, make_session: MakeSession) -> None:
    session_url = origin.route("/hooked", counter_handler(FRESH))
    request_url = origin.route("/hooked-per-request", counter_handler(FRESH))
    s = make_session()
    seen: list[tuple[str, bool]] = []
    s.hooks["response"].append(lambda r, **kw: seen.append(("session", r.from_cache)))
    mine = {"response": [lambda r, **kw: seen.append(("request", r.from_cache))]}

    s.get(session_url)
    s.get(session_url)
    s.get(request_url, hooks=mine)  # as in requests, replaces the session's hooks
    s.get(request_url, hooks=mine)
    assert seen == [("session", False), ("session", True), ("request", False), ("request", True)]


# ---- redirects and keys -----------------------------------------------------------------


def test_cached_redirect_is_followed_without_the_origin(
    origin: Origin, make_session: MakeSession
) -> None:
    origin.route("/r", Reply(301, {"Location": "/final", **FRESH}))
    origin.route("/final", Reply(200, FRESH, b"final"))
    s = make_session()

    s.get(origin.url("/r"))
    again = s.get(origin.url("/r"))
    assert (again.text, again.from_cache) == ("final", True)
    assert [r.status_code for r in again.history] == [301]
    assert (origin.hits("/r"), origin.hits("/final")) == (1, 1)


def test_json_body_of_a_get_is_part_of_the_key(origin: Origin, make_session: MakeSession) -> None:
    url = origin.route("/search", echo_body)
    s = make_session()

    cats, dogs = s.get(url, json={"q": "cats"}), s.get(url, json={"q": "dogs"})
    assert (json.loads(cats.text), json.loads(dogs.text)) == ({"q": "cats"}, {"q": "dogs"})
    assert (cats.from_cache, dogs.from_cache) == (False, False)
    again = s.get(url, json={"q": "cats"})
    assert (json.loads(again.text), again.from_cache) == ({"q": "cats"}, True)
    assert origin.hits("/search") == 2


def test_verify_is_part_of_the_key(origin: Origin, make_session: MakeSession) -> None:
    url = origin.route("/verify", counter_handler(FRESH))
    s = make_session()

    s.get(url, verify=False)
    assert s.get(url, verify=False).from_cache  # stored
    verifying = s.get(url)
    assert (verifying.text, verifying.from_cache) == ("body 2", False)
    assert origin.hits("/verify") == 2


def test_identical_multipart_posts_share_an_entry(
    origin: Origin, make_session: MakeSession
) -> None:
    url = origin.route("/upload", counter_handler(FRESH))
    s = make_session(allowable_methods=("GET", "POST"))

    first = s.post(url, files={"f": ("a.txt", b"x")})
    second = s.post(url, files={"f": ("a.txt", b"x")})  # another random boundary
    assert (first.from_cache, second.from_cache) == (False, True)
    assert second.text == first.text
    assert origin.hits("/upload") == 1


@pytest.mark.parametrize("body", ["file object", "generator"])
def test_unreplayable_bodies_bypass_the_cache(
    origin: Origin, make_session: MakeSession, tmp_path: Path, body: str
) -> None:
    # Connection: close, because the origin does not read chunked bodies (the generator's).
    url = origin.route("/stream-in", counter_handler({**FRESH, "Connection": "close"}))
    s = make_session(allowable_methods=("GET", "POST"))
    path = tmp_path / "a.txt"
    path.write_bytes(b"x")

    def post() -> requests.Response:
        if body == "generator":
            return s.post(url, data=iter([b"a"]))
        with path.open("rb") as f:
            return s.post(url, data=f)  # a file as the body: read while sent, not before

    assert [post().cache_status for _ in range(2)] == ["bypass", "bypass"]
    assert origin.hits("/stream-in") == 2
    assert len(s.cache) == 0  # nothing stored


# ---- when the early hit may run ------------------------------------------------------------


class _RequestMixin(requests.Session):
    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        return super().request(*args, **kwargs)


class _PrepareMixin(requests.Session):
    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        return super().prepare_request(request)


class _EnvironmentMixin(requests.Session):
    def merge_environment_settings(self, *args: Any, **kwargs: Any) -> Any:
        return super().merge_environment_settings(*args, **kwargs)


class _SendBefore(CachedSession):
    def send(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        return super().send(*args, **kwargs)


@pytest.mark.parametrize(
    "bases",
    [(CacheMixin, _RequestMixin), (CacheMixin, _PrepareMixin), (CacheMixin, _EnvironmentMixin)],
    ids=["request", "prepare_request", "merge_environment_settings"],
)
def test_no_early_hit_past_another_class_override(bases: tuple[type, ...]) -> None:
    session = type("Composed", bases, {})(backend="memory")
    assert CachedSession(backend="memory")._may_answer_early()  # the default takes it
    assert not session._may_answer_early()
    assert not _SendBefore(backend="memory")._may_answer_early()


def test_no_early_hit_while_requests_is_patched_or_the_instance_overrides() -> None:
    session = CachedSession(backend="memory")
    with requests_mock.Mocker():  # patches requests.Session.send on the class
        assert not session._may_answer_early()
    assert session._may_answer_early()
    for name in ("request", "send", "prepare_request", "merge_environment_settings"):
        other = CachedSession(backend="memory")
        setattr(other, name, getattr(other, name))
        assert not other._may_answer_early(), name
