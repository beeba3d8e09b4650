"""``hc explain`` keeps its word: what it says is what ``hc get`` does.

The promise, checked over a matrix of origin responses, one test id per case:

- ``hc explain --offline URL`` says what the next ``hc get URL`` WOULD do with what
  is stored now (serve from the cache, revalidate, fetch from the server). Then
  ``hc get -v URL`` runs, and what it did is read from two independent witnesses:
  the origin's request log (no request, a conditional request with If-None-Match /
  If-Modified-Since, or an unconditional one) and the Cache-Status it prints on
  stderr. "serve from the cache" <=> no origin request (and Cache-Status ``hit``);
  "revalidate" <=> a conditional request; "fetch" <=> an unconditional request.
- ``hc explain URL`` (online) reports what actually happened: its verdict agrees
  with the origin's log, with its own Cache-Status, and with the offline prediction
  made just before from the same stored state.

``hc get`` runs both ways it runs: through ``main``'s entry (``fast.run``: the fast
hit of ``hit.py`` first, typer's app when it declines, as the console script does)
and through the typer app alone (the ``hc`` fixture). Everything runs in this process so that
``time_machine`` moves the clock for hc, its cache and the origin's Date alike.

Each case also names what RFC 9111 asks for (``expect``), so that explain and get
cannot agree on a wrong answer unnoticed; ``None`` where the RFC leaves it open.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
import time_machine
from typer.main import get_command
from typer.testing import CliRunner

from httpcache_cli import fast
from httpcache_cli.app import app
from tests.cli.conftest import Invoke
from tests.support.origin import Origin, Reply, Seen

Verdict = Literal["cache", "revalidate", "fetch"]

LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT"
PAST = "Thu, 01 Jan 2015 00:00:00 GMT"
ETAG = '"e1"'
CHANGED_ETAG = '"e2"'


# ---- the matrix -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    headers: dict[str, str]  # what the origin answers (its first 200, or the status below)
    status: int = 200
    expect: Verdict | None = None  # RFC 9111's answer; None where it leaves a choice
    later: float = 0  # seconds between the priming get and explain/get
    prime: tuple[str, ...] = ()  # extra options of the priming hc get
    ask: tuple[str, ...] = ()  # extra options of hc explain and of the next hc get
    method: str = "GET"  # of the next request (the priming one is always GET)
    answer_304: bool = True  # False: a conditional request gets a new 200 (changed)


FRESH = {"Cache-Control": "max-age=60", "ETag": ETAG}

CASES = [
    Case("max-age=60 fresh", FRESH, expect="cache", later=30),
    Case("max-age=60 +120s ETag 304", FRESH, expect="revalidate", later=120),
    Case("max-age=60 +120s ETag 200", FRESH, expect="revalidate", later=120, answer_304=False),
    Case(
        "max-age=60 +120s no validator", {"Cache-Control": "max-age=60"}, expect="fetch", later=120
    ),
    Case("no-cache ETag", {"Cache-Control": "no-cache", "ETag": ETAG}, expect="revalidate"),
    Case("no-store", {"Cache-Control": "no-store", "ETag": ETAG}, expect="fetch"),
    Case(
        "max-age=0 Last-Modified",
        {"Cache-Control": "max-age=0", "Last-Modified": LAST_MODIFIED},
        expect="revalidate",
    ),
    Case(
        "must-revalidate +120s",
        {"Cache-Control": "max-age=60, must-revalidate", "ETag": ETAG},
        expect="revalidate",
        later=120,
    ),
    Case("Expires past", {"Expires": PAST}, expect="fetch"),
    Case("Expires past ETag", {"Expires": PAST, "ETag": ETAG}, expect="revalidate"),
    Case(
        "Vary Accept same",
        {**FRESH, "Vary": "Accept"},
        expect="cache",
        prime=("-H", "Accept: text/html"),
        ask=("-H", "Accept: text/html"),
    ),
    Case(
        "Vary Accept different",
        {**FRESH, "Vary": "Accept"},
        expect="fetch",
        prime=("-H", "Accept: text/html"),
        ask=("-H", "Accept: application/json"),
    ),
    Case(
        "301 max-age",
        {"Cache-Control": "max-age=60", "Location": "/elsewhere"},
        status=301,
        expect="cache",
    ),
    Case(
        "stale-while-revalidate=600 +120s",
        {"Cache-Control": "max-age=60, stale-while-revalidate=600", "ETag": ETAG},
        expect="cache",  # served stale; RFC 5861 §3 refreshes it in the background
        later=120,
    ),
    Case("404 max-age", {"Cache-Control": "max-age=60"}, status=404, expect="cache"),
    Case(
        "--expire-after 1d +1h",
        {"Content-Type": "text/plain"},
        expect="cache",
        later=3600,
        prime=("--expire-after", "1d"),
    ),
    Case(
        "--expire-after 1d +2d",
        {"Content-Type": "text/plain"},
        expect="fetch",
        later=2 * 86400,
        prime=("--expire-after", "1d"),
    ),
    Case(
        "request Cache-Control no-cache",
        FRESH,
        expect="revalidate",
        ask=("-H", "Cache-Control: no-cache"),
    ),
    Case("HEAD after GET", FRESH, expect=None, method="HEAD"),
    # RFC 9111 §3 allows storing a 500 with explicit freshness; it does not require it.
    Case("500 max-age", {"Cache-Control": "max-age=60"}, status=500, expect=None),
    Case("private max-age", {"Cache-Control": "private, max-age=60"}, expect="cache"),
    Case("ETag only", {"ETag": ETAG}, expect="revalidate"),
    # With no heuristic (hc's default) Last-Modified is a validator only (§4.2.2: MAY).
    Case("Last-Modified only", {"Last-Modified": LAST_MODIFIED}, expect=None),
    Case(
        "no-cache with max-age",
        {"Cache-Control": "no-cache, max-age=60", "ETag": ETAG},
        expect="revalidate",
    ),
]

#: Names of the library's options: explain's prose must not speak of them to someone
#: who never set them (hc's flags have names of their own).
LIBRARY_NAMES = (
    "allowable_codes",
    "allowable_methods",
    "cacheable_methods",
    "expire_after",
    "only_if_cached",
    "force_refresh",
    "stale_if_error",
    "stale_while_revalidate",
    "cache_control",
    "match_headers",
    "ignored_parameters",
    "filter_fn",
    "DO_NOT_CACHE",
)


def assert_no_library_names(report: dict[str, Any]) -> None:
    prose = " ".join([str(report["verdict"]), *(step["text"] for step in report["steps"])])
    named = [name for name in LIBRARY_NAMES if name in prose]
    assert not named, f"library option names in explain's prose: {named}\n{prose}"


def ids(case: Case) -> str:
    return case.id


def handler(case: Case) -> Callable[[Seen], Reply]:
    """The case's response; a conditional request matching its validators gets a 304
    (unless the case says the resource changed: then a 200 with a new ETag)."""
    count = {"n": 0}
    lock = threading.Lock()

    def handle(seen: Seen) -> Reply:
        with lock:
            count["n"] += 1
            n = count["n"]
        etag = case.headers.get("ETag")
        last_modified = case.headers.get("Last-Modified")
        matches = (etag is not None and seen.headers.get("if-none-match") == etag) or (
            last_modified is not None and seen.headers.get("if-modified-since") == last_modified
        )
        if matches and case.answer_304:
            return Reply(304, dict(case.headers))
        headers = dict(case.headers)
        if matches:
            headers["ETag"] = CHANGED_ETAG
        return Reply(case.status, headers, f"body {n}".encode())

    return handle


# ---- running hc ---------------------------------------------------------------------------


@dataclass
class Ran:
    exit_code: int
    stdout: bytes
    stderr: str


@pytest.fixture(params=["main", "typer"])
def hc_get(request: pytest.FixtureRequest, hc: Invoke, cache_dir: Path) -> Callable[..., Ran]:
    """``hc_get(*args)``: ``hc get|head ...`` through main's entry (fast path, then
    typer) or through the typer app alone, in this process."""
    if request.param == "typer":

        def typer_run(*args: str) -> Ran:
            result = hc(*args)
            return Ran(result.exit_code, result.stdout_bytes, result.stderr)

        return typer_run

    command = get_command(app)

    def main_run(*args: str) -> Ran:
        argv = ["--cache-dir", str(cache_dir), *args]
        with CliRunner().isolation() as (out, err, _):
            try:
                status = fast.run(argv)  # as app.main does, without sys.exit
                if status is None:
                    status = command.main(args=argv, prog_name="hc", standalone_mode=False)
            except SystemExit as exit_:
                status = exit_.code if isinstance(exit_.code, int) else 1
            return Ran(int(status or 0), out.getvalue(), err.getvalue().decode())

    return main_run


def explain(hc: Invoke, *args: str) -> dict[str, Any]:
    result = hc("explain", "--json", *args)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def explain_args(case: Case, url: str) -> list[str]:
    return [*(["-X", case.method] if case.method != "GET" else []), *case.ask, url]


def get_args(case: Case, url: str) -> list[str]:
    return ["head" if case.method == "HEAD" else "get", "-v", *case.ask, url]


@contextmanager
def later(seconds: float) -> Iterator[None]:
    """The clock ``seconds`` on, and standing still (no sleeping), for everything in
    this process: hc, its cache, and the origin's Date."""
    with time_machine.travel(time.time() + seconds, tick=False):
        yield


