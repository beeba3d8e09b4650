"""Stored parts, 206 (RFC 9111 §3.3, §3.4; RFC 9110 §14, §15.3.7): the pure policy,
with a fixed ``now``."""

from __future__ import annotations

import pytest

from httpcache.models import Entry, Headers, Response
from httpcache.policy.actions import DoNotStore, Forward, GatewayTimeout, Store, UseStored
from httpcache.policy.controller import Exchange, Settings, decide, head_updates, on_response
from httpcache.policy.directives import format_http_date
from httpcache.policy.expiration import resolve
from httpcache.policy.partials import (
    Span,
    completion_of,
    content_range,
    joinable,
    joined,
    partial_key,
    refusal,
    served_part,
)
from httpcache.policy.ranges import ByteRange
from tests.unit.test_controller import NOW, URL, request, stored

DEFAULT = Settings()
FRESH = {"Cache-Control": "max-age=3600"}


def part(content_range: str, *, etag: str | None = '"v1"') -> Entry:
    headers = {**FRESH, "Content-Range": content_range}
    if etag:
        headers["ETag"] = etag
    return stored(headers, status=206)


def head(status: int, headers: dict[str, str]) -> Response:
    return Response(status, Headers({"Date": format_http_date(NOW), **headers}), "", URL)


# ---- what a 206 says -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "span"),
    [
        ("bytes 0-4/10", Span(0, 4, 10)),
        ("bytes 5-9/10", Span(5, 9, 10)),
        ("BYTES 1-1/2", Span(1, 1, 2)),
        ("bytes 1 - 1 / 2", None),  # RFC 9110 §14.4 has no room for spaces
        ("bytes 0-4/*", None),  # the complete length unknown: not kept
        ("bytes 4-2/10", None),
        ("bytes 5-10/10", None),  # past the complete length
        ("bytes */10", None),
        ("items 0-4/10", None),
    ],
)
def test_content_range_rfc9110_14_4(value: str, span: Span | None) -> None:
    assert content_range(Headers({"Content-Range": value})) == span


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no Content-Range: several ranges (multipart/byteranges) or none
        {"Content-Range": "bytes 4-9/10", "Content-Length": "5"},  # 6 bytes said, 5 sent
        {"Content-Range": "bytes 0-4/10", "Content-Encoding": "gzip"},
    ],
)
def test_a_206_that_does_not_say_which_bytes_it_holds_is_not_kept(
    headers: dict[str, str],
) -> None:
    assert refusal(head(206, headers)) is not None
    exchange = Exchange(request(Range="bytes=0-4"), head(206, {**FRESH, **headers}), NOW, NOW)
    decision = on_response(exchange, primary_key="k", stored_request=request(), settings=DEFAULT)
    assert isinstance(decision.outcome, DoNotStore)


def test_two_content_range_lines_are_not_one_range() -> None:
    lines = [("Content-Range", "bytes 0-4/10"), ("Content-Range", "bytes 5-9/10")]
    assert refusal(Response(206, Headers(lines))) is not None


# ---- storing a part (§3.3) -----------------------------------------------------------


def _store_206(settings: Settings = DEFAULT, method: str = "GET") -> object:
    fields = {**FRESH, "Content-Range": "bytes 0-4/10", "Content-Length": "5", "ETag": '"v1"'}
    exchange = Exchange(request(method, Range="bytes=0-4"), head(206, fields), NOW, NOW)
    return on_response(
        exchange, primary_key="k", stored_request=request(method), settings=settings
    ).outcome


def test_a_206_is_kept_apart_from_the_complete_response() -> None:
    outcome = _store_206()
    assert isinstance(outcome, Store)
    assert outcome.entry.key == partial_key("k") != "k"  # never where the 200 goes
    assert outcome.entry.primary_key == "k" and outcome.entry.status == 206


def test_a_206_with_every_byte_is_kept_as_the_complete_200() -> None:
    fields = {**FRESH, "Content-Range": "bytes 0-9/10", "Content-Length": "10", "ETag": '"v1"'}
    exchange = Exchange(request(Range="bytes=0-"), head(206, fields), NOW, NOW)
    outcome = on_response(
        exchange, primary_key="k", stored_request=request(), settings=DEFAULT
    ).outcome
    assert isinstance(outcome, Store) and outcome.entry.key == "k"
    kept = outcome.entry.response
    assert kept.status == 200 and "Content-Range" not in kept.headers
    assert kept.headers["Content-Length"] == "10"


