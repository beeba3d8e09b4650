"""Case 11: fuzzing. Any header values, any order of events: the parsers and the
controller never raise, and the invariants hold:

- a response carrying ``no-store`` (or asked for with ``no-store``) is never stored,
  so never served (RFC 9111 §5.2.1.5, §5.2.2.5);
- a stored response is served as a hit only while fresh (§4.2), and stale only with
  an allowance: the request's max-stale, stale-while-revalidate, or only-if-cached
  (§4.2.4, RFC 5861), never against must-revalidate or no-cache;
- an entry is never served fresh at a clock reading before it arrived.

The controller is driven by a small in-memory driver that does what the adapter does
with each action (store, freshen, invalidate), with time jumping back and forth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from httpcache.heuristics import LastModified
from httpcache.keys import create_key, redact_request
from httpcache.models import Entry, Headers, Request, Response
from httpcache.policy import controller
from httpcache.policy.actions import (
    CacheStatus,
    DoNotStore,
    Forward,
    Freshen,
    GatewayTimeout,
    Invalidate,
    Revalidate,
    Store,
    UseStored,
)
from httpcache.policy.controller import Exchange, Settings, freshness_of
from httpcache.policy.directives import (
    CacheDirectives,
    format_http_date,
    parse_age,
    parse_cache_control,
    parse_etag,
    parse_http_date,
    parse_vary,
    pragma_no_cache,
)
from httpcache.policy.freshness import current_age, header_lifetime, initial_age

FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
T0 = 1_780_000_000.0

# ---- header values -------------------------------------------------------------------

any_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
latin1_text = st.text(st.characters(codec="latin-1"), max_size=60)
numbers = st.one_of(
    st.integers(0, 100_000).map(str),
    st.sampled_from(["-1", "0", "2147483648", "99999999999999999999", "1e3", " 5 ", ""]),
)
directive_names = st.sampled_from(
    [
        "max-age",
        "s-maxage",
        "max-stale",
        "min-fresh",
        "stale-while-revalidate",
        "stale-if-error",
        "no-cache",
        "no-store",
        "must-revalidate",
        "proxy-revalidate",
        "private",
        "public",
        "immutable",
        "only-if-cached",
        "no-transform",
        "MAX-AGE",
        "x-unknown",
    ]
)
directive = st.one_of(
    directive_names,
    st.builds(lambda n, v: f"{n}={v}", directive_names, numbers),
    st.builds(lambda n, v: f'{n}="{v}"', directive_names, numbers),
    latin1_text,
)
cache_control = st.lists(directive, max_size=5).map(", ".join)


def http_date(offset: float) -> str:
    return format_http_date(max(0.0, T0 + offset))


dates = st.one_of(
    st.integers(-400_000_000, 400_000_000).map(http_date),
    st.sampled_from(["0", "-1", "", "garbage", "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday"]),
    st.sampled_from(["Mon, 32 Nov 2026 10:00:00 GMT", "Thu, 01 Jan 1970 00:00:00 GMT"]),
    latin1_text,
)
etags = st.one_of(st.sampled_from(['"a"', 'W/"a"', '"b"', "a", '"', "*"]), latin1_text)
varies = st.one_of(st.sampled_from(["Accept", "*", "accept, ACCEPT", "Accept-Language"]), any_text)


@st.composite
def response_fields(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Header lines a response may carry, in any order, some repeated."""
    fields: list[tuple[str, str]] = []
    for name, values in (
        ("Cache-Control", cache_control),
        ("Expires", dates),
        ("Date", dates),
        ("Last-Modified", dates),
        ("Age", numbers),
        ("ETag", etags),
        ("Vary", varies),
        ("Pragma", st.sampled_from(["no-cache", "x"])),
    ):
        for _ in range(draw(st.integers(0, 2))):
            fields.append((name, draw(values)))
    return draw(st.permutations(fields))


