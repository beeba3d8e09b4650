"""hc cache ls | inspect | rm | clear | stats | remove-expired, and the top-level aliases."""

from __future__ import annotations

import json
import time

import pytest
import time_machine

from httpcache_cli import output
from tests.cli.conftest import Invoke
from tests.support.origin import Origin, Reply

SHORT = {"Cache-Control": "max-age=60", "ETag": '"s"'}
LONG = {"Cache-Control": "max-age=3600", "ETag": '"l"'}


@pytest.fixture
def filled(hc: Invoke, origin: Origin) -> dict[str, str]:
    """Three entries: two short-lived on 127.0.0.1, one long-lived on localhost."""
    urls = {
        "short": origin.route("/short", Reply(200, SHORT, b"s" * 10)),
        "other": origin.route("/other/page", Reply(200, SHORT, b"o" * 300)),
        "long": origin.route("/long", Reply(200, LONG, b"l" * 2000)).replace(
            "127.0.0.1", "localhost"
        ),
    }
    for url in urls.values():
        assert hc("get", url).exit_code == 0
    return urls


def ls_json(hc: Invoke, *args: str) -> list[dict[str, object]]:
    result = hc("cache", "ls", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def later(seconds: float) -> time_machine.travel:
    return time_machine.travel(time.time() + seconds, tick=False)


# ---- ls ----------------------------------------------------------------------------------


def test_ls_plain_table(hc: Invoke, filled: dict[str, str]) -> None:
    result = hc("cache", "ls")
    assert result.exit_code == 0
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["KEY", "METHOD", "URL", "STATUS", "SIZE", "AGE", "EXPIRES", "STATE"]
    assert len(rows) == 3
    assert all("fresh" in row and " GET " in row for row in rows)
    assert any(filled["long"] in row and "2.0 kB" in row for row in rows)


def test_ls_json_fields(hc: Invoke, filled: dict[str, str]) -> None:
    entries = ls_json(hc)
    assert [e["url"] for e in entries] == sorted(filled.values())
    first = entries[0]
    assert set(first) >= {
        "key", "method", "url", "host", "status", "size", "created_at", "expires", "age", "ttl",
        "state",
    }  # fmt: skip
    assert first["status"] == 200
    assert first["state"] == "fresh"


def test_ls_filters(hc: Invoke, filled: dict[str, str]) -> None:
    assert [e["url"] for e in ls_json(hc, "--host", "localhost")] == [filled["long"]]
    assert [e["url"] for e in ls_json(hc, "--url", "*/other/*")] == [filled["other"]]
    assert ls_json(hc, "--expired") == []
    with later(120):
        assert [e["url"] for e in ls_json(hc, "--fresh")] == [filled["long"]]
        expired = ls_json(hc, "--expired")
        assert {e["url"] for e in expired} == {filled["short"], filled["other"]}
        assert {e["state"] for e in expired} == {"expired"}
        plain = hc("cache", "ls", "--expired").stdout
        assert plain.count("expired") == 2
    assert hc("cache", "ls", "--expired", "--fresh").exit_code == 64


def test_ls_sort_reverse_limit(hc: Invoke, filled: dict[str, str]) -> None:
    by_size = [e["size"] for e in ls_json(hc, "--sort", "size")]
    assert by_size == [10, 300, 2000]
    assert [e["size"] for e in ls_json(hc, "--sort", "size", "-r", "--limit", "2")] == [2000, 300]
    for column in ("key", "host", "method", "status", "age", "expires", "url"):
        assert len(ls_json(hc, "--sort", column)) == 3
    assert hc("cache", "ls", "--sort", "nope").exit_code == 64
    assert hc("cache", "ls", "--limit", "0").exit_code == 64


def test_ls_empty(hc: Invoke) -> None:
    assert ls_json(hc) == []
    assert hc("cache", "ls").stdout.split() == [
        "KEY", "METHOD", "URL", "STATUS", "SIZE", "AGE", "EXPIRES", "STATE",
    ]  # fmt: skip


def test_ls_draws_a_rich_table_on_a_terminal(
    hc: Invoke, filled: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("httpcache_cli.views.is_terminal", lambda _stream: True)
    result = hc("cache", "ls")
    assert result.exit_code == 0
    assert "┃" in result.stdout or "│" in result.stdout
    assert "3 entries" in result.stdout


# ---- inspect -------------------------------------------------------------------------------


def test_inspect_by_url_key_and_prefix(hc: Invoke, filled: dict[str, str]) -> None:
    key = ls_json(hc, "--url", filled["short"])[0]["key"]
    assert isinstance(key, str)
    for target in (filled["short"], key, key[:8]):
        result = hc("cache", "inspect", target)
        assert result.exit_code == 0, result.output
        text = result.stdout
        assert f"GET {filled['short']}" in text
        for section in ("Request", "Response", "Validators", "Freshness"):
            assert section in text
        assert 'ETag:          "s"' in text
        assert "Cache-Control:" in text and "max-age=60" in text
        assert "RFC 9111 §4.2.3" in text
        assert "ttl:" in text and "10 B" in text


def test_inspect_json(hc: Invoke, filled: dict[str, str]) -> None:
    result = hc("inspect", filled["long"], "--json")  # the top-level alias
    assert result.exit_code == 0
    (entry,) = json.loads(result.stdout)
    assert entry["url"] == filled["long"]
    assert entry["validators"] == {"etag": '"l"', "last_modified": None}
    assert ["Cache-Control", "max-age=3600"] in entry["response"]["headers"]
    assert entry["request"]["method"] == "GET"
    assert 3590 < entry["ttl"] <= 3600
    assert entry["current_age"] >= 0


def test_inspect_body(hc: Invoke, filled: dict[str, str]) -> None:
    result = hc("cache", "inspect", "--body", filled["other"])
    assert result.stdout_bytes == b"o" * 300


def test_inspect_shows_variants(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/vary", Reply(200, {**SHORT, "Vary": "Accept"}, b"v"))
    hc("get", url, "-H", "Accept: text/plain")
    hc("get", url, "-H", "Accept: text/html")
    result = hc("cache", "inspect", url, "--json")
    assert len(json.loads(result.stdout)) == 2
    assert "variant:" in hc("cache", "inspect", url).stdout
    body = hc("cache", "inspect", url, "--body")
    assert body.exit_code == 64
    assert "2 stored variants" in body.stderr


def test_inspect_unknown(hc: Invoke, filled: dict[str, str]) -> None:
    for target in ("0000000000", "http://127.0.0.1:1/nothing", "ffff"):
        result = hc("cache", "inspect", target)
        assert result.exit_code == 66
        assert result.stderr.startswith("hc: error: no cached entry for")
        assert "(hint: " in result.stderr


# ---- rm, clear, remove-expired ---------------------------------------------------------------


def test_rm_by_key_and_url(hc: Invoke, filled: dict[str, str]) -> None:
    key = ls_json(hc, "--url", filled["short"])[0]["key"]
    result = hc("cache", "rm", str(key)[:10], filled["long"])
    assert result.exit_code == 0
    assert result.stdout.strip() == "removed 2 entries"
    assert [e["url"] for e in ls_json(hc)] == [filled["other"]]


def test_rm_by_glob(hc: Invoke, filled: dict[str, str]) -> None:
    result = hc("cache", "rm", "--url", "*127.0.0.1*")
    assert result.stdout.strip() == "removed 2 entries"
    assert [e["url"] for e in ls_json(hc)] == [filled["long"]]
    assert hc("cache", "rm", "--url", "*nothing*").stdout.strip() == "removed 0 entries"


def test_rm_errors(hc: Invoke, filled: dict[str, str]) -> None:
    assert hc("cache", "rm").exit_code == 64
    unknown = hc("cache", "rm", filled["short"], "http://127.0.0.1:1/none")
    assert unknown.exit_code == 66
    assert len(ls_json(hc)) == 3  # nothing removed when one target is unknown


def test_clear_without_terminal_does_not_ask(hc: Invoke, filled: dict[str, str]) -> None:
    result = hc("cache", "clear")
    assert result.exit_code == 0
    assert result.stdout.strip() == "removed 3 entries"
    assert ls_json(hc) == []


def test_clear_asks_on_a_terminal(
    hc: Invoke, filled: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "is_terminal", lambda _stream: True)
    declined = hc("clear", input="n\n")  # the top-level alias
    assert declined.exit_code == 1
    assert "Remove all 3 entries" in declined.stdout
    assert len(ls_json(hc)) == 3
    accepted = hc("cache", "clear", input="y\n")
    assert accepted.exit_code == 0
    assert ls_json(hc) == []
    hc("get", filled["short"])
    assert hc("cache", "clear", "--yes").exit_code == 0  # no question with --yes
    assert ls_json(hc) == []


@pytest.mark.parametrize(
    "command", [["cache", "remove-expired"], ["remove-expired"], ["purge-expired"]]
)
def test_remove_expired(hc: Invoke, filled: dict[str, str], command: list[str]) -> None:
    with later(120):
        dry = hc(*command, "--dry-run")
        assert dry.exit_code == 0
        assert dry.stdout.splitlines()[-1] == "would remove 2 expired entries"
        assert filled["short"] in dry.stdout
        assert len(ls_json(hc)) == 3
        done = hc(*command)
        assert done.stdout.strip() == "removed 2 expired entries"
        assert [e["url"] for e in ls_json(hc)] == [filled["long"]]


# ---- stats -------------------------------------------------------------------------------------


def test_stats(hc: Invoke, filled: dict[str, str], cache_dir: object) -> None:
    hc("get", filled["short"])  # a hit
    result = hc("cache", "stats", "--json")
    data = json.loads(result.stdout)
    assert data["entries"] == 3
    assert data["bytes"] == 2310
    assert data["expired"] == 0
    assert data["per_host"] == {"127.0.0.1": 2, "localhost": 1}
    assert data["hits"] == 1
    assert data["misses"] == 3
    assert data["hit_ratio"] == 0.25
    assert data["backend"] == "sqlite"
    assert data["location"].endswith("http_cache.sqlite")
    plain = hc("stats").stdout  # the top-level alias
    assert "entries:  3" in plain
    assert "1 hits, 3 misses (25% hits)" in plain
    assert "127.0.0.1: 2" in plain


def test_stats_on_a_terminal(
    hc: Invoke, filled: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("httpcache_cli.views.is_terminal", lambda _stream: True)
    result = hc("cache", "stats")
    assert result.exit_code == 0
    assert "Entries per host" in result.stdout


def test_cache_without_subcommand_shows_help(hc: Invoke) -> None:
    result = hc("cache")
    assert result.exit_code == 0
    assert "remove-expired" in result.stdout


def test_inspect_on_a_terminal(
    hc: Invoke, filled: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("httpcache_cli.views.is_terminal", lambda _stream: True)
    result = hc("cache", "inspect", filled["short"])
    assert result.exit_code == 0
    assert "Freshness" in result.stdout
    assert "ETag" in result.stdout
