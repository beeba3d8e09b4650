"""Properties of the cache key over requests as ``requests`` prepares them.

(a) Two requests that ``requests`` would send differently (method, path, query,
body, credential header, TLS settings) never share a key.
(b) Two requests that differ only in what the normalization promises to ignore
(query and form field order, JSON key order and whitespace, the multipart boundary,
the case of scheme and host, the default port, the fragment, ignored parameters,
``verify`` None or True) always share one.

A request is drawn as a ``Spec``: what it means. ``render`` turns a spec into a real
``requests.Request``, choosing at random among the spellings the normalization
treats alike, and returns its key. Names of fields are at most four lower-case
letters, so none is one of ``DEFAULT_IGNORED_PARAMETERS``.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, replace
from typing import Any

import requests
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from httpcache._convert import request_from_prepared
from httpcache.keys import create_key, tls_fingerprint

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
VERIFY: list[object] = [None, True, False, "/etc/ssl/ca.pem", "/etc/ssl/other.pem"]
CERTS: list[object] = [None, "/c.pem", "/d.pem", ("/c.pem", "/k.pem"), ("/c.pem", "/k2.pem")]
CREDENTIAL_NAMES = ["Authorization", "X-API-Key"]
#: Names the default ``ignored_parameters`` leave out of the key, in queries and bodies.
#: The caller's own ``ignored_parameters`` in every key drawn here (longer than any
#: drawn name). Credential names on the default list are not ignored but partition
#: the key by a digest (tests/unit/test_keys.py).
IGNORED_NAMES = ["utm_source", "cachebust", "nonce_"]

Pairs = tuple[tuple[str, Any], ...]
#: None, ("json" | "form", Pairs of distinct names), ("raw", bytes), or
#: ("multipart", ((name, filename or None, content), ...)).
Body = tuple[str, Any] | None

names = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=4)
texts = st.text(alphabet=string.ascii_letters + string.digits + " &=+%/?#;,'\"\\é☃\n", max_size=6)
paths = st.text(alphabet=string.ascii_letters + string.digits + "-_~/", max_size=12)
tokens = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=8)
json_values = st.one_of(st.integers(-5, 5), texts, st.lists(st.integers(0, 3), max_size=3))


def fields(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Pairs]:
    """Fields with distinct names, in the order drawn."""
    return st.lists(st.tuples(names, values), max_size=4, unique_by=lambda pair: pair[0]).map(tuple)


def hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Spec:
    """What a request means, so that two specs are equal when requests send the same."""

    method: str
    path: str
    query: Pairs
    body: Body
    credential: tuple[str, str] | None
    verify: object
    cert: object

    def meaning(self) -> tuple[object, ...]:
        body: object = self.body
        if self.body is not None and self.body[0] in ("json", "form"):
            pairs: Pairs = self.body[1]
            # distinct names: their order means nothing
            body = (self.body[0], frozenset((n, hashable(v)) for n, v in pairs))
        return (
            self.method,
            self.path,
            frozenset(self.query),
            body,
            self.credential,
            True if self.verify is None else self.verify,
            self.cert,
        )


bodies: dict[str, st.SearchStrategy[Body]] = {
    "none": st.none(),
    "json": fields(json_values).map(lambda pairs: ("json", pairs)),
    "form": fields(texts).filter(bool).map(lambda pairs: ("form", pairs)),
    "raw": st.binary(min_size=1, max_size=12).map(lambda raw: ("raw", raw)),
    "multipart": st.lists(
        st.tuples(
            names,
            st.none() | st.text(alphabet=string.ascii_letters + "._-", min_size=1, max_size=6),
            st.binary(max_size=12),
        ),
        min_size=1,
        max_size=3,
    ).map(lambda parts: ("multipart", tuple(parts))),
}

specs = st.builds(
    Spec,
    method=st.sampled_from(METHODS),
    path=paths,
    query=fields(texts),
    body=st.one_of(*bodies.values()),
    credential=st.none() | st.tuples(st.sampled_from(CREDENTIAL_NAMES), tokens),
    verify=st.sampled_from(VERIFY),
    cert=st.sampled_from(CERTS),
)


def body_kind(body: Body) -> str:
    return "none" if body is None else body[0]


#: Body kinds a body may change into and still be told apart by its bytes. The key
#: holds the normalized body, not its Content-Type: a raw body spelled exactly like
#: another's normalized JSON or form shares its key, so raw changes only into what
#: parses to something else (no body, or a multipart one, keyed by its parts).
DISTINCT_KINDS = {
    "none": ["none", "json", "form", "raw", "multipart"],
    "json": ["none", "json", "form", "multipart"],
    "form": ["none", "json", "form", "multipart"],
    "raw": ["none", "raw", "multipart"],
    "multipart": ["none", "json", "form", "raw", "multipart"],
}


def shuffled(data: st.DataObject, items: tuple[Any, ...]) -> list[Any]:
    return list(data.draw(st.permutations(items))) if items else []


def with_ignored(data: st.DataObject, items: list[Any], make: Any) -> list[Any]:
    """``items`` with fields named in ``IGNORED_NAMES`` inserted where the draw says."""
    extra = data.draw(st.lists(st.tuples(st.sampled_from(IGNORED_NAMES), tokens), max_size=2))
    for name, value in extra:
        at = data.draw(st.integers(0, len(items)))
        items.insert(at, make(name, value))
    return items


def render(spec: Spec, data: st.DataObject) -> str:
    """The key of one real request meaning ``spec``, spelled as the draw says."""
    scheme = data.draw(st.sampled_from(["https", "HTTPS", "Https"]))
    host = data.draw(st.sampled_from(["api.test", "API.Test", "api.TEST"]))
    port = data.draw(st.sampled_from(["", ":443"]))
    fragment = data.draw(st.sampled_from(["", "#", "#top", "#a?b=c"]))
    url = f"{scheme}://{host}{port}/v1/{spec.path}{fragment}"
    kwargs: dict[str, Any] = {
        "params": with_ignored(data, shuffled(data, spec.query), lambda n, v: (n, v)),
        "headers": dict([spec.credential]) if spec.credential else {},
    }
    kind = body_kind(spec.body)
    payload: Any = spec.body[1] if spec.body is not None else None
    if kind == "json":
        document = dict(with_ignored(data, shuffled(data, payload), lambda n, v: (n, v)))
        style = data.draw(st.sampled_from(["requests", "compact", "spaced", "indented"]))
        if style == "requests":
            kwargs["json"] = document
        else:
            separators = {"compact": (",", ":"), "spaced": (" , ", " : "), "indented": None}
            text = json.dumps(
                document,
                separators=separators[style],
                indent=2 if style == "indented" else None,
                ensure_ascii=data.draw(st.booleans()),
            )
            kwargs["data"] = text.encode()
            kwargs["headers"]["Content-Type"] = "application/json"
    elif kind == "form":
        kwargs["data"] = with_ignored(data, shuffled(data, payload), lambda n, v: (n, v))
    elif kind == "raw":
        kwargs["data"] = payload
    elif kind == "multipart":
        parts = [(n, (f, c)) for n, f, c in payload]
        kwargs["files"] = with_ignored(data, parts, lambda n, v: (n, (None, v.encode())))
    prepared = requests.Request(spec.method, url, **kwargs).prepare()
    verify, cert = spec.verify, spec.cert
    if verify is None or verify is True:  # requests' default either way
        verify = data.draw(st.sampled_from([None, True]))
    if isinstance(cert, str) and data.draw(st.booleans()):  # a certificate holding its key
        cert = (cert, None)
    return create_key(
        request_from_prepared(prepared),
        ignored_parameters=IGNORED_NAMES,
        tls=tls_fingerprint(verify, cert),
    )


def nudged(body: Body, data: st.DataObject) -> Body:
    """A near miss: one field's value, or a multipart body's part order, changed."""
    assert body is not None
    kind, items = body
    if not items:
        return body
    items = list(items)
    if kind == "multipart" and data.draw(st.booleans()):
        return (kind, tuple(data.draw(st.permutations(items))))
    at = data.draw(st.integers(0, len(items) - 1))
    if kind == "multipart":
        name, filename, _ = items[at]
        items[at] = (name, filename, data.draw(st.binary(max_size=12)))
    else:
        items[at] = (items[at][0], data.draw(json_values if kind == "json" else texts))
    return (kind, tuple(items))


def changed(spec: Spec, aspect: str, data: st.DataObject) -> Spec:
    if aspect == "method":
        return replace(spec, method=data.draw(st.sampled_from(METHODS)))
    if aspect == "path":
        return replace(spec, path=data.draw(paths))
    if aspect == "query":
        # often the same names with one value changed, sometimes new fields
        if len(spec.query) > 0 and data.draw(st.booleans()):
            at = data.draw(st.integers(0, len(spec.query) - 1))
            query = list(spec.query)
            query[at] = (query[at][0], data.draw(texts))
            return replace(spec, query=tuple(query))
        return replace(spec, query=data.draw(fields(texts)))
    if aspect == "body":
        if spec.body is not None and spec.body[0] != "raw" and data.draw(st.booleans()):
            return replace(spec, body=nudged(spec.body, data))
        kind = data.draw(st.sampled_from(DISTINCT_KINDS[body_kind(spec.body)]))
        return replace(spec, body=data.draw(bodies[kind]))
    if aspect == "credential":
        return replace(
            spec,
            credential=data.draw(st.none() | st.tuples(st.sampled_from(CREDENTIAL_NAMES), tokens)),
        )
    if aspect == "verify":
        return replace(spec, verify=data.draw(st.sampled_from(VERIFY)))
    assert aspect == "cert"
    return replace(spec, cert=data.draw(st.sampled_from(CERTS)))


ASPECTS = ["method", "path", "query", "body", "credential", "verify", "cert"]


@settings(max_examples=100, deadline=None)
@given(specs, st.sets(st.sampled_from(ASPECTS), min_size=1, max_size=2), st.data())
def test_requests_sent_differently_never_share_a_key(
    spec: Spec, aspects: set[str], data: st.DataObject
) -> None:
    other = spec
    for aspect in sorted(aspects):
        other = changed(other, aspect, data)
    assume(other.meaning() != spec.meaning())
    assert render(spec, data) != render(other, data)


def has_items(body: Body) -> bool:
    return body is not None and len(body[1]) > 0


@settings(max_examples=80, deadline=None)
@given(specs, st.sampled_from(["json", "form", "multipart"]), st.data())
def test_bodies_that_differ_by_a_little_never_share_a_key(
    spec: Spec, kind: str, data: st.DataObject
) -> None:
    spec = replace(spec, body=data.draw(bodies[kind].filter(has_items)))
    other = replace(spec, body=nudged(spec.body, data))
    assume(other.meaning() != spec.meaning())
    assert render(spec, data) != render(other, data)


@settings(max_examples=100, deadline=None)
@given(specs, st.data())
def test_requests_that_normalize_alike_share_a_key(spec: Spec, data: st.DataObject) -> None:
    assert render(spec, data) == render(spec, data)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(METHODS), bodies["multipart"], st.sampled_from([False, True]))
def test_a_multipart_upload_keys_alike_whatever_its_boundary(
    method: str, body: Body, match_headers: bool
) -> None:
    assert body is not None
    files = [(n, (f, c)) for n, f, c in body[1]]
    first, second = (
        requests.Request(method, "https://api.test/", files=files).prepare() for _ in "12"
    )
    assert first.headers["Content-Type"] != second.headers["Content-Type"]  # new boundary
    assert create_key(first, match_headers=match_headers) == create_key(
        second, match_headers=match_headers
    )
