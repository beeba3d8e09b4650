"""Entries to bytes and back: msgpack in a versioned envelope; damage is a miss, never a crash."""

from __future__ import annotations

import json
import os
import pickle
import zlib
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from httpcache.errors import DeserializationError, StorageError
from httpcache.models import Entry, Headers, Request, Response
from httpcache.serialize import FORMAT_VERSION, MAGIC, MAX_HEAD_BYTES, dumps_entry, loads_entry


def make_entry(**changes: Any) -> Entry:
    entry = Entry(
        key="variant-key",
        primary_key="primary-key",
        request=Request(
            "GET",
            "https://api.test/v1/items?a=1",
            Headers([("Accept", "application/json"), ("Authorization", "REDACTED")]),
            None,
        ),
        response=Response(
            200,
            Headers(
                [
                    ("Content-Type", "application/json"),
                    ("Link", "</a>; rel=next"),
                    ("Link", "</b>; rel=prev"),
                    ("Cache-Control", "max-age=60"),
                    ("X-Latin-1", "caf\xe9 \xff"),
                    ("X-Unicode", "\u65e5\u672c \U0001f600"),
                ]
            ),
            "OK",
            "https://api.test/v1/items?a=1",
            11,
        ),
        request_time=1_750_000_000.25,
        response_time=1_750_000_000.5,
        created_at=1_750_000_000.5,
        expires=1_750_000_060.5,
        size=1234,
        stale_until=1_750_000_120.5,
        vary=(("accept", "=application/json"), ("accept-encoding", "")),
    )
    return entry.with_changes(**changes) if changes else entry


SERIALIZED = dumps_entry(make_entry())
#: The envelope without the CRC-32 that follows it.
PACKED = SERIALIZED[:-4]


def sealed(packed: bytes) -> bytes:
    """``packed`` with its CRC-32 after it, as ``dumps_entry`` writes a head."""
    return packed + zlib.crc32(packed).to_bytes(4, "big")


def envelope(fields: Any = None, magic: Any = MAGIC, version: Any = FORMAT_VERSION) -> bytes:
    if fields is None:
        fields = msgpack.unpackb(PACKED)[2]
    return sealed(msgpack.packb([magic, version, fields], use_bin_type=True))


def fields_with(index: int, value: Any, sub: int | None = None) -> list[Any]:
    fields = msgpack.unpackb(PACKED)[2]
    if sub is None:
        fields[index] = value
    else:
        fields[index][sub] = value
    return fields


# ---- round trips ------------------------------------------------------------------------


def test_round_trip() -> None:
    entry = make_entry()
    data = dumps_entry(entry)
    assert isinstance(data, bytes)
    assert loads_entry(data) == entry


def test_expiry_from_caller_round_trips_and_older_entries_read_as_headers_only() -> None:
    entry = make_entry(expiry_from_caller=True)
    assert loads_entry(dumps_entry(entry)).expiry_from_caller is True
    older = msgpack.unpackb(PACKED)[2][:11]  # written before the flag existed
    assert loads_entry(envelope(fields=older)) == make_entry()
    with pytest.raises(DeserializationError):
        loads_entry(envelope(fields=fields_with(11, 1)))  # a flag must be a boolean


def test_round_trip_keeps_repeated_headers_apart_and_in_order() -> None:
    loaded = loads_entry(SERIALIZED)
    assert loaded.response.headers.get_all("link") == ["</a>; rel=next", "</b>; rel=prev"]
    assert loaded.response.headers.fields() == make_entry().response.headers.fields()
    assert loaded.response.headers["x-latin-1"] == "caf\xe9 \xff"
    assert loaded.response.headers["x-unicode"] == "\u65e5\u672c \U0001f600"