@given(fields=response_fields(), status=st.sampled_from([200, 203, 204, 301, 404, 500]))
@FUZZ
def test_header_parsers_and_lifetime_never_raise(
    fields: list[tuple[str, str]], status: int
) -> None:
    headers = Headers(fields)
    cc = parse_cache_control(headers.get_all("cache-control"))
    assert cc.max_age is None or 0 <= cc.max_age <= 2**31
    for value in headers.get_all("date") + headers.get_all("expires"):
        date = parse_http_date(value)
        assert date is None or math.isfinite(date)
    age = parse_age(headers)
    assert age is None or 0 <= age <= 2**31
    assert isinstance(parse_vary(headers), tuple)
    etag = parse_etag(headers)
    assert etag is None or etag.endswith('"')
    assert isinstance(pragma_no_cache(headers), bool)
    response = Response(status, headers, "OK", "http://origin.test/r")
    for shared in (False, True):
        lifetime = header_lifetime(response, T0, shared)
        assert lifetime is None or (lifetime >= 0 and math.isfinite(lifetime))
    entry = _entry(response, T0 - 1, T0)
    assert 0 <= initial_age(entry) < math.inf
    assert current_age(entry, T0 + 10) >= initial_age(entry)
    assert current_age(entry, T0 - 10) == math.inf  # the clock behind the arrival


def _entry(response: Response, request_time: float, response_time: float) -> Entry:
    return Entry(
        "k", "k", Request("GET", response.url), response, request_time, response_time, 0, None
    )


# ---- the controller, driven through any sequence of events ---------------------------------


@dataclass
class Reply:
    status: int
    fields: list[tuple[str, str]]


@dataclass
class Ask:
    method: str
    request_fields: list[tuple[str, str]]
    only_if_cached: bool
    reply: Reply


@dataclass
class Jump:
    seconds: float


jumps = st.one_of(
    st.floats(0, 120),
    st.floats(-120, 0),
    st.sampled_from([86_400.0, -86_400.0, 3653 * 86_400.0, 0.0]),
).map(Jump)
request_fields = st.lists(
    st.one_of(
        st.tuples(st.just("Cache-Control"), cache_control),
        st.tuples(st.just("Pragma"), st.sampled_from(["no-cache", "x"])),
        st.tuples(st.just("Accept"), st.sampled_from(["a", "b", "a, b"])),
    ),
    max_size=3,
)
#: Mostly storable replies (so that later requests meet stored entries), plus any.
storable_fields = st.builds(
    lambda age, extra: [("Cache-Control", f"max-age={age}"), *extra],
    st.integers(0, 300),
    st.lists(
        st.sampled_from(
            [
                ("ETag", '"a"'),
                ("Cache-Control", "stale-while-revalidate=60"),
                ("Cache-Control", "must-revalidate"),
                ("Cache-Control", "no-store"),
                ("Cache-Control", "no-cache"),
                ("Cache-Control", "stale-if-error=600"),
                ("Vary", "Accept"),
                ("Age", "30"),
                ("Date", http_date(-60)),
            ]
        ),
        max_size=3,
    ),
)
asks = st.builds(
    Ask,
    method=st.sampled_from(["GET", "GET", "GET", "HEAD", "POST"]),
    request_fields=request_fields,
    only_if_cached=st.booleans(),
    reply=st.builds(
        Reply,
        st.sampled_from([200, 200, 203, 304, 404, 500]),
        st.one_of(storable_fields, storable_fields, response_fields()),
    ),
)
policies = st.builds(
    Settings,
    shared=st.booleans(),
    heuristic=st.sampled_from([None, LastModified()]),
    cache_etags=st.booleans(),
    stale_if_error=st.sampled_from([0.0, 60.0, math.inf]),
    stale_while_revalidate=st.sampled_from([0.0, 30.0]),
    sensitive_headers=st.just(frozenset({"authorization"})),
)


