"""Frozen models of what the cache reasons about and stores.

They carry no I/O and no behaviour beyond lookups, so the policy can be a set of
pure functions over them. ``_convert`` is the only place that turns ``requests``
and ``urllib3`` objects into these and back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import GeneratorType
from typing import Any, TypeVar, cast, overload

T = TypeVar("T")


_PLAIN_ITERABLES = frozenset({list, tuple, GeneratorType})


#: Lower-cased field names shared by every ``Headers`` (the usual ones), so that each
#: stored head does not keep its own copies; at most ``_NAMES_MAX``, first come.
_NAMES: dict[str, str] = {}
_NAMES_MAX = 1024


#: Field names as written (``Content-Type``), shared the same way: a response parsed
#: or a head decoded does not keep copies of its own either.
_CASED: dict[str, str] = {}


def _shared(table: dict[str, str], name: str) -> str:
    """``name``, kept in ``table`` (one of the two above) while it has room."""
    if len(table) < _NAMES_MAX:
        table[name] = name
    return name


class Headers(Mapping[str, str]):
    """An immutable, case-insensitive, order-keeping multi-map of header fields.

    ``headers[name]`` joins repeated fields with ", " (RFC 9110 §5.3), ``get_all``
    keeps them apart, ``items()`` yields every field line as received.
    """

    __slots__ = ("_fields", "_index")

    _fields: tuple[tuple[str, str], ...]
    #: Lower-cased name -> its value, or its values when the field is repeated (a
    #: stored entry keeps two of these: no list, and a shared name, for each field).
    _index: dict[str, str | list[str]]

    def __init__(self, fields: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        if type(fields) in _PLAIN_ITERABLES:  # neither Headers nor Mapping: no ABC checks
            pairs = cast("Iterable[tuple[str, str]]", fields)
        elif isinstance(fields, Headers):  # immutable: share, keep repeated fields apart
            self._fields = fields._fields
            self._index = fields._index
            return
        else:
            pairs = fields.items() if isinstance(fields, Mapping) else fields
        self._set(
            tuple(
                [
                    (
                        (_CASED.get(k) or _shared(_CASED, k)) if type(k) is str else str(k),
                        v if type(v) is str else str(v),
                    )
                    for k, v in pairs
                ]
            )
        )

    def _set(self, fields: tuple[tuple[str, str], ...]) -> None:
        self._fields = fields
        index: dict[str, str | list[str]] = {}
        for name, value in fields:
            lower = name.lower()
            lower = _NAMES.get(lower) or _shared(_NAMES, lower)
            values = index.get(lower)
            if values is None:
                index[lower] = value
            elif type(values) is str:
                index[lower] = [values, value]
            else:
                cast("list[str]", values).append(value)
        self._index = index

    @classmethod
    def _of(cls, fields: tuple[tuple[str, str], ...]) -> Headers:
        """Headers of field lines that are already ``str`` pairs (no conversion)."""
        headers = cls.__new__(cls)
        headers._set(fields)
        return headers

    # Mapping protocol: one key per distinct lower-cased name.
    def __getitem__(self, name: str) -> str:
        values = self._index[name.lower()]
        return values if type(values) is str else ", ".join(values)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for name, _ in self._fields:
            if name.lower() not in seen:
                seen.add(name.lower())
                yield name

    def __len__(self) -> int:
        return len(self._index)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._fields == other._fields
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._fields)

    def __repr__(self) -> str:
        return f"Headers({list(self._fields)!r})"

    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: str | T) -> str | T: ...
    def get(self, key: str, default: object = None) -> object:
        """``Mapping.get`` without its ``KeyError`` round trip (its parameters, which
        may be named, as ``Mapping.get``'s may)."""
        values = self._index.get(key.lower())
        if values is None:
            return default
        return values if type(values) is str else ", ".join(values)

    def get_all(self, name: str) -> list[str]:
        values = self._index.get(name.lower())
        if values is None:
            return []
        return [values] if type(values) is str else list(values)

    def has_any(self, names: frozenset[str]) -> bool:
        """Whether a field is named by one of ``names`` (lower-case)."""
        return not names.isdisjoint(self._index)

    def fields(self) -> tuple[tuple[str, str], ...]:
        """Every field line, in order, duplicates kept."""
        return self._fields

    def without(self, *names: str) -> Headers:
        drop = {n.lower() for n in names}
        return Headers._of(tuple([(k, v) for k, v in self._fields if k.lower() not in drop]))

    def updated(self, other: Iterable[tuple[str, str]]) -> Headers:
        """These fields, with every name present in ``other`` replaced by its lines there."""
        other = list(other)
        replaced = {k.lower() for k, _ in other}
        kept = [(k, v) for k, v in self._fields if k.lower() not in replaced]
        return Headers(kept + other)


@dataclass(frozen=True, slots=True)
class Request:
    """The parts of a request that the cache keys on, decides with, and stores."""

    method: str
    url: str
    headers: Headers = field(default_factory=Headers)
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Response:
    """A response head. The body travels apart so that it can be streamed."""

    status: int
    headers: Headers = field(default_factory=Headers)
    reason: str = ""
    url: str = ""
    version: int = 11

    def with_url(self, url: str) -> Response:
        """This head with another URL (``dataclasses.replace`` costs several times more)."""
        return Response(self.status, self.headers, self.reason, url, self.version)


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored response (one Vary variant of a resource) and when it was obtained.

    ``key`` names this variant in storage; ``primary_key`` is shared by every variant
    of the same resource (RFC 9111 §4.1). Times are POSIX seconds. ``expires`` is
    when the entry stops being fresh as computed when it was stored (``None``: never);
    ``stale_until`` bounds how long it may still be served stale or kept for
    revalidation, which is what storage TTLs and ``remove_expired`` go by.
    ``expiry_from_caller`` says the lifetime was the caller's (``expire_after`` or
    ``cache_control=False``), not the headers': later reads keep it, so an entry kept
    for a day stays fresh for a day in the next session too.
    """

    key: str
    primary_key: str
    request: Request
    response: Response
    request_time: float
    response_time: float
    created_at: float
    expires: float | None
    size: int = 0
    stale_until: float | None = None
    vary: tuple[tuple[str, str], ...] = ()
    expiry_from_caller: bool = False

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def url(self) -> str:
        return self.request.url

    @property
    def status(self) -> int:
        return self.response.status

    def is_expired_at(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires

    def is_removable_at(self, now: float) -> bool:
        """True once the entry can no longer be served or revalidated."""
        return self.stale_until is not None and now >= self.stale_until

    def with_changes(self, **changes: Any) -> Entry:
        return replace(self, **changes)