@pytest.mark.parametrize(
    "changes",
    [
        {"expires": None, "stale_until": None},
        {"vary": ()},
        {"request": Request("POST", "https://api.test/", Headers(), b"\x00\xff body")},
        {"request": Request("GET", "https://api.test/", Headers(), b"")},
        {"response": Response(304, Headers(), "", "", 10)},
        {"response": Response(599, Headers({"": ""}), "\u00e9", "https://\u00e9.test/", 20)},
        {"size": 2**63 - 1},
        {"size": 2**64 - 1},
        {"size": 0},
        {"request_time": 0.0, "response_time": 1e300, "created_at": -1.5},
        {"expires": 2**53 + 0.0, "stale_until": 253402300799.0},
        {"key": "", "primary_key": "k" * 10_000},
        {"response": Response(200, Headers([("X-Big", "v" * 1_000_000)]))},
    ],
)
def test_round_trip_of_edge_values(changes: dict[str, Any]) -> None:
    entry = make_entry(**changes)
    assert loads_entry(dumps_entry(entry)) == entry


def test_loads_accepts_bytearray_and_memoryview() -> None:
    assert loads_entry(bytearray(SERIALIZED)) == make_entry()
    assert loads_entry(memoryview(SERIALIZED)) == make_entry()


def test_numbers_come_back_as_floats_and_ints() -> None:
    loaded = loads_entry(dumps_entry(make_entry(request_time=5, size=7)))
    assert type(loaded.request_time) is float and loaded.request_time == 5.0
    assert type(loaded.size) is int


def test_envelope_is_versioned_msgpack_followed_by_its_crc32() -> None:
    magic, version, fields = msgpack.unpackb(PACKED)
    assert (magic, version) == (MAGIC, FORMAT_VERSION)
    assert isinstance(fields, list)
    assert sealed(PACKED) == SERIALIZED


def test_set_cookie_is_never_stored_nor_loaded() -> None:
    cookies = [("Set-Cookie", "session=s3cret; Path=/"), ("set-cookie2", "old=1")]
    fields = [*make_entry().response.headers.fields(), *cookies]
    entry = make_entry(response=Response(200, Headers(fields), "OK", "https://api.test/", 11))
    data = dumps_entry(entry)
    assert b"s3cret" not in data and b"old=1" not in data
    without = Response(200, make_entry().response.headers, "OK", "https://api.test/", 11)
    assert loads_entry(data) == make_entry(response=without)
    # A head stored with them (before they were left out) is loaded without them.
    fields = msgpack.unpackb(PACKED)[2]
    fields[3][4] += [list(pair) for pair in cookies]
    loaded = loads_entry(envelope(fields))
    assert "set-cookie" not in loaded.response.headers
    assert "set-cookie2" not in loaded.response.headers
    assert loaded == make_entry()


def test_a_changed_byte_anywhere_is_found_by_the_checksum() -> None:
    for position in range(len(SERIALIZED)):
        for replacement in (SERIALIZED[position] ^ 0x01, SERIALIZED[position] ^ 0xFF):
            damaged = bytearray(SERIALIZED)
            damaged[position] = replacement
            with pytest.raises(DeserializationError):
                loads_entry(bytes(damaged))


def test_a_head_of_format_1_is_refused_as_an_older_format() -> None:
    fields = msgpack.unpackb(PACKED)[2]
    older = msgpack.packb([MAGIC, 1, fields], use_bin_type=True)  # no checksum then
    with pytest.raises(DeserializationError, match="format 1"):
        loads_entry(older)


def test_deserialization_error_is_a_storage_error() -> None:
    assert issubclass(DeserializationError, StorageError)


# ---- damaged and foreign input ----------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xc1", b"\xff" * 8, b"httpcache", b"\x93"])
def test_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(DeserializationError):
        loads_entry(data)


@pytest.mark.parametrize("data", [None, "text", 42, [1, 2], {"a": 1}])
def test_non_bytes_are_refused(data: Any) -> None:
    with pytest.raises(DeserializationError):
        loads_entry(data)