def wait_for_background_revalidations() -> None:
    """stale-while-revalidate refreshes run in a thread of their own: let them finish
    so that the origin's log is complete (no sleeping: the threads are joined)."""
    for thread in threading.enumerate():
        if thread.name == "httpcache-revalidate":
            thread.join(10)


# ---- reading what each side says -----------------------------------------------------------


def offline_verdict(report: dict[str, Any]) -> Verdict:
    """The offline report's verdict, checked against its own decision and status."""
    verdict = str(report["verdict"])
    decision = report["steps"][0]["decision"]
    status = report["cache_status"]
    if "would serve it from the cache" in verdict:
        said: Verdict = "cache"
        assert decision == "UseStored" and status in ("hit", "stale"), report
    elif "would revalidate" in verdict:
        said = "revalidate"
        assert decision == "Revalidate" and status == "revalidated", report
    elif "would fetch it" in verdict:
        said = "fetch"
        assert decision in ("Forward",), report
    else:
        raise AssertionError(f"unknown offline verdict {verdict!r}")
    return said


def seen_by_origin(requests: list[Seen]) -> Verdict | None:
    """What the origin saw: nothing, a conditional request or an unconditional one
    (None: several requests, which no verdict describes)."""
    if not requests:
        return "cache"
    if len(requests) > 1:
        return None
    headers = requests[0].headers
    conditional = "if-none-match" in headers or "if-modified-since" in headers
    return "revalidate" if conditional else "fetch"


