"""``requests``/``urllib3`` objects to our models and back.

The only module that knows how ``requests`` and ``urllib3`` represent messages.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from http.client import HTTPMessage
from typing import Any, BinaryIO

import requests
from requests.cookies import MockRequest, MockResponse
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3 import HTTPResponse
from urllib3._collections import HTTPHeaderDict
from urllib3.response import DeflateDecoder, GzipDecoder, GzipDecoderState, MultiDecoder

from .models import Entry, Headers, Request, Response
from .policy.actions import CacheStatus

#: Fields describing the body's framing on the wire; a body served from storage is
#: already decoded and complete, so urllib3 must not see them when reading it.
FRAMING_FIELDS = ("content-encoding", "content-length", "transfer-encoding")


def request_from_prepared(prepared: requests.PreparedRequest) -> Request:
    body = prepared.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif body is not None and not isinstance(body, bytes):
        body = None  # a file or generator: it cannot be keyed on or stored
    headers = prepared.headers
    # requests' own CaseInsensitiveDict keeps (name as set, value) pairs in _store:
    # read them as they are, not by a lookup per name as items() does.
    pairs = headers._store.values() if type(headers) is CaseInsensitiveDict else headers.items()
    fields = tuple(
        [(k if type(k) is str else str(k), v if type(v) is str else _text(v)) for k, v in pairs]
    )
    return Request(
        method=(prepared.method or "GET").upper(),
        url=prepared.url or "",
        headers=_request_headers(fields),
        body=body,
    )


#: Request heads made lately, by their field lines: the requests of a session mostly
#: carry the same fields, so the entries stored share one ``Headers`` (in the memory
#: backend and the memos, a few hundred bytes per entry). Emptied when full, so that
#: unique fields (a request id, say) do not keep the usual ones out for long.
_REQUEST_HEADERS: dict[tuple[tuple[str, str], ...], Headers] = {}
_REQUEST_HEADERS_MAX = 256


def _request_headers(fields: tuple[tuple[str, str], ...]) -> Headers:
    headers = _REQUEST_HEADERS.get(fields)
    if headers is None:
        if len(_REQUEST_HEADERS) >= _REQUEST_HEADERS_MAX:
            _REQUEST_HEADERS.clear()
        headers = _REQUEST_HEADERS[fields] = Headers._of(fields)
    return headers


def _text(value: str | bytes) -> str:
    """A header value as text; requests also takes bytes (sent as latin-1 on the wire)."""
    return value if isinstance(value, str) else value.decode("latin-1")


def body_is_stream(prepared: requests.PreparedRequest) -> bool:
    """Whether the body can be read only once (a file, a generator): it cannot be keyed."""
    body = prepared.body
    return body is not None and not isinstance(body, bytes | str)


def response_from_urllib3(raw: HTTPResponse, url: str) -> Response:
    """A response head from urllib3's response, every field line kept."""
    return Response(
        status=raw.status,
        headers=Headers(_field_lines(raw.headers)),
        reason=raw.reason or "",
        url=url,
        version=getattr(raw, "version", 11) or 11,
    )


def _field_lines(headers: Any) -> Any:
    """Every field line of urllib3's headers (``iteritems`` of its HTTPHeaderDict is
    what ``items()`` iterates, without the view)."""
    return headers.iteritems() if type(headers) is HTTPHeaderDict else headers.items()


def decoded_completely(raw: Any) -> bool:
    """False if the body's content coding stopped before its end (RFC 9110 §8.4.1).

    A gzip or deflate stream cut short, sent without Content-Length and ended by the
    connection closing, reads without an error (urllib3 hands out what it could
    decode, as plain ``requests`` does); only the decoder knows it never saw the
    stream's end. Such a body is incomplete and must not be stored (RFC 9111 §3.3).
    """
    if not raw.tell():  # nothing came (HEAD, 204, empty body): nothing to decode
        return True
    return _decoder_done(getattr(raw, "_decoder", None))


