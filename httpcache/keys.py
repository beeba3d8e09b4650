"""Cache keys, the normalization they rest on, and redaction of secrets.

A key is a digest of a msgpack list, not of a concatenation: every part is length
prefixed, so two different requests cannot produce the same key by moving bytes
from one part to the next (``GET /a`` + body ``b`` vs ``GET /ab``).

Parts of the primary key (RFC 9111 §4.1 calls it the cache key):
method, normalized URL, normalized body (for every method that sends one, GET and
HEAD included; ``b""`` when there is none), the values of ``match_headers``, and a
one-way fingerprint of the request's credentials, so that a response fetched with
one credential is never served to a request carrying another, even when the
credential itself is redacted. When the caller's TLS settings (``verify``, ``cert``)
are not requests' defaults, a digest of them is a sixth part: a response fetched
without verifying the server is never served to a caller that verifies. A request
without a body and with default TLS settings keeps the key it has always had.

A ``multipart/form-data`` body is keyed by its parts, not by the random boundary
requests picks for each upload, so two identical uploads share a key.

Variants of one resource (``Vary``) get their own key: the primary key plus the
request's values of the header fields the response varies on.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import msgpack

from .errors import ConfigurationError
from .models import Headers, Request

REDACTED = "REDACTED"

#: Query parameters and JSON, form and multipart fields that commonly carry
#: credentials (OAuth 2.0 tokens, API keys, signatures of signed URLs, passwords).
CREDENTIAL_PARAMETERS: tuple[str, ...] = (
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "secret",
    "client_secret",
    "password",
    "signature",
    "sig",
    "auth",
)

#: Names left out of keys and redacted from what is stored unless the caller says
#: otherwise (README, "What is never stored"). Every name is matched
#: case-insensitively, header fields and parameters alike (``Token``, ``API_KEY``).
DEFAULT_IGNORED_PARAMETERS: tuple[str, ...] = (
    "Authorization",
    "Proxy-Authorization",
    "Cookie",
    "X-API-Key",
    *CREDENTIAL_PARAMETERS,
)

#: Request header fields that carry credentials: whatever ``ignored_parameters``
#: says, their values never reach storage, and a digest of them partitions the key.
CREDENTIAL_HEADERS: tuple[str, ...] = ("authorization", "proxy-authorization", "x-api-key")

_DEFAULT_PORTS = {"http": 80, "https": 443}

MULTIPART_FORM = "multipart/form-data"


def digest(parts: Sequence[object]) -> str:
    """A 128-bit hex digest of a length-prefixed encoding of ``parts``."""
    packed = _pack(list(parts))
    return hashlib.blake2b(packed, digest_size=16).hexdigest()


def _packer() -> Callable[[object], bytes]:
    """``msgpack.packb(..., use_bin_type=True)``. The compiled Packer is shared: its
    ``pack`` runs without a thread switch (no Python code for these parts) and resets
    after each call, so a new Packer per key is not needed. The pure-Python one
    (``MSGPACK_PUREPYTHON``) could switch threads mid-pack: one per call."""
    packer = msgpack.Packer(use_bin_type=True)
    if type(packer).__module__ == "msgpack._cmsgpack":
        pack: Callable[[object], bytes] = packer.pack
        return pack
    return functools.partial(msgpack.packb, use_bin_type=True)


_pack = _packer()


def normalize_url(url: str, ignored: Collection[str] = (), redact: bool = False) -> str:
    """Lower-case scheme and host, drop the default port and the fragment, sort the query.

    Query parameters named in ``ignored`` are dropped, or with ``redact`` kept with
    their value replaced, so the stored URL still shows that they were there.
    """
    try:
        parts = _url_parts(url)
    except TypeError:  # not hashable: fails (or not) as it always has, unremembered
        parts = _url_parts.__wrapped__(url)
    netloc = f"{REDACTED}@{parts.netloc}" if parts.has_user and redact else parts.netloc
    if redact:  # whatever the caller's list, credentials are never stored in clear
        ignored = always_redacted(ignored)
    query = _normalize_pairs(parts.pairs, ignored, redact)
    if not query and netloc is parts.netloc:
        return parts.bare
    return urlunsplit(
        (parts.scheme, netloc, parts.path, urlencode(query, quote_via=quote, safe="/:"), "")
    )


class _URLParts(NamedTuple):
    """``normalize_url``'s parse of a URL."""

    scheme: str
    netloc: str  # lower-case host and the port unless it is the default; no user info
    has_user: bool
    path: str
    query: str  # as it is in the URL
    pairs: tuple[tuple[str, str], ...]
    bare: str  # the normalized URL when no query parameter is kept