def test_a_part_is_kept_where_its_200_would_be() -> None:
    # allowable_codes=(200,) and expire_after are the caller's words for the 200 and so
    # for its parts; a 206 to anything but a GET is not kept.
    only_200 = Settings(allowable_codes=frozenset({200}), expiration=resolve(60))
    outcome = _store_206(only_200)
    assert isinstance(outcome, Store) and outcome.entry.expires == pytest.approx(NOW + 60)
    assert isinstance(_store_206(Settings(allowable_codes=frozenset({404}))), DoNotStore)
    head_part = _store_206(Settings(cacheable_methods=frozenset({"GET", "HEAD"})), "HEAD")
    assert isinstance(head_part, DoNotStore)


# ---- serving from a part -------------------------------------------------------------------


def test_a_part_is_never_the_answer_to_a_plain_get() -> None:
    action = decide(request(), [part("bytes 0-4/10")], NOW, DEFAULT)
    assert isinstance(action, Forward)  # it asks the origin: never UseStored(part)
    assert action.completes is not None
    assert dict(action.completes.headers) == {"Range": "bytes=5-", "If-Range": '"v1"'}


@pytest.mark.parametrize(
    ("stored_range", "wanted"),
    [
        ("bytes 4-9/10", "bytes=6-8"),
        ("bytes 4-9/10", "bytes=6-"),
        ("bytes 4-9/10", "bytes=-1"),
        ("bytes 4-9/10", "bytes=-6"),
        ("bytes 0-4/10", "bytes=0-4"),
    ],
)
def test_a_range_wholly_within_a_fresh_part_is_served_from_it(
    stored_range: str, wanted: str
) -> None:
    entry = part(stored_range)
    action = decide(request(Range=wanted), [entry], NOW, DEFAULT)
    assert isinstance(action, UseStored) and action.entry is entry
    assert action.byte_range is not None


@pytest.mark.parametrize("wanted", ["bytes=0-6", "bytes=3-", "bytes=-7", "bytes=10-"])
def test_a_range_beyond_the_part_goes_to_the_origin_as_asked(wanted: str) -> None:
    entry = part("bytes 4-9/10")
    action = decide(request(Range=wanted), [entry], NOW, DEFAULT)
    assert isinstance(action, Forward) and action.may_store
    # Sent as the caller made it; a 206 in answer may join the part (§3.4).
    assert action.completes is not None and action.completes.headers == ()
    assert action.completes.part is entry


def test_a_stale_part_is_not_used() -> None:
    stale = stored(
        {"Cache-Control": "max-age=5", "Content-Range": "bytes 0-4/10", "ETag": '"v1"'},
        status=206,
        received=NOW - 100,
    )
    ranged = decide(request(Range="bytes=0-1"), [stale], NOW, DEFAULT)
    assert isinstance(ranged, Forward) and ranged.completes is None
    plain = decide(request(), [stale], NOW, DEFAULT)
    assert isinstance(plain, Forward) and plain.completes is None


def test_the_complete_response_comes_first() -> None:
    whole = stored(FRESH)
    action = decide(request(), [part("bytes 0-4/10"), whole], NOW, DEFAULT)
    assert isinstance(action, UseStored) and action.entry is whole
    ranged = decide(request(Range="bytes=0-1"), [whole, part("bytes 0-4/10")], NOW, DEFAULT)
    assert isinstance(ranged, UseStored) and ranged.entry is whole


def test_request_directives_and_if_range_apply_to_a_part() -> None:
    entry = part("bytes 0-4/10")
    no_cache = decide(request(Range="bytes=0-1", Cache_Control="no-cache"), [entry], NOW, DEFAULT)
    assert isinstance(no_cache, Forward)
    other = decide(request(Range="bytes=0-1", If_Range='"v0"'), [entry], NOW, DEFAULT)
    assert isinstance(other, Forward)
    same = decide(request(Range="bytes=0-1", If_Range='"v1"'), [entry], NOW, DEFAULT)
    assert isinstance(same, UseStored)
    offline = decide(request(Range="bytes=0-1"), [entry], NOW, Settings(only_if_cached=True))
    assert isinstance(offline, UseStored)
    assert isinstance(
        decide(request(), [entry], NOW, Settings(only_if_cached=True)), GatewayTimeout
    )


def test_the_callers_own_conditional_is_not_turned_into_a_range() -> None:
    action = decide(request(If_None_Match='"v0"'), [part("bytes 0-4/10")], NOW, DEFAULT)
    assert isinstance(action, Forward) and action.completes is None