def test_truncated_at_every_position_is_refused() -> None:
    for end in range(len(SERIALIZED)):
        with pytest.raises(DeserializationError):
            loads_entry(SERIALIZED[:end])


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(DeserializationError):
        loads_entry(SERIALIZED + b"\x00")


def test_bit_flips_give_an_error_or_an_entry_never_another_exception() -> None:
    for position in range(len(SERIALIZED)):
        for bit in (0, 3, 7):
            damaged = bytearray(SERIALIZED)
            damaged[position] ^= 1 << bit
            try:
                loaded = loads_entry(bytes(damaged))
            except DeserializationError:
                continue
            assert isinstance(loaded, Entry)
            assert isinstance(loaded.response.headers, Headers)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_give_an_error_or_an_entry(data: bytes) -> None:
    try:
        loaded = loads_entry(data)
    except DeserializationError:
        return
    assert isinstance(loaded, Entry)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=40), st.integers(0, len(SERIALIZED)))
def test_spliced_bytes_give_an_error_or_an_entry(noise: bytes, at: int) -> None:
    data = SERIALIZED[:at] + noise + SERIALIZED[at + len(noise) :]
    try:
        loaded = loads_entry(data)
    except DeserializationError:
        return
    assert isinstance(loaded, Entry)


class _CreatesMarker:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (self.path,))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_pickle_payload_is_refused_without_running_code(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_CreatesMarker(str(marker)), protocol=protocol)
    with pytest.raises(DeserializationError):
        loads_entry(payload)
    assert not marker.exists()
    # and a pickle of plain data (what a pickle-based cache would have stored)
    stored = {"url": "https://api.test/", "status": 200, "headers": [("A", "b")], "body": b""}
    with pytest.raises(DeserializationError):
        loads_entry(pickle.dumps(stored, protocol=protocol))
    assert not marker.exists()


def test_json_text_is_refused() -> None:
    text = json.dumps([MAGIC, FORMAT_VERSION, msgpack.unpackb(PACKED)[2]]).encode()
    with pytest.raises(DeserializationError):
        loads_entry(text)


@pytest.mark.parametrize(
    "data",
    [
        sealed(msgpack.packb({"magic": MAGIC, "version": FORMAT_VERSION})),
        sealed(msgpack.packb([])),
        sealed(msgpack.packb([MAGIC])),
        sealed(msgpack.packb([MAGIC, FORMAT_VERSION])),
        sealed(msgpack.packb([MAGIC, FORMAT_VERSION, [], None])),
        envelope(fields=[]),
        envelope(fields=[None] * 11),
        envelope(fields={"key": "k"}),
        envelope(fields=msgpack.unpackb(PACKED)[2][:10]),
        envelope(fields=[*msgpack.unpackb(PACKED)[2], None]),
        sealed(msgpack.packb("httpcache")),
        sealed(msgpack.packb(1)),
        sealed(msgpack.packb(None)),
    ],
    ids=[
        "dict",
        "empty",
        "magic-only",
        "no-fields",
        "four-items",
        "fields-empty",
        "fields-nil",
        "fields-dict",
        "fields-short",
        "fields-long",
        "string",
        "int",
        "nil",
    ],
)
def test_msgpack_of_the_wrong_shape_is_refused(data: bytes) -> None:
    with pytest.raises(DeserializationError):
        loads_entry(data)