#: A URL ``urlsplit`` reads as it is written: http(s), a plain host name or IPv4
#: address, an optional port, and no whitespace, control character, user info or
#: bracket. Such a URL is split here in one match (a test compares with urlsplit).
_PLAIN_URL = re.compile(
    r"([Hh][Tt][Tt][Pp][Ss]?)://([A-Za-z0-9.-]+)(?::([0-9]{1,5}))?"
    r"(/[^?#\x00-\x20\x7f]*)?(?:\?([^#\x00-\x20\x7f]*))?(?:#[^\x00-\x20\x7f]*)?"
)


@functools.lru_cache(maxsize=256)
def _url_parts(url: str) -> _URLParts:
    """The parts of ``url`` that ``normalize_url`` puts together. Remembered: a miss
    normalizes its URL twice (for the key, then redacted for storage)."""
    url = url.strip()
    plain = _PLAIN_URL.fullmatch(url)
    if plain is not None:
        scheme, host, digits, path, query = plain.groups()
        scheme, host = scheme.lower(), host.lower()
        port = int(digits) if digits is not None else None
        if port is not None and port > 65535:
            port = None  # urlsplit's port raises ValueError, taken as no port
        has_user, path, query = False, path or "/", query or ""
    else:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        if ":" in host:  # an IPv6 literal keeps its brackets
            host = f"[{host}]"
        try:
            port = parts.port
        except ValueError:
            port = None
        has_user, path, query = bool(parts.username or parts.password), parts.path, parts.query
        path = path or "/"
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    pairs = tuple(parse_qsl(query, keep_blank_values=True)) if query else ()
    bare = urlunsplit((scheme, netloc, path, "", ""))
    return _URLParts(scheme, netloc, has_user, path, query, pairs, bare)


_CREDENTIAL_SET = frozenset(CREDENTIAL_PARAMETERS)
#: The default list without the credential parameters: what it leaves out of a key
#: besides them (``_with_credential_parameters``).
_DEFAULT_WITHOUT_CREDENTIALS = frozenset(
    name for name in DEFAULT_IGNORED_PARAMETERS if name.lower() not in _CREDENTIAL_SET
)


def always_redacted(ignored: Collection[str]) -> frozenset[str]:
    """The parameter names to redact from what is stored: the caller's, and always
    the common credential names (DESIGN: secrets never reach storage in clear)."""
    return _with_credential_names(lowered(ignored))


@functools.lru_cache(maxsize=64)
def _with_credential_names(names: frozenset[str]) -> frozenset[str]:
    """``names`` and the credential names (remembered, as ``lowered`` is)."""
    return names | _CREDENTIAL_SET


def lowered(names: Collection[str]) -> frozenset[str]:
    """``names`` lower-cased, for matching case-insensitively (remembered for the few
    sets a configuration passes on every request)."""
    if isinstance(names, frozenset | tuple):
        return _lowered(names)
    return frozenset(name.lower() for name in names)


@functools.lru_cache(maxsize=64)
def _lowered(names: frozenset[str] | tuple[str, ...]) -> frozenset[str]:
    return frozenset(name.lower() for name in names)


