"""Byte ranges from a stored complete response (RFC 9110 §14): parsing and serving."""

from __future__ import annotations

import pytest

from httpcache.models import Headers, Response
from httpcache.policy.directives import format_http_date
from httpcache.policy.ranges import ByteRange, byte_range_of, if_range_holds, parse_range
from tests.unit.test_controller import NOW, stored

BODY = b"0123456789A"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-1", ByteRange(0, 1)),
        ("bytes=1-", ByteRange(1, None)),
        ("bytes=-1", ByteRange(None, 1)),
        ("BYTES = 2 - 3", ByteRange(2, 3)),
        (" bytes=5-5 ", ByteRange(5, 5)),
    ],
)
def test_one_byte_range_rfc9110_14_1_2(value: str, expected: ByteRange) -> None:
    assert parse_range(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "bytes=0-1,4-5",  # several ranges: left to the origin
        "items=0-1",
        "bytes=",
        "bytes=-",
        "bytes=3-1",  # backwards: invalid
        "bytes=a-b",
        "bytes=0-1;x",
        "0-1",
        "bytes=" + "9" * 40 + "-",
    ],
)
def test_anything_else_is_not_a_range_served_here(value: str) -> None:
    assert parse_range(value) is None


@pytest.mark.parametrize(
    ("wanted", "status", "content", "content_range"),
    [
        (ByteRange(0, 1), 206, b"01", "bytes 0-1/11"),
        (ByteRange(1, None), 206, b"123456789A", "bytes 1-10/11"),
        (ByteRange(None, 1), 206, b"A", "bytes 10-10/11"),
        (ByteRange(None, 50), 206, BODY, "bytes 0-10/11"),  # a suffix longer than the body
        (ByteRange(5, 500), 206, b"56789A", "bytes 5-10/11"),  # a last past the end
        (ByteRange(11, None), 416, b"", "bytes */11"),  # starts past the end
        (ByteRange(None, 0), 416, b"", "bytes */11"),
    ],
)
def test_a_range_of_a_stored_body(
    wanted: ByteRange, status: int, content: bytes, content_range: str
) -> None:
    head = Response(200, Headers({"Content-Type": "text/plain", "ETag": '"e"', "A": "1"}), "OK")
    served, body = byte_range_of(head, BODY, wanted)
    assert (served.status, body) == (status, content)
    assert served.headers["Content-Range"] == content_range
    assert served.headers["Content-Length"] == str(len(content))
    assert served.headers["ETag"] == '"e"'
    if status == 206:
        assert served.headers["A"] == "1"  # the stored fields go with it


def test_if_range_rfc9110_13_1_5() -> None:
    modified = format_http_date(NOW - 100)
    entry = stored({"ETag": '"strong"', "Last-Modified": modified})
    assert if_range_holds('"strong"', entry)
    assert not if_range_holds('"other"', entry)
    assert not if_range_holds('W/"strong"', entry)  # a weak tag never holds
    assert if_range_holds(modified, entry)
    assert not if_range_holds(format_http_date(NOW - 99), entry)
    weak = stored({"ETag": 'W/"weak"'})
    assert not if_range_holds('W/"weak"', weak)