@pytest.mark.parametrize(
    ("index", "sub", "value"),
    [
        (0, None, 1),  # key
        (0, None, b"bytes-key"),
        (1, None, None),  # primary key
        (2, None, "not a list"),  # request
        (2, 0, 1),  # method
        (2, 1, None),  # url
        (2, 2, {"Accept": "x"}),  # request headers as a map
        (2, 2, [["Accept"]]),  # a header pair of one
        (2, 2, [["Accept", 1]]),  # a header value that is not a string
        (2, 2, [["Accept", b"raw"]]),
        (2, 3, "text body"),  # body must be bytes or nil
        (3, 0, "200"),  # status
        (3, 0, True),  # bool where int
        (3, 0, 200.0),
        (3, 3, False),  # version
        (3, 4, [[1, 2]]),
        (4, None, "1750000000"),  # request_time
        (4, None, True),
        (5, None, None),
        (7, None, "never"),  # expires
        (7, None, False),
        (8, None, True),  # size: bool where int
        (8, None, 1.5),
        (9, None, [1]),  # stale_until
        (10, None, [["accept"]]),  # vary
        (10, None, "accept"),
    ],
)
def test_fields_of_the_wrong_type_are_refused(index: int, sub: int | None, value: Any) -> None:
    with pytest.raises(DeserializationError):
        loads_entry(envelope(fields_with(index, value, sub)))


@pytest.mark.parametrize(
    "magic", ["httpcach", "HTTPCACHE", b"httpcache", None, 1, "requests-cache"]
)
def test_a_wrong_magic_is_refused(magic: Any) -> None:
    with pytest.raises(DeserializationError):
        loads_entry(envelope(magic=magic))


@pytest.mark.parametrize(
    "version", [FORMAT_VERSION + 1, FORMAT_VERSION + 1000, 0, -1, "1", None, 2**64 - 1]
)
def test_another_format_version_is_refused(version: Any) -> None:
    with pytest.raises(DeserializationError, match="format"):
        loads_entry(envelope(version=version))


@pytest.mark.parametrize("version", [True, 1.0], ids=["bool", "float"])
def test_a_version_that_is_not_an_int_is_refused(version: Any) -> None:
    with pytest.raises(DeserializationError):
        loads_entry(envelope(version=version))


def test_ext_types_are_refused() -> None:
    fields = msgpack.unpackb(PACKED)[2]
    fields[0] = msgpack.ExtType(5, b"\x00")
    with pytest.raises(DeserializationError):
        loads_entry(envelope(fields))
    # the timestamp extension (-1) where a number is expected, under a valid checksum
    data = sealed(PACKED.replace(msgpack.packb(1_750_000_000.25), b"\xd6\xff\x00\x00\x00\x01", 1))
    assert data != SERIALIZED
    with pytest.raises(DeserializationError):
        loads_entry(data)


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_arrays_are_refused(depth: int) -> None:
    with pytest.raises(DeserializationError):
        loads_entry(sealed(b"\x91" * depth + b"\xc0"))


def test_deeply_nested_maps_are_refused() -> None:
    with pytest.raises(DeserializationError):
        loads_entry(sealed(b"\x81\xa1k" * 100_000 + b"\xc0"))


@pytest.mark.parametrize(
    "head",
    [
        b"\xc6\xff\xff\xff\xff",  # bin 32 of 4 GiB - 1
        b"\xdb\xff\xff\xff\xff",  # str 32 of 4 GiB - 1
        b"\xdd\xff\xff\xff\xff",  # array 32 of 4 Gi items
        b"\xdf\xff\xff\xff\xff",  # map 32 of 4 Gi pairs
        b"\xc9\xff\xff\xff\xff\x01",  # ext 32 of 4 GiB - 1
    ],
)
def test_a_length_claiming_4_gib_is_refused(head: bytes) -> None:
    with pytest.raises(DeserializationError):
        loads_entry(sealed(head + b"x" * 64))
    with pytest.raises(DeserializationError):
        loads_entry(sealed(b"\x93\xa9httpcache\x02" + head + b"\x00" * 16))


def test_a_map_with_non_string_keys_is_refused() -> None:
    with pytest.raises(DeserializationError):
        loads_entry(sealed(msgpack.packb({1: 2})))
    with pytest.raises(DeserializationError):
        loads_entry(sealed(b"\x81\x90\xc0"))  # a map keyed by an array


def test_heads_larger_than_the_limit_are_refused_before_unpacking() -> None:
    with pytest.raises(DeserializationError, match="larger"):
        loads_entry(b"\x00" * (MAX_HEAD_BYTES + 1))