def _normalize_pairs(
    pairs: Iterable[tuple[str, str]], ignored: Collection[str], redact: bool
) -> list[tuple[str, str]]:
    ignored = lowered(ignored) if ignored else ignored
    kept = []
    for name, value in pairs:
        if ignored and name.lower() in ignored:
            if redact:
                kept.append((name, REDACTED))
            continue
        kept.append((name, value))
    # By name only: the values of a repeated name keep their order, which the server
    # may give a meaning to (``?sort=a&sort=b`` is not ``?sort=b&sort=a``).
    return sorted(kept, key=lambda pair: pair[0])


def normalize_body(request: Request, ignored: Collection[str] = (), redact: bool = False) -> bytes:
    """The request body in a canonical form: JSON and form fields sorted, ignored ones out.

    A ``multipart/form-data`` body keeps its boundary and the order of its parts
    (it is still the body the Content-Type describes); the parts named in
    ``ignored`` are dropped, or with ``redact`` kept with their content replaced.
    Anything that does not parse is returned as it is.
    """
    body = request.body or b""
    if not body:
        return b""
    if redact:
        ignored = always_redacted(ignored)
    content_type = _media_type(request.headers)
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
            cleaned = _redact_json(document, lowered(ignored), redact)
            return json.dumps(cleaned, sort_keys=True, separators=(",", ":")).encode()
        except (UnicodeDecodeError, ValueError, RecursionError):  # nested too deep to read
            return body
    if content_type == MULTIPART_FORM:
        form = _parse_multipart(body, request.headers.get("Content-Type", ""))
        if form is None:
            return body
        return form.serialize(ignored, redact)
    return body


def body_key_part(request: Request, ignored: Collection[str] = ()) -> bytes | list[object]:
    """The body's part of a key: ``normalize_body`` without the ``ignored`` fields.

    A ``multipart/form-data`` body that parses is keyed by its parts instead (see
    ``MultipartForm.canonical``), a list where every other body is bytes, so that no
    body can be crafted to take the key of an upload. ``b""`` when there is no body.
    """
    return _key_body(request, ignored)[0]


def _key_body(
    request: Request, ignored: Collection[str]
) -> tuple[bytes | list[object], str | None]:
    """``body_key_part``, and for a multipart body its Content-Type without the boundary."""
    body = request.body or b""
    if body and _media_type(request.headers) == MULTIPART_FORM:
        form = _parse_multipart(body, request.headers.get("Content-Type", ""))
        if form is not None:
            return form.canonical(ignored), form.content_type
    return normalize_body(request, ignored), None


def _media_type(headers: Headers) -> str:
    return headers.get("Content-Type", "").split(";")[0].strip().lower()


@dataclass(frozen=True, slots=True)
class _Part:
    """One part of a multipart body: its header block as sent, parsed, and content."""

    head: bytes
    fields: tuple[tuple[bytes, bytes], ...]  # names lower-cased, values stripped
    content: bytes

    def name(self) -> str | None:
        """The form field's name (``Content-Disposition: form-data; name=...``)."""
        for field_name, value in self.fields:
            if field_name == b"content-disposition":
                message = Message()
                message["Content-Disposition"] = value.decode("utf-8", "replace")
                param = message.get_param("name", header="content-disposition")
                if param is None:
                    return None
                return collapse_rfc2231_value(param)
        return None


