"""The fast path's fresh hit (``hit.py``) against the full path through requests.

For the same command, the request it prepares, its key and its settings must be
those of ``CachedSession`` (what the adapter sees), and its output (stdout, stderr,
files, exit status) the full path's, byte for byte; everything it is not sure
about must leave the full path to answer, with no output of its own.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from httpcache import _glue
from httpcache_cli import fast, fetching, hit, output
from httpcache_cli.config import CacheOptions
from httpcache_cli.errors import CliError
from tests.support.origin import Origin, Reply

CACHEABLE = {"Cache-Control": "max-age=3600", "ETag": '"e"', "Content-Type": "text/plain"}


def parsed(argv: list[str], cache_dir: Path) -> tuple[CacheOptions, fetching.Fetch]:
    """Options and fetch of a command line, as ``fast.run`` makes them."""
    found = fast.parse(argv)
    assert found is not None, argv
    global_values, method, values = found
    options = dataclasses.replace(CacheOptions(cache_dir=str(cache_dir)), **global_values)
    return options, fetching.make_fetch(method, values)


def full_path(
    options: CacheOptions, fetch: fetching.Fetch, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, dict[str, Any]]:
    """Run the full path; return its status and what its adapter saw of the request."""
    seen: dict[str, Any] = {}
    original = _glue.stored_answer

    def spy(engine: Any, request: Any, plan: Any, **kwargs: Any) -> Any:
        if not seen:
            seen.update(prepared=request, model=plan.request, key=plan.key, settings=plan.settings)
        return original(engine, request, plan, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(_glue, "stored_answer", spy)
        try:
            status = int(fetching.run(options, fetch))
        except CliError as exc:  # --offline and not stored yet
            status = exc.status
    return status, seen


# ---- the prepared request and the key ------------------------------------------------------


def commands(base: str) -> list[list[str]]:
    return [
        ["get", f"{base}/k"],
        ["get", f"{base}/k?b=2&a=1&c=x:y/z"],
        ["get", f"{base}/a/b/c;p=1"],
        ["get", base.removeprefix("http://") + "/k"],
        ["get", base.replace("127.0.0.1", "localhost") + "/k"],
        ["head", f"{base}/k"],
        ["get", "-H", "Accept: text/plain", "-H", "X-Extra: 1", f"{base}/k"],
        ["get", "-H", "accept-encoding: identity", "-H", "user-agent: me", f"{base}/k"],
        ["get", "-H", "Accept:", "-H", "Connection:", f"{base}/k"],
        ["get", "-H", "Authorization: Bearer t", f"{base}/k"],
        ["get", "-H", "X-API-Key: s", "-H", "Cookie: a=b", f"{base}/k"],
        ["get", "-H", "Cache-Control: max-age=60", f"{base}/k"],
        ["get", "--offline", "--expire-after", "1h", f"{base}/k"],
        ["--heuristic", "one-day", "--expire-after", "2h", "get", f"{base}/k"],
        ["get", "-v", "-i", "--check-status", "-F", "--timeout", "3", f"{base}/k"],
    ]


@pytest.mark.parametrize("index", range(len(commands(""))))
def test_same_request_key_and_settings_as_requests(
    index: int, origin: Origin, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin.route("/k", Reply(200, CACHEABLE, b"k"))
    origin.route("/a/b/c;p=1", Reply(200, CACHEABLE, b"c"))
    argv = commands(origin.base)[index]
    options, fetch = parsed(argv, cache_dir)
    found = hit.lookup_for(options, fetch)
    assert found is not None, argv
    _, seen = full_path(options, fetch, monkeypatch)
    prepared = seen["prepared"]
    assert found.prepared.method == prepared.method
    assert found.prepared.url == prepared.url
    assert found.prepared.path_url == prepared.path_url
    assert list(found.prepared.headers.items()) == list(prepared.headers.items())
    assert found.model == seen["model"]  # method, URL, every header field in order, body
    assert found.key == seen["key"]
    mine, theirs = found.settings, seen["settings"]
    assert type(mine.heuristic) is type(theirs.heuristic)
    assert dataclasses.replace(mine, heuristic=None) == dataclasses.replace(theirs, heuristic=None)


def test_default_headers_are_requests_own() -> None:
    session = requests.Session()
    assert [(k, v) for k, v in session.headers.items() if k != "User-Agent"] == [
        (k, v) for k, v in hit.DEFAULT_HEADERS if k != "User-Agent"
    ]
    assert next(iter(session.headers)) == "User-Agent" == hit.DEFAULT_HEADERS[0][0]
    assert hit.default_accept_encoding() == requests.utils.DEFAULT_ACCEPT_ENCODING


URL_ALPHABET = "aZ09-._~!$&'()*+,;=:@/?#%[] \"<>\\^`{|}é\t"


def requests_url(url: str) -> str | None:
    prepared = requests.PreparedRequest()
    try:
        prepared.prepare_url(url, None)
    except requests.exceptions.RequestException:
        return None
    return prepared.url


@settings(max_examples=400, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https", "HTTP"]),
    host=st.sampled_from(["127.0.0.1", "example.org", "Example.org", "a-b.c", "xn--e-.f", "h_1"]),
    port=st.sampled_from(["", ":80", ":8080", ":080", ":65535", ":65536", ":"]),
    rest=st.one_of(
        st.text(URL_ALPHABET, max_size=24),
        st.text("/.a?=&:@~!-", max_size=24),  # mostly taken: dot segments, queries
    ),
)
def test_urls_the_fast_path_takes_are_prepared_as_requests_does(
    scheme: str, host: str, port: str, rest: str
) -> None:
    url = f"{scheme}://{host}{port}{rest}"
    mine = hit.prepared_url(url)
    if mine is not None:
        assert mine == requests_url(url), url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/body/x",
        "https://example.org",
        "http://example.org?a=1",
        "http://h.example/a/b/?x=1&y=&z=a:b@c/d?e",
        "http://h/~user/a.b-c_d!$&'()*+,;=:@",
    ],
)
def test_plain_urls_are_taken(url: str) -> None:
    assert hit.prepared_url(url) == requests_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://h/a%20b",
        "http://H/",
        "HTTP://h/",
        "http://h/./a",
        "http://h/a/..",
        "http://h/a#f",
        "http://u:p@h/",
        "http://h:080/",
        "http://h/?",
        "http://[::1]/",
        "http://h/é",
        "http://h/a b",
        "ftp://h/",
    ],
)
def test_urls_requests_would_change_are_not_taken(url: str) -> None:
    assert hit.prepared_url(url) is None


# ---- the same output ----------------------------------------------------------------------


Compare = Callable[..., None]


@pytest.fixture
def same_output(
    origin: Origin,
    cache_dir: Path,
    capfdbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Compare:
    """``same_output(argv)``: store with the full path, then answer the hit both ways
    and compare status, stdout, stderr and any ``-o`` file."""
    fixed = time.time()
    monkeypatch.setattr(output, "now", lambda: fixed)  # the same ttl in Cache-Status

    def compare(argv: list[str]) -> None:
        argv = [a.replace("{base}", origin.base).replace("{tmp}", str(tmp_path)) for a in argv]
        options, fetch = parsed(argv, cache_dir)
        fetching.run(options, dataclasses.replace(fetch, offline=False))  # stores
        target = fetch.output if fetch.output is not None and str(fetch.output) != "-" else None
        capfdbinary.readouterr()
        hits_before = options.open_cache().stats().hits
        full_status, _ = full_path(options, fetch, monkeypatch)
        full = capfdbinary.readouterr()
        full_file = target.read_bytes() if target else None
        if target:
            target.unlink()
        fast_status = hit.serve(options, fetch)
        fast = capfdbinary.readouterr()
        assert fast_status is not None, (argv, fast.err)
        assert fast_status == full_status
        assert fast.out == full.out
        assert fast.err == full.err
        if target:
            assert target.read_bytes() == full_file
        assert options.open_cache().stats().hits == hits_before + 2  # each counted its hit
        assert b"; hit;" in full.err or "-v" not in argv

    return compare


@pytest.mark.parametrize(
    "argv",
    [
        ["get", "{base}/plain"],
        ["fetch", "-i", "{base}/plain"],
        ["get", "-v", "{base}/plain"],
        ["get", "-v", "-i", "--check-status", "{base}/plain"],
        ["head", "{base}/plain"],
        ["head", "-v", "{base}/plain"],
        ["get", "-o", "{tmp}/saved.txt", "-v", "{base}/plain"],
        ["get", "--output=-", "{base}/plain"],
        ["get", "-v", "{base}/plain?b=2&a=1"],
        ["get", "-v", "--offline", "{base}/plain"],
        ["get", "-v", "--expire-after", "1h", "{base}/plain"],
        ["--expire-after", "1d", "get", "-v", "{base}/plain"],
        ["get", "-v", "-H", "Accept: text/plain", "-H", "User-Agent:", "{base}/plain"],
        ["get", "-v", "-H", "Authorization: Bearer secret", "{base}/plain"],
        ["get", "-v", "-i", "{base}/dup"],
        ["get", "-v", "-i", "{base}/hidden"],
        ["get", "-v", "-i", "--check-status", "{base}/missing"],
        ["get", "-v", "{base}/empty"],
        ["get", "-v", "{base}/binary"],
        ["--heuristic", "last-modified", "get", "-v", "{base}/modified"],
        ["get", "-v", "{base}/vary-encoding"],
        ["get", "-v", "{base}/vary-accept"],
        ["get", "-v", "-H", "Accept: application/json", "{base}/vary-accept"],
        ["get", "-v", "-H", "X-Flavour: mint", "{base}/vary-custom"],
        ["get", "-v", "{base}/vary-custom"],
        ["get", "-p", "Hhbm", "{base}/plain"],
        ["get", "-h", "{base}/plain"],
        ["get", "--pretty", "format", "{base}/json"],
        ["get", "--pretty", "all", "--style", "monokai", "{base}/json"],
        ["get", "{base}/plain", "X-Item:1", "Accept:"],
    ],
    ids=" ".join,
)
def test_same_output_as_the_full_path(
    argv: list[str], origin: Origin, same_output: Compare
) -> None:
    text = {**CACHEABLE}
    origin.route("/plain", Reply(200, text, b"plain body\n"))
    origin.route("/dup", Reply(200, {**text, "X-Dup": "a", "x-dup": "b"}, b"dup"))
    hidden = {**text, "Cache-Control": 'max-age=3600, no-cache="X-Secret"', "X-Secret": "s"}
    origin.route("/hidden", Reply(200, hidden, b"hidden"))
    origin.route("/missing", Reply(404, {"Cache-Control": "max-age=3600"}, b"no"))
    origin.route("/empty", Reply(204, {"Cache-Control": "max-age=3600"}, b""))
    origin.route("/binary", Reply(200, {"Cache-Control": "max-age=3600"}, bytes(range(256)) * 9))
    modified = {"Last-Modified": "Mon, 01 Jan 2001 00:00:00 GMT"}
    origin.route("/modified", Reply(200, modified, b"old"))
    for name, vary in [("encoding", "Accept-Encoding"), ("accept", "Accept, User-Agent")]:
        origin.route(f"/vary-{name}", Reply(200, {**text, "Vary": vary}, name.encode()))
    origin.route("/vary-custom", Reply(200, {**text, "Vary": "X-Flavour"}, b"custom"))
    json_headers = {**text, "Content-Type": "application/json"}
    origin.route("/json", Reply(200, json_headers, b'{"b": 1, "a": [true, null]}'))
    same_output(argv)


# ---- what the fast path leaves to the full path -------------------------------------------


def leaves_it(
    argv: list[str], cache_dir: Path, capfdbinary: pytest.CaptureFixture[bytes], store: bool = True
) -> None:
    options, fetch = parsed(argv, cache_dir)
    if store:
        fetching.run(options, fetch)
    capfdbinary.readouterr()
    assert hit.serve(options, fetch) is None, argv
    assert capfdbinary.readouterr() == (b"", b"")


@pytest.mark.parametrize(
    "argv",
    [
        ["get", "{base}/stale"],  # must revalidate
        ["get", "{base}/redirect"],
        ["get", "{base}/big"],  # a body of several chunks
        ["get", "{base}/private?x=%41"],  # requests rewrites %41
        ["get", "{base}/plain", "a==1"],
        ["get", "--raw", "a=1", "{base}/plain"],
        ["get", "{base}/plain", "a=1"],
        ["get", "-a", "user:pw", "{base}/plain"],
        ["get", "-k", "{base}/plain"],
        ["get", "--refresh", "{base}/plain"],
        ["get", "--force-refresh", "{base}/plain"],
        ["get", "--no-cache", "{base}/plain"],
        ["get", "--expire-after", "0", "{base}/plain"],
        ["get", "-H", "Cache-Control: no-cache", "{base}/plain"],
        ["get", "-H", 'If-None-Match: "e"', "{base}/plain"],  # the cache answers 304
        ["get", "-H", "X-Odd: caf\u00e9", "{base}/plain"],
        ["--backend", "filesystem", "get", "{base}/plain"],
    ],
    ids=" ".join,
)
def test_leaves_the_rest_to_the_full_path(
    argv: list[str], origin: Origin, cache_dir: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    origin.route("/plain", Reply(200, CACHEABLE, b"plain"))
    origin.route("/private", Reply(200, CACHEABLE, b"private"))
    origin.route("/stale", Reply(200, {"Cache-Control": "no-cache", "ETag": '"s"'}, b"stale"))
    origin.route("/redirect", Reply(301, {"Cache-Control": "max-age=3600", "Location": "/"}))
    origin.route("/big", Reply(200, CACHEABLE, b"b" * (1024 * 1024 + 1)))
    leaves_it([a.replace("{base}", origin.base) for a in argv], cache_dir, capfdbinary)


def test_a_miss_is_left_to_the_full_path(
    origin: Origin, cache_dir: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    url = origin.route("/never", Reply(200, CACHEABLE, b"x"))
    leaves_it(["get", url], cache_dir, capfdbinary, store=False)
    assert origin.hits("/never") == 0


def test_another_variant_is_left_to_the_full_path(
    origin: Origin, cache_dir: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    url = origin.route("/v", Reply(200, {**CACHEABLE, "Vary": "X-Flavour"}, b"v"))
    options, fetch = parsed(["get", "-H", "X-Flavour: mint", url], cache_dir)
    fetching.run(options, fetch)
    leaves_it(["get", "-H", "X-Flavour: lemon", url], cache_dir, capfdbinary, store=False)
    leaves_it(["get", url], cache_dir, capfdbinary, store=False)


def test_a_netrc_file_is_left_to_the_full_path(
    origin: Origin,
    cache_dir: Path,
    tmp_path: Path,
    capfdbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = origin.route("/n", Reply(200, CACHEABLE, b"n"))
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password secret\n")
    monkeypatch.setenv("NETRC", str(netrc))
    leaves_it(["get", url], cache_dir, capfdbinary)
    assert "authorization" in origin.requests_to("/n")[0].headers  # requests used it
    monkeypatch.setenv("NETRC", str(tmp_path / "absent"))
    assert hit.lookup_for(*parsed(["get", url], cache_dir)) is not None


def test_a_compression_module_is_left_to_the_full_path(
    origin: Origin,
    cache_dir: Path,
    capfdbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """brotli or zstd installed: urllib3 adds them to Accept-Encoding."""
    url = origin.route("/z", Reply(200, CACHEABLE, b"z"))
    monkeypatch.setattr(hit, "COMPRESSION_MODULES", ("json",))  # a module that exists
    assert hit.default_accept_encoding() is None
    leaves_it(["get", url], cache_dir, capfdbinary)


def test_a_storage_failure_is_left_to_the_full_path(
    origin: Origin,
    cache_dir: Path,
    capfdbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from httpcache.caches.sqlite import SQLiteCache
    from httpcache.errors import StorageError

    url = origin.route("/s", Reply(200, CACHEABLE, b"s"))
    options, fetch = parsed(["get", url], cache_dir)
    fetching.run(options, fetch)

    def broken(self: SQLiteCache, key: str) -> None:
        raise StorageError("disk on fire")

    monkeypatch.setattr(SQLiteCache, "find", broken)
    leaves_it(["get", url], cache_dir, capfdbinary, store=False)


def test_a_conditional_of_its_own_is_left_or_answered_as_the_full_path_does(
    origin: Origin,
    cache_dir: Path,
    capfdbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request with an If-None-Match that the stored ETag fails: the stored response
    is the answer (RFC 9111 §4.3.2) if the engine says so; the fast path then gives the
    full path's bytes, or leaves it to the full path with no output of its own."""
    url = origin.route("/cond", Reply(200, CACHEABLE, b"whole"))
    options, fetch = parsed(["get", "-v", "-H", "If-None-Match: x", url], cache_dir)
    fetching.run(options, parsed(["get", url], cache_dir)[1])  # stores
    capfdbinary.readouterr()
    fixed = time.time()
    monkeypatch.setattr(output, "now", lambda: fixed)
    full_status, _ = full_path(options, fetch, monkeypatch)
    full = capfdbinary.readouterr()
    fast_status = hit.serve(options, fetch)
    fast = capfdbinary.readouterr()
    if fast_status is None:
        assert fast == (b"", b"")
    else:
        assert (fast_status, fast.out, fast.err) == (full_status, full.out, full.err)