def _decoder_done(decoder: Any) -> bool:
    if decoder is None:
        return True
    if isinstance(decoder, MultiDecoder):
        return all(_decoder_done(d) for d in decoder._decoders)
    if isinstance(decoder, GzipDecoder):
        # Past a complete member, trailing garbage is tolerated (SWALLOW_DATA).
        return decoder._obj.eof or decoder._state == GzipDecoderState.SWALLOW_DATA
    if isinstance(decoder, DeflateDecoder):
        return decoder._obj.eof
    return bool(getattr(getattr(decoder, "_obj", None), "eof", True))  # zstd; brotli: unknown


def with_request_headers(
    prepared: requests.PreparedRequest, extra: tuple[tuple[str, str], ...]
) -> requests.PreparedRequest:
    """A copy of the request with these header fields set (conditional requests)."""
    copy = prepared.copy()
    for name, value in extra:
        copy.headers[name] = value
    return copy


def build_response(
    prepared: requests.PreparedRequest,
    response: Response,
    body: BinaryIO | bytes,
    connection: Any = None,
    hide_fields: tuple[str, ...] = (),
) -> requests.Response:
    """A ``requests.Response`` that reads its body from ``body`` (already decoded).

    Given bytes, the body is already read, as ``requests`` leaves a response that is
    not streamed: ``content`` holds it and ``raw`` is exhausted.
    """
    content: bytes | None = None
    if isinstance(body, bytes):
        content, body = body, io.BytesIO()
    headers = response.headers.without(*hide_fields) if hide_fields else response.headers
    raw = HTTPResponse(
        body=body,
        headers=HTTPHeaderDict(headers.without(*FRAMING_FIELDS).fields()),
        status=response.status,
        reason=response.reason,
        version=response.version,
        preload_content=False,
        decode_content=False,
        request_method=prepared.method,
        request_url=prepared.url,
        enforce_content_length=False,
    )
    result = requests.Response()
    result.status_code = response.status
    result.headers = CaseInsensitiveDict(HTTPHeaderDict(headers.fields()))
    result.encoding = get_encoding_from_headers(result.headers)
    result.raw = raw
    if content is not None:
        result._content = content
        result._content_consumed = True
    result.reason = response.reason
    result.url = prepared.url or response.url
    result.request = prepared
    result.connection = connection
    result.elapsed = timedelta(0)
    _extract_cookies(result, prepared, headers)
    return result


def _extract_cookies(
    result: requests.Response, prepared: requests.PreparedRequest, headers: Headers
) -> None:
    cookies = headers.get_all("set-cookie") + headers.get_all("set-cookie2")
    if not cookies:
        return
    message = HTTPMessage()
    for name in ("set-cookie", "set-cookie2"):
        for value in headers.get_all(name):
            message[name] = value
    result.cookies.extract_cookies(
        MockResponse(message),  # type: ignore[arg-type]  # the duck type requests made for it
        MockRequest(prepared),  # type: ignore[arg-type]
    )


def _as_datetime(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def annotate(
    response: requests.Response,
    *,
    status: CacheStatus,
    key: str | None,
    entry: Entry | None,
    from_cache: bool,
    revalidated: bool = False,
    now: float,
) -> requests.Response:
    """Set the attributes every response from a cached session has (the contract)."""
    response.from_cache = from_cache  # type: ignore[attr-defined]
    response.cache_status = status  # type: ignore[attr-defined]
    response.cache_key = key  # type: ignore[attr-defined]
    response.revalidated = revalidated  # type: ignore[attr-defined]
    response.created_at = _as_datetime(entry.created_at) if entry else None  # type: ignore[attr-defined]
    response.expires = _as_datetime(entry.expires) if entry else None  # type: ignore[attr-defined]
    response.is_expired = bool(entry and entry.is_expired_at(now))  # type: ignore[attr-defined]
    return response


def gateway_timeout(prepared: requests.PreparedRequest, connection: Any) -> requests.Response:
    """The 504 of RFC 9111 §5.2.1.7 for only-if-cached without a usable entry."""
    head = Response(504, Headers({"Content-Length": "0"}), "Gateway Timeout", prepared.url or "")
    return build_response(prepared, head, b"", connection)
