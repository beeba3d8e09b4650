"""normalize_url's own split of a plain URL gives what urlsplit gives."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from httpcache import keys
from httpcache.keys import normalize_url


def _url_parts_by_urlsplit(url: str) -> tuple[object, ...]:
    """What ``keys._url_parts`` gives, computed by urlsplit alone (its general path)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = (
        host if port is None or {"http": 80, "https": 443}.get(scheme) == port else f"{host}:{port}"
    )
    pairs = tuple(parse_qsl(parts.query, keep_blank_values=True))
    path = parts.path or "/"
    bare = urlunsplit((scheme, netloc, path, "", ""))
    return scheme, netloc, bool(parts.username or parts.password), path, parts.query, pairs, bare


URL_TEXT = "aZ09.-_~%@[]:;=&+?#/ \t\né\x00\x7f"


@settings(max_examples=400)
@given(
    st.sampled_from(["http", "HTTPS", "hTtP", "https", "ftp", "http2", "", " http", "\x01http"]),
    st.sampled_from(["://", ":/", "//", ":", ":///"]),
    st.one_of(
        st.sampled_from(["example.com", "EXAMPLE.Com", "127.0.0.1", "a-b.c.", "h"]),
        st.text(URL_TEXT, max_size=8),
    ),
    st.sampled_from(
        ["", ":", ":80", ":443", ":0", ":0080", ":65535", ":65536", ":99999", ":123456", ":8a"]
    ),
    st.text(URL_TEXT, max_size=12),
)
def test_plain_url_parse_is_urlsplits(
    scheme: str, sep: str, host: str, port: str, rest: str
) -> None:
    url = f"{scheme}{sep}{host}{port}{rest}"
    plain = keys._PLAIN_URL.fullmatch(url.strip())
    try:
        expected: object = _url_parts_by_urlsplit(url)
    except ValueError as exc:
        expected = type(exc)
    try:
        got: object = tuple(keys._url_parts.__wrapped__(url))
    except ValueError as exc:
        got = type(exc)
    assert got == expected, (url, plain is not None)
    if not isinstance(expected, type):
        for ignored, redact in (((), False), (("a", "Z"), True), (("token",), False)):
            old_query = urlencode(
                keys._normalize_pairs(
                    parse_qsl(urlsplit(url.strip()).query, keep_blank_values=True),
                    keys.always_redacted(ignored) if redact else ignored,
                    redact,
                ),
                quote_via=quote,
                safe="/:",
            )
            scheme_, netloc, has_user, path = expected[:4]  # type: ignore[index]
            if has_user and redact:
                netloc = f"{keys.REDACTED}@{netloc}"
            old = urlunsplit((scheme_, netloc, path, old_query, ""))
            assert normalize_url(url, ignored, redact) == old
