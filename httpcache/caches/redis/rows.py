"""Index rows: what listings, stats and deletes need of an entry, without its head.

A row is a msgpack array ``[META_FORMAT, primary key, method, url, status, size,
created_at, expires, stale_until, request_time, response_time, indexed_at, gone_at]``
under the entry's key in the ``meta`` hash. A row of another format, or damaged, is
treated as absent (and pruned).
"""

from __future__ import annotations

from typing import NamedTuple, cast

import msgpack

from ...errors import DeserializationError
from ...models import Entry
from ..base import EntryInfo

#: Version of index rows; another one is a miss (format 1 had no ``gone_at``).
META_FORMAT = 2
_NUMBER = (int, float)
_OPTIONAL_NUMBER = (int, float, type(None))
_OPTIONAL_TIMES = (float, type(None))
#: The field types of a row as ``row_bytes`` writes it (times as floats): a row of
#: these types needs no check field by field.
_USUAL_TYPES = frozenset(
    (int, str, str, str, int, int, float, expires, stale, float, float, float, gone)
    for expires in _OPTIONAL_TIMES
    for stale in _OPTIONAL_TIMES
    for gone in _OPTIONAL_TIMES
)


class Row(NamedTuple):
    """An index row: what listings, stats and deletes need, without the head (a
    tuple: built at once, listings build one per entry)."""

    key: str
    raw: bytes
    primary_key: str
    method: str
    url: str
    status: int
    size: int
    created_at: float
    expires: float | None
    stale_until: float | None
    request_time: float
    response_time: float
    indexed_at: float
    gone_at: float | None

    def summary(self) -> EntryInfo:
        """The row's metadata, as every backend's listing gives it."""
        return EntryInfo._make((self[0], *self[2:12]))  # all but raw, indexed_at and gone_at

    def alive_at(self, wall_clock: float) -> bool:
        """Whether Redis still keeps the entry by its TTL."""
        return self.gone_at is None or self.gone_at > wall_clock


def row_bytes(entry: Entry, indexed_at: float, gone_at: float | None) -> bytes:
    fields = [
        META_FORMAT,
        entry.primary_key,
        entry.method,
        entry.url,
        entry.status,
        entry.size,
        entry.created_at,
        entry.expires,
        entry.stale_until,
        entry.request_time,
        entry.response_time,
        indexed_at,
        gone_at,
    ]
    return cast(bytes, msgpack.packb(fields, use_bin_type=True))


def load_row(key: str, raw: bytes) -> Row:
    try:
        f = msgpack.unpackb(raw, raw=False)
    except Exception as exc:  # damaged bytes raise many types
        raise DeserializationError(f"index row: {exc!r}") from None
    if not (type(f) is list and len(f) == 13 and f[0] == META_FORMAT):
        raise DeserializationError("index row: not a row of this format")
    if tuple(map(type, f)) not in _USUAL_TYPES and not _typed(f):
        raise DeserializationError("index row: fields of the wrong types")
    f[0] = raw
    return Row._make((key, *f))


def _typed(f: list[object]) -> bool:
    """Whether the fields of a row have the types they must have."""
    _, pk, method, url, status, size, created, expires, stale, req_t, resp_t, at, gone = f
    return (
        type(pk) is str
        and type(method) is str
        and type(url) is str
        and type(status) is int
        and type(size) is int
        and isinstance(created, _NUMBER)
        and isinstance(req_t, _NUMBER)
        and isinstance(resp_t, _NUMBER)
        and isinstance(at, _NUMBER)
        and isinstance(expires, _OPTIONAL_NUMBER)
        and isinstance(stale, _OPTIONAL_NUMBER)
        and isinstance(gone, _OPTIONAL_NUMBER)
    )


def older_row(raw: bytes) -> bool:
    """Whether ``raw`` is an index row of an older format (format 1: 12 fields)."""
    return raw[:2] == b"\x9c\x01"
