"""hc get / fetch / head / request and every fetch flag, in process (CliRunner)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.cli.conftest import Invoke
from tests.support.origin import Origin, Reply, Seen, counter_handler

CACHEABLE = {"Cache-Control": "max-age=60", "ETag": '"v1"', "Content-Type": "text/plain"}


def revalidating(body: bytes = b"payload") -> object:
    """200 with an ETag, 304 when the request already has it."""

    def handle(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"v1"':
            return Reply(304, {"ETag": '"v1"', "Cache-Control": "max-age=60"})
        return Reply(200, dict(CACHEABLE), body)

    return handle


def cache_status(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("Cache-Status:"))


def test_get_writes_the_body_as_bytes_and_stores_it(hc: Invoke, origin: Origin) -> None:
    body = bytes(range(256)) * 40  # every byte value, no text decoding anywhere
    url = origin.route("/bin", Reply(200, {"Cache-Control": "max-age=60"}, body))

    first = hc("get", url)
    second = hc("get", url)

    assert first.exit_code == 0, first.output
    assert first.stdout_bytes == body
    assert second.stdout_bytes == body
    assert origin.hits("/bin") == 1


def test_fetch_is_get(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/f", Reply(200, CACHEABLE, b"same"))
    assert hc("get", url).stdout_bytes == b"same"
    result = hc("fetch", "-v", url)
    assert result.stdout_bytes == b"same"
    assert "; hit;" in cache_status(result.stderr)


def test_url_without_scheme_gets_http(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/noscheme", Reply(200, CACHEABLE, b"ok"))
    assert hc("get", url.removeprefix("http://")).stdout_bytes == b"ok"


def test_head_prints_status_line_and_headers(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/h", Reply(200, CACHEABLE, b"body"))
    result = hc("head", url)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "HTTP/1.1 200 OK"
    assert 'ETag: "v1"' in lines
    assert "body" not in result.stdout
    assert hc("head", url).exit_code == 0
    assert origin.hits("/h", "HEAD") == 1


def test_request_sends_method_and_data(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/post", Reply(201, {}, b"created"))
    result = hc("request", "post", url, "--raw", "a=1&b=2")
    assert result.exit_code == 0
    assert result.stdout_bytes == b"created"
    seen = origin.requests_to("/post")[0]
    assert seen.method == "POST"
    assert seen.body == b"a=1&b=2"
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"


def test_data_from_file_and_stdin(hc: Invoke, origin: Origin, tmp_path: Path) -> None:
    url = origin.route("/put", Reply(200, {}, b""))
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"\x00\x01file")
    assert hc("request", "PUT", url, "--data", f"@{payload}").exit_code == 0
    assert hc("request", "PUT", url, "--raw", "@-", input=b"from stdin").exit_code == 0
    bodies = [s.body for s in origin.requests_to("/put")]
    assert bodies == [b"\x00\x01file", b"from stdin"]


def test_json_body_sets_content_type_and_accept(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/json", Reply(200, {}, b"{}"))
    assert hc("request", "POST", url, "--json", "--raw", '{"a": [1, 2]}').exit_code == 0
    seen = origin.requests_to("/json")[0]
    assert json.loads(seen.body) == {"a": [1, 2]}
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["accept"].startswith("application/json")


def test_headers_and_params_reach_the_server(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/q", Reply(200, {}, b""))
    result = hc("get", url, "-H", "X-One: 1", "-H", "Accept: text/csv", "--param", "b=2", "a==1")
    assert result.exit_code == 0
    seen = origin.requests_to("/q")[0]
    assert seen.headers["x-one"] == "1"
    assert seen.headers["accept"] == "text/csv"
    assert seen.query == "b=2&a=1"


def test_empty_header_value_removes_a_default_one(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/ua", Reply(200, {}, b""))
    assert hc("get", url, "-H", "Accept:").exit_code == 0
    assert "accept" not in origin.requests_to("/ua")[0].headers


def test_user_agent_names_hc(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/agent", Reply(200, {}, b""))
    hc("get", url)
    assert origin.requests_to("/agent")[0].headers["user-agent"].startswith("hc/")


def test_include_prints_head_then_body(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/i", Reply(200, CACHEABLE, b"the body"))
    for _ in range(2):  # from the server, then from the cache
        result = hc("get", "-i", url)
        head, _, body = result.stdout_bytes.partition(b"\n\n")
        assert head.startswith(b"HTTP/1.1 200 OK\n")
        assert b"Cache-Control: max-age=60" in head
        assert body == b"the body"


def test_verbose_shows_request_response_and_cache_status(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/v", Reply(200, CACHEABLE, b"v"))
    miss = hc("get", "-v", url)
    hit = hc("get", "-v", url)
    assert miss.stdout_bytes == hit.stdout_bytes == b"v"  # stdout stays the body
    assert miss.stderr.startswith("GET /v HTTP/1.1\nHost: 127.0.0.1:")
    assert "HTTP/1.1 200 OK" in miss.stderr
    miss_status = cache_status(miss.stderr)
    assert miss_status.startswith("Cache-Status: httpcache; fwd=uri-miss; fwd-status=200;")
    assert "; stored;" in miss_status
    hit_status = cache_status(hit.stderr)
    assert hit_status.startswith("Cache-Status: httpcache; hit; ttl=")
    assert 'key="' in hit_status


def test_expire_after_overrides_the_headers(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/nocache", counter_handler({"Cache-Control": "max-age=0"}))
    assert hc("get", url).stdout_bytes == b"body 1"
    assert hc("get", url).stdout_bytes == b"body 2"  # not stored: no validator
    assert hc("get", "--expire-after", "1h", url).stdout_bytes == b"body 3"
    assert hc("get", "--expire-after", "1h", url).stdout_bytes == b"body 3"


def test_global_expire_after(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/g", counter_handler({}))
    assert hc("--expire-after", "1d", "get", url).stdout_bytes == b"body 1"
    assert hc("--expire-after", "1d", "get", url).stdout_bytes == b"body 1"


def test_refresh_revalidates(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/r", revalidating())
    hc("get", url)
    result = hc("get", "--refresh", "-v", url)
    assert result.stdout_bytes == b"payload"
    assert "fwd=request; fwd-status=304" in cache_status(result.stderr)
    assert origin.requests_to("/r")[-1].headers["if-none-match"] == '"v1"'


def test_force_refresh_fetches_again(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/fr", counter_handler({"Cache-Control": "max-age=60"}))
    hc("get", url)
    result = hc("get", "--force-refresh", "-v", url)
    assert result.stdout_bytes == b"body 2"
    assert "fwd=request" in cache_status(result.stderr)
    assert hc("get", url).stdout_bytes == b"body 2"  # and stored


def test_offline_serves_a_hit_and_fails_on_a_miss(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/off", Reply(200, CACHEABLE, b"kept"))
    missing = hc("get", "--offline", url)
    assert missing.exit_code == 7
    assert "not in the cache" in missing.stderr
    assert origin.hits("/off") == 0
    hc("get", url)
    hit = hc("get", "--offline", url)
    assert hit.exit_code == 0
    assert hit.stdout_bytes == b"kept"
    assert origin.hits("/off") == 1


def test_no_cache_neither_reads_nor_writes(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/nc", counter_handler({"Cache-Control": "max-age=60"}))
    assert hc("get", "--no-cache", url).stdout_bytes == b"body 1"
    assert hc("get", url).stdout_bytes == b"body 2"  # nothing was stored
    assert hc("get", "--no-cache", url).stdout_bytes == b"body 3"  # not read either
    assert hc("cache", "ls", "--json").stdout.count('"key"') == 1


def test_timeout(hc: Invoke, origin: Origin) -> None:
    release = threading.Event()

    def slow(_seen: Seen) -> Reply:
        release.wait(5)
        return Reply(200, {}, b"late")

    url = origin.route("/slow", slow)
    try:
        result = hc("get", "--timeout", "0.2", url)
    finally:
        release.set()
    assert result.exit_code == 2
    assert result.stderr.startswith("hc: error: ")
    assert "--timeout" in result.stderr


@pytest.mark.parametrize(("status", "code"), [(200, 0), (301, 3), (404, 4), (503, 5)])
def test_check_status(hc: Invoke, origin: Origin, status: int, code: int) -> None:
    url = origin.route(f"/s{status}", Reply(status, {"Location": "/elsewhere"}, b"x"))
    assert hc("get", url).exit_code == 0  # without --check-status, any answer is success
    result = hc("get", "--check-status", url)
    assert result.exit_code == code
    if code:
        assert f"hc: warning: HTTP {status}" in result.stderr


def test_follow_and_max_redirects(hc: Invoke, origin: Origin) -> None:
    origin.route("/to", Reply(200, {}, b"arrived"))
    url = origin.route("/from", Reply(302, {"Location": "/to"}, b""))
    assert hc("get", url).stdout_bytes == b""  # not followed by default
    assert hc("get", "--follow", url).stdout_bytes == b"arrived"
    loop = origin.route("/loop", Reply(302, {"Location": "/loop"}, b""))
    result = hc("get", "-F", "--max-redirects", "3", loop)
    assert result.exit_code == 6
    assert "too many redirects" in result.stderr


def test_output_file(hc: Invoke, origin: Origin, tmp_path: Path) -> None:
    body = b"0123456789" * 50_000
    url = origin.route("/big", Reply(200, {"Cache-Control": "max-age=60"}, body))
    target = tmp_path / "out.bin"
    result = hc("get", "-o", str(target), url)
    assert result.exit_code == 0
    assert result.stdout_bytes == b""
    assert target.read_bytes() == body
    assert list(tmp_path.glob(".out.bin.*")) == []  # no temporary file left
    again = tmp_path / "again.bin"
    assert hc("get", "--output", str(again), url).exit_code == 0
    assert again.read_bytes() == body
    assert origin.hits("/big") == 1


def test_output_dash_is_stdout(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/dash", Reply(200, {}, b"to stdout"))
    assert hc("get", "-o", "-", url).stdout_bytes == b"to stdout"


def test_output_into_missing_folder_fails(hc: Invoke, origin: Origin, tmp_path: Path) -> None:
    url = origin.route("/nowhere", Reply(200, {}, b"x"))
    result = hc("get", "-o", str(tmp_path / "no" / "such" / "file"), url)
    assert result.exit_code == 73
    assert "cannot write" in result.stderr


@pytest.mark.parametrize(
    "heuristic", ["last-modified", "one-day", "expires-after=2h", "expires-after=90m"]
)
def test_heuristics(hc: Invoke, origin: Origin, heuristic: str) -> None:
    headers = {"Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"}
    url = origin.route("/heur", counter_handler(headers))
    assert hc("--heuristic", heuristic, "get", url).stdout_bytes == b"body 1"
    hit = hc("--heuristic", heuristic, "get", "-v", url)
    assert hit.stdout_bytes == b"body 1"
    assert "; hit;" in cache_status(hit.stderr)


def test_without_heuristic_a_response_without_freshness_is_revalidated(
    hc: Invoke, origin: Origin
) -> None:
    url = origin.route(
        "/plain", counter_handler({"Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"})
    )
    hc("get", url)
    assert hc("get", url).stdout_bytes == b"body 2"  # stale at once: fetched again (no 304)


def test_cache_name_separates_caches(hc: Invoke, origin: Origin, cache_dir: Path) -> None:
    url = origin.route("/names", counter_handler({"Cache-Control": "max-age=60"}))
    assert hc("--cache-name", "one", "get", url).stdout_bytes == b"body 1"
    assert hc("--cache-name", "two", "get", url).stdout_bytes == b"body 2"
    assert hc("--cache-name", "one", "get", url).stdout_bytes == b"body 1"
    assert (cache_dir / "one.sqlite").exists()
    assert (cache_dir / "two.sqlite").exists()


def test_environment_variables(hc: Invoke, origin: Origin, cache_dir: Path) -> None:
    url = origin.route("/env", counter_handler({}))
    env = {
        "HC_BACKEND": "filesystem",
        "HC_CACHE_NAME": "fromenv",
        "HC_EXPIRE_AFTER": "1h",
    }
    assert hc("get", url, env=env).stdout_bytes == b"body 1"
    assert hc("get", url, env=env).stdout_bytes == b"body 1"
    assert (cache_dir / "fromenv.filesystem").is_dir()


def test_flags_override_environment(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/over", counter_handler({"Cache-Control": "max-age=60"}))
    env = {"HC_BACKEND": "nope"}
    assert hc("--backend", "memory", "get", url, env=env).exit_code == 0
    bad = hc("get", url, env=env)
    assert bad.exit_code == 64
    assert "HC_BACKEND" in bad.stderr


def test_contradicting_flags(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/c", Reply(200, {}, b""))
    result = hc("get", "--offline", "--force-refresh", url)
    assert result.exit_code == 64
    assert "contradict" in result.stderr


def test_unsafe_method_invalidates(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/thing", counter_handler({"Cache-Control": "max-age=60"}))
    assert hc("get", url).stdout_bytes == b"body 1"
    assert hc("request", "DELETE", url).exit_code == 0
    assert hc("get", url).stdout_bytes == b"body 3"
