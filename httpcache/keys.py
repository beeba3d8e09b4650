"""Cache keys, the normalization they rest on, and redaction of secrets.

A key is a digest of a msgpack list, not of a concatenation: every part is length
prefixed, so two different requests cannot produce the same key by moving bytes
from one part to the next (``GET /a`` + body ``b`` vs ``GET /ab``).

Parts of the primary key (RFC 9111 §4.1 calls it the cache key):
method, normalized URL, normalized body (only for opted-in methods other than GET
and HEAD), the values of ``match_headers``, and a one-way fingerprint of the
request's credentials, so that a response fetched with one credential is never
served to a request carrying another, even when the credential itself is redacted.

Variants of one resource (``Vary``) get their own key: the primary key plus the
request's values of the header fields the response varies on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import msgpack

from .models import Headers, Request

REDACTED = "REDACTED"

#: Names left out of keys and redacted from what is stored unless the caller says
#: otherwise. Header names are matched case-insensitively, parameters exactly.
DEFAULT_IGNORED_PARAMETERS: tuple[str, ...] = (
    "Authorization",
    "Proxy-Authorization",
    "Cookie",
    "X-API-Key",
    "access_token",
    "api_key",
    "apikey",
    "client_secret",
    "password",
)

#: Request header fields that carry credentials: whatever ``ignored_parameters``
#: says, their values never reach storage, and a digest of them partitions the key.
CREDENTIAL_HEADERS: tuple[str, ...] = ("authorization", "proxy-authorization", "x-api-key")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def digest(parts: Sequence[object]) -> str:
    """A 128-bit hex digest of a length-prefixed encoding of ``parts``."""
    packed = msgpack.packb(list(parts), use_bin_type=True)
    return hashlib.blake2b(packed, digest_size=16).hexdigest()


def normalize_url(url: str, ignored: Collection[str] = (), redact: bool = False) -> str:
    """Lower-case scheme and host, drop the default port and the fragment, sort the query.

    Query parameters named in ``ignored`` are dropped, or with ``redact`` kept with
    their value replaced, so the stored URL still shows that they were there.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    if parts.username or parts.password:
        netloc = f"{REDACTED}@{netloc}" if redact else netloc
    query = _normalize_pairs(parse_qsl(parts.query, keep_blank_values=True), ignored, redact)
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, urlencode(query, quote_via=quote, safe="/:"), ""))


def _normalize_pairs(
    pairs: Iterable[tuple[str, str]], ignored: Collection[str], redact: bool
) -> list[tuple[str, str]]:
    kept = []
    for name, value in pairs:
        if name in ignored:
            if redact:
                kept.append((name, REDACTED))
            continue
        kept.append((name, value))
    # By name only: the values of a repeated name keep their order, which the server
    # may give a meaning to (``?sort=a&sort=b`` is not ``?sort=b&sort=a``).
    return sorted(kept, key=lambda pair: pair[0])


def normalize_body(request: Request, ignored: Collection[str] = (), redact: bool = False) -> bytes:
    """The request body in a canonical form: JSON and form fields sorted, ignored ones out."""
    body = request.body or b""
    if not body:
        return b""
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        try:
            # Loose parsing, as servers read forms: a stray '&' or a bare field must not
            # make the body fall back to its raw bytes, secrets and all.
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            return body
        return urlencode(_normalize_pairs(pairs, ignored, redact)).encode()
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            document = json.loads(body)
            cleaned = _redact_json(document, set(ignored), redact)
            return json.dumps(cleaned, sort_keys=True, separators=(",", ":")).encode()
        except (UnicodeDecodeError, ValueError, RecursionError):  # nested too deep to read
            return body
    return body


def _redact_json(value: object, ignored: set[str], redact: bool) -> object:
    if isinstance(value, dict):
        out = {}
        for name, item in value.items():
            if name in ignored:
                if redact:
                    out[name] = REDACTED
                continue
            out[name] = _redact_json(item, ignored, redact)
        return out
    if isinstance(value, list):
        return [_redact_json(item, ignored, redact) for item in value]
    return value


def split_ignored(ignored: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(header names lower-cased, parameter names as given) from one list of names."""
    names = tuple(ignored)
    return frozenset(n.lower() for n in names), frozenset(names)


def credential_fingerprint(headers: Headers) -> str:
    """A one-way digest of the credential fields, ``""`` when there are none."""
    present = [[name, headers[name]] for name in CREDENTIAL_HEADERS if name in headers]
    return digest(["credentials", present]) if present else ""


def matched_header_values(
    headers: Headers, match_headers: bool | Collection[str], ignored_headers: Collection[str]
) -> list[list[str]]:
    """The ``match_headers`` part of a key: names lower-cased, sorted, values as sent."""
    if match_headers is True:
        names = {name.lower() for name in headers} - set(ignored_headers)
    elif match_headers:
        names = {name.lower() for name in match_headers}
    else:
        return []
    return [[name, headers.get(name, "")] for name in sorted(names)]


def create_key(
    request: Request | Any,
    *,
    ignored_parameters: Iterable[str] = DEFAULT_IGNORED_PARAMETERS,
    match_headers: bool | Collection[str] = False,
    body_methods: Collection[str] = (),
) -> str:
    """The primary cache key of a request (see the module text).

    ``request`` is a ``Request`` or a ``requests.PreparedRequest``.
    """
    if not isinstance(request, Request):
        from ._convert import request_from_prepared

        request = request_from_prepared(request)
    ignored_headers, ignored_params = split_ignored(ignored_parameters)
    method = request.method.upper()
    body = normalize_body(request, ignored_params) if method in body_methods else b""
    return digest(
        [
            method,
            normalize_url(request.url, ignored_params),
            body,
            matched_header_values(request.headers, match_headers, ignored_headers),
            credential_fingerprint(request.headers),
        ]
    )


def variant_key(primary_key: str, vary: Sequence[tuple[str, str]]) -> str:
    """The storage key of one Vary variant; the primary key itself when nothing varies."""
    return primary_key if not vary else digest([primary_key, [list(pair) for pair in vary]])


def redact_request(request: Request, ignored_parameters: Iterable[str]) -> Request:
    """The request as it may be stored: secrets replaced by ``REDACTED``."""
    ignored_headers, ignored_params = split_ignored(ignored_parameters)
    hidden = ignored_headers | set(CREDENTIAL_HEADERS)
    headers = Headers(
        (name, REDACTED if name.lower() in hidden else value)
        for name, value in request.headers.fields()
    )
    body = request.body
    if body:
        body = normalize_body(request, ignored_params, redact=True) if ignored_params else body
    return Request(
        method=request.method.upper(),
        url=normalize_url(request.url, ignored_params, redact=True),
        headers=headers,
        body=body,
    )


def vary_values(
    headers: Headers, names: Iterable[str], sensitive: Collection[str] = ()
) -> tuple[tuple[str, str], ...]:
    """The request's values of the fields named by Vary, normalized for comparison.

    RFC 9111 §4.1: values match after combining field lines and normalizing
    whitespace. An absent field is ``""``, distinct from any sent value (which is
    prefixed). Values of sensitive fields (credentials) are kept only as a digest.
    """
    out = []
    for name in sorted({n.strip().lower() for n in names if n.strip()}):
        if name in headers:
            parts = (" ".join(p.split()) for line in headers.get_all(name) for p in line.split(","))
            value = "=" + ",".join(parts)
            if name in sensitive or name in CREDENTIAL_HEADERS:
                value = "#" + digest([value])
        else:
            value = ""
        out.append((name, value))
    return tuple(out)
