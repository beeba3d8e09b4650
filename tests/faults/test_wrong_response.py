"""Case 8: never the wrong response. Every body a caller gets is the one the origin
gives for that very request: across Vary variants, credentials, POST bodies,
parameter order, host letter case, and ten thousand keys.
"""

from __future__ import annotations

import gzip
import json
import random
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl

import pytest

from httpcache import CachedSession
from httpcache.keys import create_key
from httpcache.models import Request
from tests.faults._backends import Store, store  # noqa: F401 - fixture
from tests.support.origin import Origin, Reply, Seen

FRESH = "max-age=600"


def _echo(seen: Seen) -> bytes:
    return json.dumps([seen.method, seen.path, seen.query, seen.body.decode()]).encode()


def test_vary_alternation(origin: Origin, store: Store) -> None:  # noqa: F811
    """RFC 9111 §4.1: a stored response is used only for requests whose fields named
    by Vary match those of the request that got it; each variant is kept."""

    def by_accept(seen: Seen) -> Reply:
        body = f"accept={seen.headers.get('accept')}".encode()
        return Reply(200, {"Cache-Control": FRESH, "Vary": "Accept"}, body)

    def by_encoding(seen: Seen) -> Reply:
        headers = {"Cache-Control": FRESH, "Vary": "Accept-Encoding"}
        if "gzip" in seen.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Reply(200, headers, gzip.compress(b"the gzip variant"))
        return Reply(200, headers, b"the identity variant")

    accept_url = origin.route("/accept", by_accept)
    encoding_url = origin.route("/encoding", by_encoding)
    session = store.session()
    accepts = ["text/html", "application/json", "text/html;q=0.9, */*;q=0.1"]
    encodings = {"gzip": b"the gzip variant", "identity": b"the identity variant"}
    for round_ in range(3):
        for accept in accepts:
            got = session.get(accept_url, headers={"Accept": accept})
            assert got.text == f"accept={accept}"
            assert got.from_cache == (round_ > 0)
        for encoding, body in encodings.items():
            got = session.get(encoding_url, headers={"Accept-Encoding": encoding})
            assert got.content == body
            assert got.from_cache == (round_ > 0)
    assert origin.hits("/accept") == 3 and origin.hits("/encoding") == 2


def test_vary_star_is_never_served_from_cache(origin: Origin, store: Store) -> None:  # noqa: F811
    """RFC 9111 §4.1: Vary: * always fails to match."""
    count = iter(range(1, 100))
    url = origin.route(
        "/star", lambda _s: Reply(200, {"Cache-Control": FRESH, "Vary": "*"}, b"%d" % next(count))
    )
    session = store.session()
    bodies = [session.get(url).text for _ in range(4)]
    assert bodies == ["1", "2", "3", "4"]
    assert len(session.cache) == 0


@pytest.mark.parametrize(
    "credentials",
    [
        [{"Authorization": "Bearer alice"}, {"Authorization": "Bearer bob"}, {}],
        [{"authorization": "Basic YTpi"}, {"Authorization": "Basic YzpkZA=="}],
        [{"X-API-Key": "k-alice"}, {"x-api-key": "k-bob"}, {}],
        [{"Proxy-Authorization": "Basic cDpx"}, {"Proxy-Authorization": "Basic cjpz"}],
    ],
    ids=["authorization", "authorization-case", "api-key", "proxy-authorization"],
)
def test_no_response_reused_across_credentials(
    origin: Origin,
    store: Store,  # noqa: F811
    credentials: list[dict[str, str]],
) -> None:
    """No Vary, a response a private cache may store (RFC 9111 §3.5 restricts shared
    caches only): still, one user's response never answers another's request."""

    def whoami(seen: Seen) -> Reply:
        who = {k: v for k, v in seen.headers.items() if k in _CREDENTIAL_FIELDS}
        return Reply(200, {"Cache-Control": FRESH}, json.dumps(who, sort_keys=True).encode())

    url = origin.route("/me", whoami)
    session = store.session()
    for round_ in range(2):
        for headers in credentials:
            got = session.get(url, headers=headers)
            expected = {k.lower(): v for k, v in headers.items()}
            assert json.loads(got.text) == expected
            assert got.from_cache == (round_ > 0)
    assert origin.hits("/me") == len(credentials)


_CREDENTIAL_FIELDS = {"authorization", "proxy-authorization", "x-api-key"}


def test_basic_auth_users_get_their_own_responses(origin: Origin, store: Store) -> None:  # noqa: F811
    url = origin.route(
        "/basic",
        lambda seen: Reply(200, {"Cache-Control": FRESH}, seen.headers["authorization"].encode()),
    )
    session = store.session()
    users = [("alice", "one"), ("bob", "two"), ("alice", "other")]
    first = [session.get(url, auth=user).text for user in users]
    assert len(set(first)) == 3
    assert [session.get(url, auth=user).text for user in users] == first
    assert origin.hits("/basic") == 3