@pytest.mark.parametrize(
    ("stored_range", "etag", "headers"),
    [
        ("bytes 0-4/10", '"v1"', {"Range": "bytes=5-", "If-Range": '"v1"'}),
        ("bytes 6-9/10", '"v1"', {"Range": "bytes=0-5", "If-Range": '"v1"'}),
        ("bytes 0-4/10", None, {"Range": "bytes=5-"}),  # a 206 for the rest has to say more
        ("bytes 2-4/10", '"v1"', None),  # two pieces missing: the whole, as asked
        ("bytes 0-4/10", 'W/"v1"', None),  # a weak validator never joins parts
    ],
)
def test_what_is_asked_for_the_rest(
    stored_range: str, etag: str | None, headers: dict[str, str] | None
) -> None:
    completion = completion_of(part(stored_range, etag=etag))
    assert (None if completion is None else dict(completion.headers)) == headers


# ---- the bytes -------------------------------------------------------------------------


def test_the_bytes_of_a_part() -> None:
    stored_head = head(206, {"Content-Range": "bytes 4-9/10", "Content-Length": "6", "A": "1"})
    served = served_part(stored_head, b"456789", ByteRange(6, 8))
    assert served is not None
    answer, body = served
    assert (answer.status, body) == (206, b"678")
    assert answer.headers["Content-Range"] == "bytes 6-8/10"
    assert answer.headers["Content-Length"] == "3" and answer.headers["A"] == "1"
    assert served_part(stored_head, b"456789", ByteRange(None, 2))[1] == b"89"  # type: ignore[index]
    assert served_part(stored_head, b"45678", ByteRange(6, 8)) is None  # the body is not its span
    assert served_part(stored_head, b"456789", ByteRange(3, 8)) is None


def test_parts_join_only_with_the_same_strong_validator() -> None:
    first = head(206, {"Content-Range": "bytes 0-4/10", "ETag": '"v1"', "A": "old"})
    rest = head(206, {"Content-Range": "bytes 5-9/10", "ETag": '"v1"', "A": "new"})
    assert joinable(first, rest)
    assert not joinable(first, head(206, {"Content-Range": "bytes 5-9/10", "ETag": '"v2"'}))
    assert not joinable(first, head(206, {"Content-Range": "bytes 5-9/10"}))
    weak = {"Content-Range": "bytes 0-4/10", "ETag": 'W/"v1"'}
    assert not joinable(head(206, weak), head(206, {**weak, "Content-Range": "bytes 5-9/10"}))
    assert not joinable(first, head(206, {"Content-Range": "bytes 5-10/11", "ETag": '"v1"'}))
    made = joined(first, b"01234", rest, b"56789")
    assert made is not None
    complete, body = made
    assert (complete.status, body) == (200, b"0123456789")
    # RFC 9110 §15.3.7.3: the newer fields, without Content-Range, with the whole length.
    assert complete.headers["A"] == "new" and "Content-Range" not in complete.headers
    assert complete.headers["Content-Length"] == "10"
    # Either order, overlapping too; a gap joins nothing.
    assert joined(rest, b"56789", first, b"01234") is not None
    overlap = head(206, {"Content-Range": "bytes 3-9/10", "ETag": '"v1"'})
    assert joined(first, b"01234", overlap, b"3456789")[1] == b"0123456789"  # type: ignore[index]
    gap = head(206, {"Content-Range": "bytes 6-9/10", "ETag": '"v1"'})
    assert joined(first, b"01234", gap, b"6789") is None
    # Two parts that still miss bytes make one larger part.
    middle = head(206, {"Content-Range": "bytes 3-6/10", "ETag": '"v1"', "A": "new"})
    larger = joined(first, b"01234", middle, b"3456")
    assert larger is not None
    assert (larger[0].status, larger[1]) == (206, b"0123456")
    assert larger[0].headers["Content-Range"] == "bytes 0-6/10"
    assert larger[0].headers["Content-Length"] == "7" and larger[0].headers["A"] == "new"
    assert joined(first, b"0123", rest, b"56789") is None  # a body that is not its span


def test_a_head_that_agrees_keeps_a_part() -> None:
    entry = part("bytes 0-4/10")
    fields = {"ETag": '"v1"', "Content-Length": "10", "Cache-Control": "max-age=60"}
    exchange = Exchange(request("HEAD"), head(200, fields), NOW, NOW)
    updates, removed = head_updates(exchange, [entry], DEFAULT)
    assert removed == () and len(updates) == 1
    updated = updates[0].entry.response
    assert updated.status == 206 and updated.headers["Content-Range"] == "bytes 0-4/10"