def cache_status_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("Cache-Status:")]
    assert lines, f"no Cache-Status on stderr:\n{stderr}"
    return lines[0]


def cache_status_says(line: str) -> str:
    """``cache`` for a hit, ``revalidated`` for a 304, else ``forwarded``."""
    fields = [f.strip() for f in line.removeprefix("Cache-Status:").split(";")]
    if "hit" in fields:
        return "cache"
    if "fwd-status=304" in fields:
        return "revalidated"
    return "forwarded"


def describe(requests: list[Seen]) -> str:
    if not requests:
        return "no origin request"
    parts = []
    for seen in requests:
        conditional = {
            k: v for k, v in seen.headers.items() if k in ("if-none-match", "if-modified-since")
        }
        parts.append(f"{seen.method} {conditional or 'unconditional'}")
    return f"{len(requests)} origin request(s): " + ", ".join(parts)


def is_background_revalidation(case_report: dict[str, Any]) -> bool:
    step = case_report["steps"][0]
    return step["decision"] == "UseStored" and "stale-while-revalidate" in step["reason"]


# ---- the tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_offline_explain_is_what_get_does(
    case: Case, hc: Invoke, hc_get: Callable[..., Ran], origin: Origin
) -> None:
    path = "/agree"
    url = origin.route(path, handler(case))
    primed = hc("get", *case.prime, url)
    assert primed.exit_code == 0, primed.output
    assert origin.hits(path) == 1

    with later(case.later):
        report = explain(hc, "--offline", *explain_args(case, url))
        assert origin.hits(path) == 1, "explain --offline sent a request"
        assert_no_library_names(report)
        said = offline_verdict(report)

        ran = hc_get(*get_args(case, url))
        assert ran.exit_code == 0, ran.stderr
        wait_for_background_revalidations()

    after = origin.requests_to(path)[1:]
    status_line = cache_status_line(ran.stderr)
    status_says = cache_status_says(status_line)
    did = seen_by_origin(after)
    step = report["steps"][0]
    where = (
        f"\n  explain --offline said: {said} ({report['verdict']!r}; "
        f"{step['decision']}: {step['reason']})"
        f"\n  hc {' '.join(get_args(case, url))} did: {describe(after)}; {status_line}"
    )

    if said == "cache" and is_background_revalidation(report):
        # RFC 5861 §3: served stale at once; the refresh runs in the background, so
        # the origin may see one conditional request that the caller does not wait for.
        assert status_says == "cache", "explain and get disagree" + where
        assert did in ("cache", "revalidate"), "explain and get disagree" + where
    else:
        assert did == said, "explain and get disagree" + where
        if said == "cache":
            assert status_says == "cache", "get's Cache-Status is not a hit" + where
        else:
            assert status_says != "cache", "get's Cache-Status says hit" + where
        if said == "revalidate" and case.answer_304:
            assert status_says == "revalidated", "no fwd-status=304 after a 304" + where

    if case.expect is not None:
        assert said == case.expect, f"both agree, but RFC 9111 expects {case.expect}" + where