@dataclass(frozen=True, slots=True)
class MultipartForm:
    """A ``multipart/form-data`` body split on its boundary (RFC 2046 §5.1.1, RFC 7578)."""

    boundary: bytes
    #: The request's Content-Type with its boundary parameter left out.
    content_type: str
    parts: tuple[_Part, ...]
    epilogue: bytes

    def _kept(self, ignored: Collection[str], redact: bool) -> list[_Part]:
        if not ignored:
            return list(self.parts)
        ignored = lowered(ignored)
        kept = []
        for part in self.parts:
            if (part.name() or "").lower() in ignored:
                if redact:
                    kept.append(_Part(part.head, part.fields, REDACTED.encode()))
                continue
            kept.append(part)
        return kept

    def serialize(self, ignored: Collection[str] = (), redact: bool = False) -> bytes:
        """The body again, with its own boundary; the parts named in ``ignored`` out
        (or, with ``redact``, their content replaced)."""
        dash = b"--" + self.boundary
        out = [dash]
        for part in self._kept(ignored, redact):
            head = part.head + b"\r\n" if part.head else b""
            out.append(b"\r\n" + head + b"\r\n" + part.content + b"\r\n" + dash)
        out.append(b"--" + self.epilogue)
        return b"".join(out)

    def canonical(self, ignored: Collection[str] = ()) -> list[object]:
        """What a key holds of the body, free of the boundary: the media type and the
        parts in order, each its header fields (names lower-cased) and content bytes.

        A header value is kept as the list of its pieces around the boundary where
        it embeds it as a word of its own (``boundary=...``, quoted, or between
        spaces): such a value keys the same whatever the boundary is, and joining the
        pieces with the boundary gives the value back, so none is lost.
        """
        word = re.compile(rb"(?<![^\s=;,\"'])" + re.escape(self.boundary) + rb"(?![^\s;,\"'])")
        return [
            MULTIPART_FORM,
            [
                [
                    [[name, word.split(value)] for name, value in part.fields],
                    part.content,
                ]
                for part in self._kept(ignored, redact=False)
            ],
        ]


def _multipart_boundary(content_type: str) -> tuple[bytes, str] | None:
    """(boundary, the Content-Type without it), or None without a usable boundary."""
    message = Message()
    message["Content-Type"] = content_type
    boundary = message.get_param("boundary")
    if boundary is None:
        return None
    text = collapse_rfc2231_value(boundary)
    try:
        encoded = text.encode("ascii")
    except UnicodeEncodeError:
        return None
    if not encoded or len(encoded) > 70:  # RFC 2046 §5.1.1: 1 to 70 characters
        return None
    message.del_param("boundary")
    return encoded, str(message["Content-Type"])


def _parse_multipart(body: bytes, content_type: str) -> MultipartForm | None:
    """The body's parts, or None unless it is exactly what RFC 2046 describes.

    Strict: no preamble, no transport padding after a delimiter, no folded header
    lines, an epilogue of at most one CRLF. Whatever is not that is keyed (and
    stored) as its raw bytes.
    """
    found = _multipart_boundary(content_type)
    if found is None:
        return None
    boundary, bare_type = found
    dash = b"--" + boundary
    if not body.startswith(dash):
        return None
    chunks = body[len(dash) :].split(b"\r\n" + dash)
    *sections, last = chunks
    if not last.startswith(b"--") or last[2:] not in (b"", b"\r\n"):
        return None
    parts = []
    for section in sections:
        if not section.startswith(b"\r\n"):
            return None
        part = _parse_part(section[2:])
        if part is None:
            return None
        parts.append(part)
    return MultipartForm(boundary, bare_type, tuple(parts), last[2:])


def _parse_part(raw: bytes) -> _Part | None:
    framed = b"\r\n" + raw
    end = framed.find(b"\r\n\r\n")
    if end < 0:
        return None
    head, content = framed[2:end], framed[end + 4 :]
    fields = []
    for line in head.split(b"\r\n") if head else ():
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip() or line[:1] in (b" ", b"\t"):
            return None
        fields.append((name.lower(), value.strip()))
    return _Part(head, tuple(fields), content)


def _redact_json(value: object, ignored: frozenset[str], redact: bool) -> object:
    if isinstance(value, dict):
        out: dict[object, object] = {}
        for name, item in value.items():
            if isinstance(name, str) and name.lower() in ignored:
                if redact:
                    out[name] = REDACTED
                continue
            out[name] = _redact_json(item, ignored, redact)
        return out
    if isinstance(value, list):
        return [_redact_json(item, ignored, redact) for item in value]
    return value


