"""hc explain: the cache's decisions in words, with the RFC sections behind them."""

from __future__ import annotations

import json
import time

import pytest
import time_machine

from httpcache_cli import narrate
from httpcache_cli.commands.explain import cite
from tests.cli.conftest import Invoke
from tests.support.origin import Origin, Reply, Seen, counter_handler

FRESH = {"Cache-Control": "max-age=60", "ETag": '"e1"'}


def explain(hc: Invoke, *args: str) -> dict[str, object]:
    result = hc("explain", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def texts(report: dict[str, object]) -> str:
    steps = report["steps"]
    assert isinstance(steps, list)
    return " ".join(f"{s['text']} {' '.join(s['rfc'])}" for s in steps)


def test_a_miss_that_is_stored_then_a_hit(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/e", Reply(200, FRESH, b"x"))
    first = explain(hc, url)
    assert first["cache_status"] == "miss"
    assert first["stored"] is True
    words = texts(first)
    assert "Nothing is stored for this request" in words
    assert "max-age=60" in words
    assert "RFC 9111 §5.2.2.1" in words
    assert "RFC 9111 §3" in words
    assert "ETag" in words and "RFC 9111 §4.3.1" in words
    decisions = [s["decision"] for s in first["steps"]]  # type: ignore[union-attr]
    assert decisions == ["Forward", "Store"]

    second = explain(hc, url)
    assert second["cache_status"] == "hit"
    assert second["from_cache"] is True
    assert "served from the cache" in str(second["verdict"])
    assert "RFC 9111 §4.2" in texts(second)
    assert origin.hits("/e") == 1


def test_no_store_is_explained(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/ns", Reply(200, {"Cache-Control": "no-store"}, b"x"))
    report = explain(hc, url)
    assert report["stored"] is False
    assert "not stored" in str(report["verdict"])
    assert "no-store" in texts(report)
    assert "RFC 9111 §5.2.2.5" in texts(report)


def test_no_lifetime_no_validator(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/bare", Reply(200, {}, b"x"))
    words = texts(explain(hc, url))
    assert "no freshness lifetime and no validator" in words
    assert "§4.2" in words


def test_revalidation_and_304(hc: Invoke, origin: Origin) -> None:
    def handle(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"e1"':
            return Reply(304, FRESH)
        return Reply(200, FRESH, b"x")

    url = origin.route("/rv", handle)
    hc("get", url)
    with time_machine.travel(time.time() + 120, tick=False):
        report = explain(hc, url)
    assert report["cache_status"] == "revalidated"
    words = texts(report)
    assert "conditional request" in words and "RFC 9111 §4.3.1" in words
    assert "304 Not Modified" in words and "RFC 9111 §4.3.4" in words


def test_expire_after_is_named_as_the_source(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/ea", Reply(200, {}, b"x"))
    assert "--expire-after 1h" in texts(explain(hc, "--expire-after", "1h", url))
    other = origin.route("/ea2", Reply(200, {}, b"x"))
    result = hc("--expire-after", "1d", "explain", "--json", other)
    assert "hc --expire-after 1d" in texts(json.loads(result.stdout))


def test_heuristic_is_named(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/lm", Reply(200, {"Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"}, b"x"))
    result = hc("--heuristic", "last-modified", "explain", "--json", url)
    words = texts(json.loads(result.stdout))
    assert "last-modified heuristic" in words
    assert "RFC 9111 §4.2.2" in words


def test_offline_looks_without_sending(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/off", counter_handler(FRESH))
    nothing = explain(hc, "--offline", url)
    assert nothing["offline"] is True
    assert "would fetch it" in str(nothing["verdict"])
    assert "Nothing is stored" in texts(nothing)
    hc("get", url)
    stored = explain(hc, "--offline", url)
    assert "would serve it from the cache" in str(stored["verdict"])
    with time_machine.travel(time.time() + 120, tick=False):
        stale = explain(hc, "--offline", url)
    assert "revalidate" in str(stale["verdict"])
    assert "RFC 9111 §4.3.1" in texts(stale)
    assert origin.hits("/off") == 1  # --offline never sent anything


def test_plain_text_sections(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/txt", Reply(200, FRESH, b"x"))
    result = hc("explain", url)
    assert result.exit_code == 0
    text = result.stdout
    assert text.startswith(f"GET {url} -> 200 OK")
    for part in ("Cache-Status: httpcache; fwd=uri-miss", "Lookup", "Response", "Now", "[RFC 9111"):
        assert part in text
    assert "Fresh for" in text


def test_bypass_for_uncached_methods(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/post", Reply(200, FRESH, b"x"))
    words = texts(explain(hc, "-X", "POST", url))
    assert "bypassed" in words and "POST is not a method hc caches" in words


def test_force_refresh(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/force", Reply(200, FRESH, b"x"))
    hc("get", url)
    assert "--force-refresh" in texts(explain(hc, "--force-refresh", url))


def test_verbose_keeps_other_records(hc: Invoke, origin: Origin) -> None:
    url = origin.route("/verb", Reply(200, FRESH, b"x"))
    assert hc("explain", "-v", url).exit_code == 0


@pytest.mark.parametrize(
    ("refs", "text"),
    [
        (["RFC 9111 §4.2", "RFC 9111 §4.2.3"], "RFC 9111 §4.2, §4.2.3"),
        (["RFC 9111 §3", "RFC 5861 §4"], "RFC 9111 §3; RFC 5861 §4"),
    ],
)
def test_cite(refs: list[str], text: str) -> None:
    assert cite(refs) == text


def test_reasons_keep_their_own_sections() -> None:
    step = narrate.Step("response", "DoNotStore", "the response says no-store (RFC 9111 §5.2.2.5)")
    (worded,) = narrate.word([step], narrate.Context())
    assert worded.rfc[0] == "RFC 9111 §5.2.2.5"


def test_notes_of_the_trace_are_kept_as_they_read() -> None:
    from httpcache.trace import Trace

    trace = Trace("GET", "http://h/")
    trace.add("lookup", "Forward", "no stored response", status="miss")
    trace.add("note", "Note", "something new x")
    lookup, note = narrate.steps_from_trace(trace)
    assert (lookup.decision, lookup.rfc) == ("Forward", ["RFC 9111 §4"])
    assert (note.decision, note.reason) == ("Log", "something new x")


def test_on_a_terminal(hc: Invoke, origin: Origin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("httpcache_cli.views.is_terminal", lambda _stream: True)
    url = origin.route("/tty", Reply(200, FRESH, b"x"))
    result = hc("explain", url)
    assert result.exit_code == 0
    assert "Lookup" in result.stdout
    assert "RFC 9111" in result.stdout