def online_verdict(report: dict[str, Any]) -> str:
    """``cache``, ``revalidated`` (a 304) or ``fetched`` (a full response)."""
    verdict = str(report["verdict"])
    if verdict.startswith("served from the cache"):
        return "cache"
    if verdict.startswith("revalidated with the server"):
        return "revalidated"
    if verdict.startswith("fetched from the server"):
        return "fetched"
    raise AssertionError(f"unknown online verdict {verdict!r}")


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_online_explain_reports_what_happened(case: Case, hc: Invoke, origin: Origin) -> None:
    path = "/told"
    url = origin.route(path, handler(case))
    primed = hc("get", *case.prime, url)
    assert primed.exit_code == 0, primed.output
    assert origin.hits(path) == 1

    with later(case.later):
        predicted = explain(hc, "--offline", *explain_args(case, url))
        report = explain(hc, *explain_args(case, url))
        assert_no_library_names(report)
        wait_for_background_revalidations()

    after = origin.requests_to(path)[1:]
    did = seen_by_origin(after)
    told = online_verdict(report)
    field_says = cache_status_says("Cache-Status: " + str(report["cache_status_field"]))
    decisions = [s["decision"] for s in report["steps"]]
    answered_304 = did == "revalidate" and case.answer_304
    where = (
        f"\n  explain said: {told} ({report['verdict']!r}; cache_status "
        f"{report['cache_status']}; Cache-Status {report['cache_status_field']}; "
        f"steps {decisions})"
        f"\n  origin saw: {describe(after)}"
        f"\n  explain --offline had predicted: {predicted['verdict']!r} "
        f"({predicted['steps'][0]['decision']})"
    )

    # The verdict against its own Cache-Status.
    expected_field = {"cache": "cache", "revalidated": "revalidated", "fetched": "forwarded"}
    assert field_says == expected_field[told], "verdict and Cache-Status disagree" + where
    # The verdict against the origin's log.
    if told == "cache":
        background = is_background_revalidation(predicted)
        allowed = ("cache", "revalidate") if background else ("cache",)
        assert did in allowed, "said served from the cache, but the origin was asked" + where
    elif told == "revalidated":
        assert answered_304, "said revalidated (304), but no 304 was answered" + where
    else:
        assert did in ("fetch", "revalidate") and not answered_304, (
            "said fetched, but the origin sent no full response" + where
        )
    # The steps tell the request that was made: a conditional one is a Revalidate.
    if did == "revalidate" and told != "cache":
        assert "Revalidate" in decisions, "a conditional request, no Revalidate step" + where
    if did == "fetch":
        assert decisions and decisions[0] == "Forward", "a plain request, no Forward step" + where
    # The same stored state, the same lookup decision, online and offline.
    assert decisions and decisions[0] == predicted["steps"][0]["decision"], (
        "online and offline lookups disagree" + where
    )