def test_post_bodies_that_concatenate_alike_stay_apart(origin: Origin, store: Store) -> None:  # noqa: F811
    """POST responses are keyed by URL and body as separate parts: moving bytes from
    one to the other is another request (the key is a length-prefixed encoding)."""
    for path in ("/a", "/ab", "/abc"):
        origin.route(path, lambda seen: Reply(200, {"Cache-Control": FRESH}, _echo(seen)))
    pairs = [
        ("/a", "bc"),
        ("/ab", "c"),
        ("/abc", ""),
        ("/a?x=1", "&y=2"),
        ("/a?x=1&y=2", ""),
        ("/a?x=1&", "y=2"),
        ("/a", '{"k": "v"}'),
        ("/a", '{"k": "v"} '),
    ]
    session = store.session(allowable_methods=("GET", "HEAD", "POST"))
    for _ in range(2):
        for target, body in pairs:
            # Each POST that reaches the origin invalidates what is stored for its URL
            # (RFC 9111 §4.4), then stores its own response: ask twice in a row.
            for repeat in range(2):
                got = session.post(origin.url(target), data=body.encode())
                _, path, query, echoed = json.loads(got.text)
                assert (path, query, echoed) == (target.split("?")[0], _query(target), body)
                if repeat == 1:
                    assert got.from_cache


def _query(target: str) -> str:
    return target.partition("?")[2]


def test_parameter_order(origin: Origin, store: Store) -> None:  # noqa: F811
    """Distinct names in another order are the same request (one entry); the values
    of a repeated name keep their order, which the server may give a meaning to."""

    def sorted_names(seen: Seen) -> Reply:  # a server to which name order is no matter
        pairs = parse_qsl(seen.query, keep_blank_values=True)
        return Reply(200, {"Cache-Control": FRESH}, repr(sorted(pairs)).encode())

    def raw_query(seen: Seen) -> Reply:  # a server to which value order matters
        return Reply(200, {"Cache-Control": FRESH}, seen.query.encode())

    named = origin.route("/names", sorted_names)
    listed = origin.route("/list", raw_query)
    session = store.session()
    first = session.get(named + "?a=1&b=2&c=3")
    assert first.text == repr([("a", "1"), ("b", "2"), ("c", "3")])
    for query in ("?c=3&a=1&b=2", "?b=2&c=3&a=1"):
        again = session.get(named + query)
        assert again.from_cache and again.text == first.text
    for round_ in range(2):
        for query in ("sort=name&sort=date", "sort=date&sort=name", "t=1&x=0&t=2", "t=2&x=0&t=1"):
            got = session.get(f"{listed}?{query}")
            assert got.text == query and got.from_cache == (round_ > 0)
    assert origin.hits("/names") == 1 and origin.hits("/list") == 4


def test_host_letter_case_is_one_resource_path_case_is_not(
    origin: Origin,
    store: Store,  # noqa: F811
) -> None:
    """RFC 3986 §6.2.2.1: scheme and host are case-insensitive, the path is not."""
    for path in ("/Path", "/path"):
        origin.route(path, lambda seen: Reply(200, {"Cache-Control": FRESH}, _echo(seen)))
    port = origin.server.server_address[1]
    session = store.session()
    first = session.get(f"http://localhost:{port}/Path")
    assert json.loads(first.text)[1] == "/Path"
    for base in (f"http://LOCALHOST:{port}", f"HTTP://LocalHost:{port}"):
        again = session.get(f"{base}/Path")
        assert again.from_cache and again.text == first.text
    lower = session.get(f"http://localhost:{port}/path")
    assert not lower.from_cache and json.loads(lower.text)[1] == "/path"
    assert origin.hits("/Path") == 1 and origin.hits("/path") == 1


#: A few requests go through HTTP and are stored by the adapter itself; the rest are
#: written with the very keys the adapter computes (``create_key``) through the
#: backend's ``save``, the call the adapter makes after the network (HTTP costs
#: milliseconds a request on a loaded CI machine). Ten thousand keys on memory and on
#: SQLite, the default backend; Redis and the file backends cost about a millisecond
#: of CPU and several round trips or files per entry, so they get a thousand, to keep
#: the battery within its time budget.
MANY = {"memory": 10_000, "sqlite": 10_000}
FEWER = 1_000
THROUGH_HTTP = 20


def test_ten_thousand_keys_each_with_its_own_body(origin: Origin, store: Store) -> None:  # noqa: F811
    url = origin.route("/k", lambda seen: Reply(200, {"Cache-Control": FRESH}, seen.query.encode()))
    many = MANY.get(store.name, FEWER)
    session = store.session()
    config = session.engine.config
    keys: dict[str, int] = {}
    template = None
    for n in range(THROUGH_HTTP):
        got = session.get(url, params={"n": n})
        assert got.text == f"n={n}"
        keys[got.cache_key] = n
        template = session.cache.get(got.cache_key)
    assert template is not None

    def write(n: int) -> tuple[str, int]:
        request = Request("GET", f"{url}?n={n}", template.request.headers)
        key = create_key(request, ignored_parameters=config.ignored)
        entry = template.with_changes(key=key, primary_key=key, request=request)
        session.cache.save(entry, f"n={n}|{key}".encode())
        return key, n

    with ThreadPoolExecutor(4) as pool:  # four writers at once, as threads would
        keys.update(pool.map(write, range(THROUGH_HTTP, many)))
    assert len(keys) == many  # no two requests share a key

    cache = store.cache()  # another instance: what is in storage, not in memory
    assert len(cache) == many
    for key, n in keys.items():
        body = cache.read_body(key)
        assert body is not None and body.split(b"|")[0] == b"n=%d" % n
    reader = CachedSession(store.cache_name, backend=cache)
    for n in random.Random(9111).sample(range(many), 200):
        got = reader.get(url, params={"n": n}, only_if_cached=True)  # 504 on a miss
        assert got.status_code == 200 and got.from_cache
        assert got.text.split("|")[0] == f"n={n}" and keys[got.cache_key] == n
    assert origin.hits("/k") == THROUGH_HTTP