@dataclass
class Driver:
    """What the adapter does with the controller's actions, over a dict."""

    settings: Settings
    now: float = T0
    store: dict[str, Entry] = field(default_factory=dict)
    served: int = 0

    def ask(self, ask: Ask) -> None:
        request = Request(ask.method, "http://origin.test/r", Headers(ask.request_fields))
        key = create_key(request)
        options = _with(self.settings, only_if_cached=ask.only_if_cached)
        entries = [e for e in self.store.values() if e.primary_key == key]
        action = controller.decide(request, entries, self.now, options)
        if isinstance(action, UseStored):
            self.check_served(request, action, options)
            return
        if isinstance(action, GatewayTimeout):
            assert ask.only_if_cached or _request_cc(request).only_if_cached
            return
        assert isinstance(action, Forward | Revalidate)
        response = Response(ask.reply.status, Headers(ask.reply.fields), "", request.url)
        if isinstance(action, Forward) and response.status == 304:
            response = Response(200, response.headers, "", request.url)  # no 304 unasked
        exchange = Exchange(request, response, self.now, self.now)
        decision = controller.on_response(
            exchange,
            primary_key=key,
            stored_request=redact_request(request, ()),
            settings=options,
            may_store=action.may_store,
            revalidated=action.entry if isinstance(action, Revalidate) else None,
        )
        for step in decision.actions:
            if isinstance(step, Store):
                assert not _request_cc(request).no_store  # §5.2.1.5
                assert "no-store" not in _members(request.headers)
                assert not _says_no_store(step.entry.response)  # §5.2.2.5
                assert step.entry.response_time == self.now
                self.store[step.entry.key] = step.entry
            elif isinstance(step, Freshen):
                assert isinstance(action, Revalidate) and response.status == 304
                if step.entry.key in self.store:
                    self.store[step.entry.key] = step.entry
            elif isinstance(step, Invalidate):
                self.store = {k: e for k, e in self.store.items() if e.url not in step.urls}
            else:
                assert isinstance(step, DoNotStore)

    def check_served(self, request: Request, action: UseStored, options: Settings) -> None:
        self.served += 1
        entry = action.entry
        assert entry.key in self.store and not _says_no_store(entry.response)
        freshness = freshness_of(entry, self.now, options)
        if action.status is CacheStatus.HIT:
            assert freshness.is_fresh, (freshness, action.reason)
            assert self.now >= entry.response_time  # never fresh before it arrived
            return
        assert action.status is CacheStatus.STALE
        response_cc = parse_cache_control(entry.response.headers.get_all("cache-control"))
        assert not response_cc.must_revalidate
        assert not (response_cc.no_cache and not response_cc.no_cache_fields)
        request_cc = _request_cc(request)
        swr = (
            response_cc.stale_while_revalidate
            if response_cc.stale_while_revalidate is not None
            else options.stale_while_revalidate
        )
        allowed = (
            options.only_if_cached
            or request_cc.only_if_cached
            or (request_cc.max_stale is not None and freshness.staleness <= request_cc.max_stale)
            or (action.revalidate_in_background and freshness.staleness <= (swr or 0))
        )
        assert allowed, (freshness, action.reason)


def _with(policy: Settings, **changes: object) -> Settings:
    from dataclasses import replace

    return replace(policy, **changes)


def _request_cc(request: Request) -> CacheDirectives:
    return parse_cache_control(request.headers.get_all("cache-control"))


def _members(headers: Headers) -> set[str]:
    return {m.strip().lower() for v in headers.get_all("cache-control") for m in v.split(",")}


def _says_no_store(response: Response) -> bool:
    return parse_cache_control(response.headers.get_all("cache-control")).no_store


@given(policy=policies, events=st.lists(st.one_of(asks, jumps), min_size=4, max_size=30))
@FUZZ
def test_controller_invariants_over_any_sequence_of_events(
    policy: Settings, events: list[Ask | Jump]
) -> None:
    driver = Driver(policy)
    for event in events:
        if isinstance(event, Jump):
            driver.now += event.seconds
        else:
            driver.ask(event)


@given(fields=response_fields(), back=st.floats(0.001, 10 * 365 * 86_400.0))
@FUZZ
def test_a_clock_behind_the_arrival_never_serves_a_hit(
    fields: list[tuple[str, str]], back: float
) -> None:
    driver = Driver(Settings())
    ask = Ask("GET", [], False, Reply(200, fields))
    driver.ask(ask)  # stored if storable
    driver.now = T0 - back
    for entry in driver.store.values():
        action = controller.decide(Request("GET", entry.url), [entry], driver.now, Settings())
        assert not (isinstance(action, UseStored) and action.status is CacheStatus.HIT)


def test_the_driver_serves_and_checks_hits() -> None:
    """The driver above does reach the served-from-cache checks (or the fuzzing
    would prove nothing about them)."""
    driver = Driver(Settings(stale_while_revalidate=30.0))
    ask = Ask("GET", [], False, Reply(200, [("Cache-Control", "max-age=60")]))
    driver.ask(ask)
    driver.now += 59
    driver.ask(ask)
    driver.now += 20  # stale by 19 s: within stale-while-revalidate
    driver.ask(ask)
    assert driver.served == 2
    driver.now = T0 - 1  # before its arrival: not served
    driver.ask(ask)
    assert driver.served == 2