def split_ignored(ignored: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(header names lower-cased, parameter names as given) from one list of names
    (parameters are lower-cased where they are compared)."""
    names = tuple(ignored)
    try:
        return _split_ignored(names)  # the configuration's tuple, on every request
    except TypeError:  # an unhashable name: fails below as it always has
        return frozenset(n.lower() for n in names), frozenset(names)


@functools.lru_cache(maxsize=64)
def _split_ignored(names: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    return frozenset(n.lower() for n in names), frozenset(names)


def credential_fingerprint(headers: Headers, shared: Collection[str] = ()) -> str:
    """A one-way digest of the credential fields, ``""`` when there are none.

    ``shared`` (lower-case names) are left out: the caller named them in its own
    ``ignored_parameters``, saying they do not change the response.
    """
    present = [
        [name, headers[name]]
        for name in CREDENTIAL_HEADERS
        if name in headers and name not in shared
    ]
    return digest(["credentials", present]) if present else ""


def shared_credentials(ignored_parameters: Sequence[str]) -> frozenset[str]:
    """The credential headers a caller's own ``ignored_parameters`` names (the
    default list names some, but only to redact them: they still partition)."""
    if tuple(ignored_parameters) == DEFAULT_IGNORED_PARAMETERS:
        return frozenset()
    return frozenset(n.lower() for n in ignored_parameters) & frozenset(CREDENTIAL_HEADERS)


def matched_header_values(
    headers: Headers,
    match_headers: bool | Collection[str],
    ignored_headers: Collection[str],
    content_type: str | None = None,
) -> list[list[str]]:
    """The ``match_headers`` part of a key: names lower-cased, sorted, values as sent.

    ``content_type``, when given, stands for the request's Content-Type (a multipart
    one without its boundary, which the body's part of the key already accounts for).
    """
    if match_headers is True:
        names = {name.lower() for name in headers} - set(ignored_headers)
    elif match_headers:
        names = {name.lower() for name in match_headers}
    else:
        return []
    values = []
    for name in sorted(names):
        if name == "content-type" and content_type is not None and name in headers:
            values.append([name, content_type])
        else:
            values.append([name, headers.get(name, "")])
    return values


def tls_fingerprint(verify: object, cert: object) -> str:
    """A one-way digest of the caller's TLS settings, ``""`` for requests' defaults.

    ``verify`` and ``cert`` are what the caller passes to ``requests`` (after the
    session's and the environment's are merged in, the values the transport adapter
    is sent). The default is ``verify`` True or None with no client certificate.
    Otherwise the digest covers ``"insecure"`` for a ``verify`` that turns checking
    off, the path of a CA bundle or folder, and the client certificate's path (or
    certificate and key paths). Paths reach the key only through the digest.
    """
    trust = _trust_part(verify)
    client = _client_cert_part(cert)
    if trust is None and client is None:
        return ""
    return digest(["tls", trust, client])


def _path(value: object) -> str | None:
    if isinstance(value, (str, bytes, os.PathLike)):
        return os.fsdecode(value)
    return None


def _trust_part(verify: object) -> object:
    if verify is None or verify is True:
        return None
    path = _path(verify)
    if path:
        return ["ca", path]
    if not verify:  # False, and what requests takes for it ("", 0)
        return "insecure"
    return ["other", type(verify).__qualname__, repr(verify)]


def _client_cert_part(cert: object) -> object:
    if not cert:
        return None
    path = _path(cert)
    if path is not None:
        return ["cert", path]
    if isinstance(cert, (tuple, list)):
        paths = [None if item is None else _path(item) or repr(item) for item in cert]
        while len(paths) > 1 and paths[-1] is None:  # (cert, None) is the cert alone
            paths.pop()
        return ["cert", *paths]
    return ["other", type(cert).__qualname__, repr(cert)]


def create_key(
    request: Request | Any,
    *,
    ignored_parameters: Iterable[str] | None = DEFAULT_IGNORED_PARAMETERS,
    match_headers: bool | Collection[str] = False,
    body_methods: Collection[str] | None = None,
    tls: str = "",
) -> str:
    """The primary cache key of a request (see the module text).

    ``request`` is a ``Request`` or a ``requests.PreparedRequest``. The body is part
    of the key for every method that sends one, as requests-cache keys it; the old
    ``body_methods`` (the methods whose body was keyed) raises ``ConfigurationError``,
    as the key would not be the cache's. ``ignored_parameters=None`` ignores nothing.
    ``tls`` is ``tls_fingerprint(verify, cert)``; when it is ``""`` (requests'
    defaults) the key is the same as without it.
    """
    if body_methods is not None:
        raise ConfigurationError(
            "body_methods is no longer an option of create_key: the body of every "
            "method is part of the key"
        )
    if not isinstance(request, Request):
        from ._convert import request_from_prepared

        request = request_from_prepared(request)
    ignored = tuple(ignored_parameters or ())
    ignored_headers, ignored_params = split_ignored(ignored)
    body, content_type = _key_body(request, ignored_params)
    url = normalize_url(request.url, ignored_params)
    fingerprint = credential_fingerprint(request.headers, shared_credentials(ignored))
    if ignored == DEFAULT_IGNORED_PARAMETERS:
        fingerprint = _with_credential_parameters(request, url, body, fingerprint)
    parts: list[object] = [
        request.method.upper(),
        url,
        body,
        matched_header_values(request.headers, match_headers, ignored_headers, content_type),
        fingerprint,
    ]
    if tls:
        parts.append(tls)
    return digest(parts)


def _with_credential_parameters(request: Request, url: str, body: object, fingerprint: str) -> str:
    """``fingerprint``, extended by the credential parameters of the query and the
    body when there are any (``url`` and ``body``: the key's parts without them).

    The default list leaves them out of the URL and body parts only so that they are
    not kept in clear; a response fetched with one token must still never answer a
    request with another. Only a caller's own ``ignored_parameters`` naming them says
    they do not change the response.
    """
    raw_url = request.url
    # The query as urlsplit gives it (the parse normalize_url remembered, for a URL
    # without surrounding whitespace, which urlsplit would keep and strip() does not).
    stripped = raw_url.strip() is raw_url
    query = (_url_parts(raw_url).query if stripped else urlsplit(raw_url).query).lower()
    raw = (request.body or b"").lower()
    if not (query or raw) or not any(
        name in query or name.encode() in raw for name in CREDENTIAL_PARAMETERS
    ):  # the common case, decided without parsing
        return fingerprint
    with_url = normalize_url(request.url, _DEFAULT_WITHOUT_CREDENTIALS)
    with_body = _key_body(request, _DEFAULT_WITHOUT_CREDENTIALS)[0] if raw else b""
    if with_url == url and with_body == body:
        return fingerprint
    return digest(["credential parameters", fingerprint, with_url, with_body])


def variant_key(primary_key: str, vary: Sequence[tuple[str, str]]) -> str:
    """The storage key of one Vary variant; the primary key itself when nothing varies."""
    return primary_key if not vary else digest([primary_key, [list(pair) for pair in vary]])


def redact_request(request: Request, ignored_parameters: Iterable[str]) -> Request:
    """The request as it may be stored: secrets replaced by ``REDACTED``."""
    ignored_headers, ignored_params = split_ignored(ignored_parameters)
    hidden = _hidden_headers(ignored_headers)
    headers = request.headers
    if headers.has_any(hidden):
        headers = Headers._of(
            tuple(
                [
                    (name, REDACTED if name.lower() in hidden else value)
                    for name, value in headers.fields()
                ]
            )
        )
    body = request.body
    if body:
        body = normalize_body(request, ignored_params, redact=True)
    return Request(
        method=request.method.upper(),
        url=normalize_url(request.url, ignored_params, redact=True),
        headers=headers,
        body=body,
    )


@functools.lru_cache(maxsize=64)
def _hidden_headers(ignored_headers: frozenset[str]) -> frozenset[str]:
    """The request fields ``redact_request`` replaces: the caller's and credentials."""
    return ignored_headers | frozenset(CREDENTIAL_HEADERS)


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
