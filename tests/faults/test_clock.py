"""Case 9: the clock and the dates. Freshness follows RFC 9111 §4.2 whatever the
clock does (a day back, a day forward, ten years on) and whatever the origin says
about time (Date in the future or missing; Expires of 0, -1, empty or garbage; Age);
a clock that jumps back never makes an entry fresher. Time moves by time-machine,
never by sleeping; the origin's Date is taken from the same (travelling) clock.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import time_machine

from httpcache.policy.directives import format_http_date
from tests.faults._backends import (  # noqa: F401 - fixtures
    RawOrigin,
    RawRequest,
    Store,
    raw_origin,
    store,
)

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC).timestamp()
DAY = 86_400.0
TEN_YEARS = 3653 * DAY

#: Header lines of a response, computed from the clock when the response is sent.
HeadersAt = Callable[[float], list[tuple[str, str]]]


def counting(headers_at: HeadersAt) -> Callable[[RawRequest, socket.socket], None]:
    """A responder whose body counts the requests it answered: body 1, body 2..."""
    count = [0]

    def respond(_seen: RawRequest, conn: socket.socket) -> None:
        count[0] += 1
        body = f"body {count[0]}".encode()
        lines = ["HTTP/1.1 200 OK", *(f"{k}: {v}" for k, v in headers_at(time.time()))]
        lines += [f"Content-Length: {len(body)}", "Connection: close"]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    return respond


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def test_clock_jumps(
    raw_origin: RawOrigin,  # noqa: F811
    store: Store,  # noqa: F811
    clock: time_machine.Traveller,
) -> None:
    hour = raw_origin.route(
        "/hour", counting(lambda now: [("Cache-Control", "max-age=3600"), ("Date", _date(now))])
    )
    session = store.session()
    assert session.get(hour).text == "body 1"
    clock.move_to(T0 + 1800)
    assert _hit(session.get(hour)) == "body 1"  # age 1800 of 3600

    # A day back: the entry arrived "in the future"; its age is unknown, so it is
    # stale (had the age been reset to 0, it would be fresher than a moment ago).
    clock.move_to(T0 - DAY)
    assert _miss(session.get(hour)) == "body 2"
    assert _hit(session.get(hour)) == "body 2"  # stored anew at this clock

    # The clock comes back (a day forward): body 2 is a day old, stale.
    clock.move_to(T0 + 1800)
    assert _miss(session.get(hour)) == "body 3"
    clock.move_to(T0 + 1800 + 3599)
    assert _hit(session.get(hour)) == "body 3"

    # A stale entry stays stale when the clock goes back a day (a clock counting the
    # step back as "no time passed" would serve it as fresh again).
    clock.move_to(T0 + 1800 + 3601)
    stale_now = session.get(hour, only_if_cached=True)  # look without refetching
    assert stale_now.from_cache and stale_now.cache_status.value == "stale"
    clock.move_to(T0 + 1800 + 3601 - DAY)
    assert _miss(session.get(hour)) == "body 4"

    # Ten years on: an hour's lifetime is long gone; a lifetime of 12.7 years is not.
    long = raw_origin.route("/long", counting(lambda now: [("Cache-Control", "max-age=400000000")]))
    clock.move_to(T0)
    assert session.get(long).text == "body 1"
    clock.move_to(T0 + TEN_YEARS)
    assert _miss(session.get(hour)) == "body 5"
    assert _hit(session.get(long)) == "body 1"
    clock.move_to(T0 + 400_000_001)
    assert _miss(session.get(long)) == "body 2"


@pytest.mark.xfail(
    strict=True,
    reason="Decisions are pure functions of (stored entry, now): with no memory of the "
    "latest 'now' seen, a clock stepped back to a moment still after the entry arrived "
    "cannot be told from less time having passed, so the entry gets the younger age the "
    "clock gives it (RFC 9111 §4.2.3). Steps back to before its arrival are caught.",
)
def test_a_small_step_back_after_arrival_makes_a_stale_entry_fresh_again(
    raw_origin: RawOrigin,  # noqa: F811
    clock: time_machine.Traveller,
) -> None:
    from httpcache import CachedSession

    url = raw_origin.route("/small", counting(lambda now: [("Cache-Control", "max-age=60")]))
    session = CachedSession(backend="memory")
    session.get(url)
    clock.move_to(T0 + 61)
    assert session.get(url, only_if_cached=True).cache_status.value == "stale"
    clock.move_to(T0 + 30)  # 31 s back: still after the arrival at T0
    assert not session.get(url).from_cache


def _date(now: float, shift: float = 0.0) -> str:
    return format_http_date(now + shift)


def _hit(response: object) -> str:
    assert response.from_cache, f"expected a hit, got {response.cache_status}"  # type: ignore[attr-defined]
    return response.text  # type: ignore[attr-defined]


def _miss(response: object) -> str:
    assert not response.from_cache, "expected the origin, got a stored response"  # type: ignore[attr-defined]
    return response.text  # type: ignore[attr-defined]


#: (response header lines at send time, [(seconds after T0, served from cache?)]).
#: After the first request at T0, each check is a request at T0 + seconds; the last
#: check is the first that goes to the origin, so earlier ones see the first entry.
DATE_CASES: dict[str, tuple[HeadersAt, list[tuple[float, bool]]]] = {
    # §4.2.3: apparent_age = max(0, response_time - date_value): a Date ahead of the
    # clock gives age 0, it does not add to the lifetime.
    "Date a day ahead, max-age": (
        lambda now: [("Date", _date(now, DAY)), ("Cache-Control", "max-age=60")],
        [(59, True), (61, False)],
    ),
    # §4.2.1: Expires - Date, both of the origin's clock.
    "Date a day ahead, Expires": (
        lambda now: [("Date", _date(now, DAY)), ("Expires", _date(now, DAY + 60))],
        [(59, True), (61, False)],
    ),
    # §4.2.3: a Date behind the clock makes the response older on arrival.
    "Date 30s behind, max-age": (
        lambda now: [("Date", _date(now, -30)), ("Cache-Control", "max-age=60")],
        [(29, True), (31, False)],
    ),
    # RFC 9110 §6.6.1: no Date; the time of arrival stands in for it.
    "no Date, max-age": (lambda now: [("Cache-Control", "max-age=60")], [(59, True), (61, False)]),
    "no Date, Expires": (lambda now: [("Expires", _date(now, 120))], [(119, True), (121, False)]),
    # §5.3: an invalid Expires, "0" above all, means already expired ...
    "Expires: 0": (lambda now: [("Date", _date(now)), ("Expires", "0")], [(0, False)]),
    "Expires: -1": (lambda now: [("Date", _date(now)), ("Expires", "-1")], [(0, False)]),
    "Expires empty": (lambda now: [("Date", _date(now)), ("Expires", "")], [(0, False)]),
    "Expires garbage": (
        lambda now: [("Date", _date(now)), ("Expires", "next tuesday-ish")],
        [(0, False)],
    ),
    "Expires in the past": (
        lambda now: [("Date", _date(now)), ("Expires", _date(now, -DAY))],
        [(0, False)],
    ),
    # ... and max-age wins over any Expires (§5.3).
    "Expires: 0 with max-age": (
        lambda now: [("Expires", "0"), ("Cache-Control", "max-age=60")],
        [(59, True), (61, False)],
    ),
    # §5.1 / §4.2.3: Age counts against the lifetime ...
    "Age 50 of max-age 60": (
        lambda now: [("Date", _date(now)), ("Age", "50"), ("Cache-Control", "max-age=60")],
        [(9, True), (11, False)],
    ),
    "Age beyond max-age": (
        lambda now: [("Date", _date(now)), ("Age", "100"), ("Cache-Control", "max-age=60")],
        [(0, False)],
    ),
    # ... an invalid Age is ignored ...
    "Age garbage": (
        lambda now: [("Date", _date(now)), ("Age", "soon"), ("Cache-Control", "max-age=60")],
        [(59, True), (61, False)],
    ),
    # ... and corrected_initial_age takes the larger of Age and the Date gap.
    "Age 10, Date 40s behind": (
        lambda now: [("Date", _date(now, -40)), ("Age", "10"), ("Cache-Control", "max-age=60")],
        [(19, True), (21, False)],
    ),
}


@pytest.mark.parametrize("case", list(DATE_CASES))
def test_freshness_follows_the_dates(
    raw_origin: RawOrigin,  # noqa: F811
    store: Store,  # noqa: F811
    clock: time_machine.Traveller,
    case: str,
) -> None:
    headers_at, checks = DATE_CASES[case]
    url = raw_origin.route("/dated", counting(headers_at))
    session = store.session()
    assert session.get(url).text == "body 1"
    for seconds, hit in checks:
        clock.move_to(T0 + seconds)
        response = session.get(url)
        assert response.from_cache == hit, (seconds, response.cache_status)
        assert response.text == ("body 1" if hit else "body 2")
    assert raw_origin.hits("/dated") == 2


@pytest.mark.parametrize("backend_clock", ["behind", "ahead"])
def test_another_process_with_a_skewed_clock(
    raw_origin: RawOrigin,  # noqa: F811
    store: Store,  # noqa: F811
    backend_clock: str,
) -> None:
    """Two sessions on one store whose clocks differ by a minute (two machines on one
    Redis, or a clock stepped between two runs): the one behind never finds an entry
    fresher than the one that stored it did."""
    url = raw_origin.route("/skew", counting(lambda now: [("Cache-Control", "max-age=600")]))
    writer_at, reader_at = (T0, T0 - 60) if backend_clock == "behind" else (T0, T0 + 60)
    with time_machine.travel(writer_at, tick=False):
        assert store.session().get(url).text == "body 1"
    with time_machine.travel(reader_at, tick=False):
        got = store.session().get(url)
    if backend_clock == "behind":
        assert _miss(got) == "body 2"  # the entry's age cannot be known: not served
    else:
        assert _hit(got) == "body 1"  # 60 s of 600: fresh
