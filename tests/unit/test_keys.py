"""Cache keys (RFC 9111 §4.1 and §2), URL and body normalization, redaction, Vary values."""

from __future__ import annotations

import json
import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgpack
import pytest
import requests
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from urllib3 import encode_multipart_formdata

from httpcache import ConfigurationError
from httpcache._convert import request_from_prepared
from httpcache.keys import (
    CREDENTIAL_HEADERS,
    DEFAULT_IGNORED_PARAMETERS,
    REDACTED,
    _parse_multipart,
    body_key_part,
    create_key,
    digest,
    normalize_body,
    normalize_url,
    redact_request,
    tls_fingerprint,
    variant_key,
    vary_values,
)
from httpcache.models import Headers, Request

URL = "https://api.test/v1/items"
SECRET = "s3cr3t-SENTINEL-9f8e7d"
FORM = "application/x-www-form-urlencoded"


def req(
    method: str = "GET",
    url: str = URL,
    headers: dict[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes | None = None,
) -> Request:
    return Request(method, url, Headers(headers), body)


def key(request: Request, **options: object) -> str:
    return create_key(request, **options)  # type: ignore[arg-type]


# ---- the primary key ------------------------------------------------------------------


def test_same_request_same_key() -> None:
    assert key(req()) == key(req())
    assert len(key(req())) == 32 and all(c in string.hexdigits for c in key(req()))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # query parameter order is irrelevant
        ("https://api.test/p?a=1&b=2", "https://api.test/p?b=2&a=1"),
        # host and scheme are case-insensitive (RFC 3986 §6.2.2.1)
        ("https://API.Test/p", "https://api.test/p"),
        ("HTTPS://api.test/p", "https://api.test/p"),
        # the default port is the same as none (RFC 3986 §6.2.3)
        ("https://api.test:443/p", "https://api.test/p"),
        ("http://api.test:80/p", "http://api.test/p"),
        # an empty path is "/" (RFC 9110 §4.2.3)
        ("https://api.test", "https://api.test/"),
        # the fragment is never sent, so it is not part of the key
        ("https://api.test/p#section", "https://api.test/p"),
        ("https://api.test/p?a=1#x", "https://api.test/p?a=1"),
        # '+' and '%20' are both a space in a query
        ("https://api.test/p?q=a+b", "https://api.test/p?q=a%20b"),
    ],
)
def test_equivalent_urls_share_a_key(a: str, b: str) -> None:
    assert key(req(url=a)) == key(req(url=b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://api.test/p", "http://api.test/p"),
        ("https://api.test/p", "https://api.test:8443/p"),
        ("http://api.test:443/p", "http://api.test/p"),
        ("https://api.test/p", "https://api.test/P"),  # paths are case-sensitive
        ("https://api.test/p?a=1", "https://api.test/p?a=2"),
        ("https://api.test/p?a=1", "https://api.test/p"),
        ("https://api.test/p?a=1&a=2", "https://api.test/p?a=1"),
        ("https://api.test/p?a=1%262", "https://api.test/p?a=1&2"),
        ("https://api.test/p", "https://api.test/p/"),
    ],
)
def test_different_urls_have_different_keys(a: str, b: str) -> None:
    assert key(req(url=a)) != key(req(url=b))


def test_method_matters() -> None:
    assert key(req("GET")) != key(req("HEAD"))
    assert key(req("GET")) != key(req("POST"))
    assert key(req("get")) == key(req("GET"))


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "QUERY"])
def test_body_matters_for_every_method(method: str) -> None:
    a = req(method, body=b"one")
    b = req(method, body=b"two")
    assert key(a) != key(b)
    assert key(a) != key(req(method))
    assert key(a) == key(req(method, body=b"one"))


@pytest.mark.parametrize("opted_in", [(), {"PUT"}, {"POST"}, {"GET", "HEAD"}])
def test_body_methods_is_refused_naming_it(opted_in: object) -> None:
    # Every method's body is keyed: a key computed as if not would not be the cache's.
    with pytest.raises(ConfigurationError, match="body_methods"):
        key(req("POST", body=b"one"), body_methods=opted_in)


def test_ignored_parameters_none_ignores_nothing() -> None:
    a = req(url="https://api.test/p?q=1&api_key=a")
    b = req(url="https://api.test/p?q=1&api_key=b")
    assert key(a, ignored_parameters=None) == key(a, ignored_parameters=())
    assert key(a, ignored_parameters=None) != key(b, ignored_parameters=None)
    assert key(a, ignored_parameters=["api_key"]) == key(b, ignored_parameters=["api_key"])


def test_no_body_and_empty_body_are_the_same() -> None:
    assert key(req("POST", body=None)) == key(req("POST", body=b""))


@pytest.mark.parametrize("content_type", ["application/json", "application/vnd.api+json"])
def test_json_body_key_order_is_irrelevant(content_type: str) -> None:
    headers = {"Content-Type": f"{content_type}; charset=utf-8"}
    a = req("POST", headers=headers, body=b'{"a": 1, "b": {"x": [1, 2], "y": null}}')
    b = req("POST", headers=headers, body=b'{"b":{"y":null,"x":[1,2]},"a":1}')
    c = req("POST", headers=headers, body=b'{"b":{"y":null,"x":[2,1]},"a":1}')  # list order
    assert key(a) == key(b)
    assert key(a) != key(c)


def test_form_body_order_is_irrelevant() -> None:
    headers = {"Content-Type": FORM}
    a = req("POST", headers=headers, body=b"a=1&b=2&c=3")
    b = req("POST", headers=headers, body=b"c=3&a=1&b=2")
    c = req("POST", headers=headers, body=b"c=3&a=1&b=4")
    assert key(a) == key(b)
    assert key(a) != key(c)


def test_invalid_json_body_is_keyed_as_bytes() -> None:
    headers = {"Content-Type": "application/json"}
    a = req("POST", headers=headers, body=b"{not json")
    b = req("POST", headers=headers, body=b"{not json!")
    assert key(a) != key(b)
    assert normalize_body(a) == b"{not json"


def test_deeply_nested_json_body_does_not_crash_the_key() -> None:
    headers = {"Content-Type": "application/json"}
    deep = req("POST", headers=headers, body=b"[" * 100_000 + b"]" * 100_000)
    other = req("POST", headers=headers, body=b"[" * 100_000 + b"]" * 99_999)
    assert key(deep) != key(other)


# ---- ignored_parameters ---------------------------------------------------------------


def test_ignored_query_parameters_are_left_out_of_the_key() -> None:
    a = req(url="https://api.test/p?q=1&token=abc")
    b = req(url="https://api.test/p?token=xyz&q=1")
    c = req(url="https://api.test/p?q=1")
    assert key(a, ignored_parameters=["token"]) == key(b, ignored_parameters=["token"])
    assert key(a, ignored_parameters=["token"]) == key(c, ignored_parameters=["token"])
    assert key(a, ignored_parameters=[]) != key(b, ignored_parameters=[])


def test_default_credential_parameters_partition_the_key() -> None:
    # Left out of what is stored, but a response fetched with one token never answers
    # another (a digest of them is part of the key); named by the caller, they are shared.
    a = req(url="https://api.test/p?q=1&api_key=one&access_token=t1")
    b = req(url="https://api.test/p?q=1&api_key=two&access_token=t2")
    same = req(url="https://api.test/p?ACCESS_TOKEN=t1&api_key=one&q=1")
    assert key(a) != key(b)
    assert key(a) != key(req(url="https://api.test/p?q=1"))
    assert key(same) != key(b)
    named = {"ignored_parameters": ["api_key", "access_token"]}
    assert key(a, **named) == key(b, **named) == key(req(url="https://api.test/p?q=1"), **named)


def test_credential_parameters_in_clear_only_in_the_digest() -> None:
    # Whatever the caller's list, the stored request carries no credential value.
    a = req(url=f"https://api.test/p?q=1&token={SECRET}")
    for ignored in (DEFAULT_IGNORED_PARAMETERS, ["utm_source"], []):
        redacted = redact_request(a, ignored)
        assert redacted.url == f"https://api.test/p?q=1&token={REDACTED}"


def test_ignored_names_are_matched_case_insensitively() -> None:
    a = req(url="https://api.test/p?Token=1&q=1")
    b = req(url="https://api.test/p?TOKEN=2&q=1")
    assert key(a, ignored_parameters=["token"]) == key(b, ignored_parameters=["token"])
    redacted = redact_request(req(url="https://api.test/p?Access_Token=s3cret"), ["access_token"])
    assert "s3cret" not in redacted.url and f"Access_Token={REDACTED}" in redacted.url


@pytest.mark.parametrize(
    "name",
    [
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
    ],
)
def test_the_default_list_redacts_common_credential_names_in_any_case(name: str) -> None:
    secret = "S3CRET-VALUE"
    for spelled in (name, name.upper(), name.title()):
        query = req(url=f"https://api.test/p?{spelled}={secret}&q=1")
        form = req(
            method="POST",
            url="https://api.test/p",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=f"{spelled}={secret}&q=1".encode(),
        )
        document = req(
            method="POST",
            url="https://api.test/p",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"outer": {spelled: secret}, "q": 1}).encode(),
        )
        for original in (query, form, document):
            stored = redact_request(original, DEFAULT_IGNORED_PARAMETERS)
            assert secret not in repr(stored), (spelled, original)
            assert REDACTED in repr(stored)


def test_ignored_json_body_fields_are_left_out_of_the_key() -> None:
    headers = {"Content-Type": "application/json"}
    a = req("POST", headers=headers, body=json.dumps({"q": 1, "nonce": 5}).encode())
    b = req("POST", headers=headers, body=json.dumps({"nonce": 6, "q": 1}).encode())
    options = {"ignored_parameters": ["nonce"]}
    assert key(a, **options) == key(b, **options)
    assert key(a) != key(b)


def test_ignored_form_body_fields_are_left_out_of_the_key() -> None:
    headers = {"Content-Type": FORM}
    a = req("POST", headers=headers, body=b"q=1&nonce=5")
    b = req("POST", headers=headers, body=b"nonce=6&q=1")
    options = {"ignored_parameters": ["nonce"]}
    assert key(a, **options) == key(b, **options)


def test_ignored_headers_are_left_out_case_insensitively() -> None:
    a = req(headers={"Accept": "text/html", "X-Request-ID": "1"})
    b = req(headers={"Accept": "text/html", "x-request-id": "2"})
    assert key(a, match_headers=True, ignored_parameters=["X-REQUEST-ID"]) == key(
        b, match_headers=True, ignored_parameters=["X-REQUEST-ID"]
    )
    assert key(a, match_headers=True, ignored_parameters=[]) != key(
        b, match_headers=True, ignored_parameters=[]
    )


# ---- match_headers ----------------------------------------------------------------------


def test_headers_do_not_matter_by_default() -> None:
    assert key(req(headers={"Accept": "a"})) == key(req(headers={"Accept": "b"}))


def test_match_headers_true_uses_every_header() -> None:
    a = req(headers={"Accept": "text/html"})
    b = req(headers={"Accept": "application/json"})
    c = req(headers={"accept": "text/html"})
    assert key(a, match_headers=True) != key(b, match_headers=True)
    assert key(a, match_headers=True) == key(c, match_headers=True)
    assert key(a, match_headers=True) != key(req(), match_headers=True)


def test_match_headers_list_uses_only_those_headers() -> None:
    a = req(headers={"Accept": "text/html", "User-Agent": "one"})
    b = req(headers={"Accept": "text/html", "User-Agent": "two"})
    c = req(headers={"Accept": "application/json", "User-Agent": "one"})
    assert key(a, match_headers=["accept"]) == key(b, match_headers=["accept"])
    assert key(a, match_headers=["ACCEPT"]) != key(c, match_headers=["ACCEPT"])


# ---- credentials --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Authorization", "Proxy-Authorization", "X-API-Key", "x-api-key"])
@pytest.mark.parametrize("ignored", [DEFAULT_IGNORED_PARAMETERS, ["api_key"], []])
def test_credentials_partition_the_key_even_when_ignored(name: str, ignored: Iterable[str]) -> None:
    alice = req(headers={name: "Bearer alice"})
    bob = req(headers={name: "Bearer bob"})
    anonymous = req()
    keys = {key(r, ignored_parameters=ignored) for r in (alice, bob, anonymous)}
    assert len(keys) == 3
    assert key(alice, ignored_parameters=ignored) == key(
        req(headers={name: "Bearer alice"}), ignored_parameters=ignored
    )


@pytest.mark.parametrize("name", ["Authorization", "X-API-Key", "x-api-key"])
def test_a_credential_named_in_the_callers_own_ignored_parameters_leaves_the_key(
    name: str,
) -> None:
    ignored = ["X-API-Key", "Authorization"]
    alice = req(headers={name: "Bearer alice"})
    bob = req(headers={name: "Bearer bob"})
    assert key(alice, ignored_parameters=ignored) == key(bob, ignored_parameters=ignored)
    assert key(alice, ignored_parameters=ignored) == key(req(), ignored_parameters=ignored)
    proxy = req(headers={"Proxy-Authorization": "Basic x"})  # not named: still partitions
    assert key(proxy, ignored_parameters=ignored) != key(req(), ignored_parameters=ignored)


def test_credentials_partition_the_key_with_match_headers() -> None:
    alice = req(headers={"Authorization": "Bearer alice"})
    bob = req(headers={"Authorization": "Bearer bob"})
    assert key(alice, match_headers=True) != key(bob, match_headers=True)
    assert key(alice, match_headers=["Accept"]) != key(bob, match_headers=["Accept"])


def test_a_prepared_request_is_keyed_like_the_model() -> None:
    prepared = requests.Request(
        "GET", "https://API.test/v1/items?b=2&a=1", headers={"Authorization": "Bearer x"}
    ).prepare()
    model = req(url="https://api.test/v1/items?a=1&b=2", headers={"Authorization": "Bearer x"})
    assert create_key(prepared) == key(model)


# ---- redaction ------------------------------------------------------------------------------


def assert_secret_absent(request: Request) -> None:
    assert SECRET not in request.url
    for name, value in request.headers.fields():
        assert SECRET not in name
        assert SECRET not in value
    assert SECRET.encode() not in (request.body or b"")
    assert SECRET not in repr(request)


@pytest.mark.parametrize("name", ["Authorization", "Proxy-Authorization", "X-API-Key", "x-api-key"])
@pytest.mark.parametrize("ignored", [DEFAULT_IGNORED_PARAMETERS, [], ["Accept"]])
def test_credential_headers_are_always_redacted(name: str, ignored: Iterable[str]) -> None:
    original = req(headers={"Accept": "*/*", name: f"Bearer {SECRET}"})
    redacted = redact_request(original, ignored)
    assert_secret_absent(redacted)
    assert redacted.headers[name] == REDACTED
    # the header stays, showing that it was there
    assert [n.lower() for n in redacted.headers] == ["accept", name.lower()]


def test_credential_headers_repeated_are_all_redacted() -> None:
    original = req(headers=[("Authorization", SECRET), ("Authorization", SECRET + "2")])
    assert_secret_absent(redact_request(original, []))


@pytest.mark.parametrize(
    "original",
    [
        req(headers={"Cookie": f"session={SECRET}"}),
        req(url=f"https://api.test/p?q=1&api_key={SECRET}"),
        req(url=f"https://api.test/p?access_token={SECRET}#frag"),
        req(url=f"https://user:{SECRET}@api.test/p"),
        req(url=f"https://{SECRET}@api.test/p"),
        req(
            "POST",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"user": "u", "password": SECRET}).encode(),
        ),
        req(
            "POST",
            headers={"Content-Type": "application/json"},
            body=json.dumps([{"nested": {"client_secret": SECRET}}]).encode(),
        ),
        req("POST", headers={"Content-Type": FORM}, body=f"user=u&password={SECRET}".encode()),
    ],
    ids=["cookie", "query", "query-fragment", "userinfo", "user", "json", "json-nested", "form"],
)
def test_default_ignored_secrets_are_redacted(original: Request) -> None:
    redacted = redact_request(original, DEFAULT_IGNORED_PARAMETERS)
    assert_secret_absent(redacted)
    assert (
        REDACTED in redacted.url
        or REDACTED in str(redacted.headers)
        or (REDACTED.encode() in (redacted.body or b""))
    )


@pytest.mark.parametrize(
    "body", [f"password={SECRET}&", f"password={SECRET}&flag", f"a=1&&password={SECRET}"]
)
def test_form_secrets_are_redacted_from_loosely_formed_bodies(body: str) -> None:
    original = req("POST", headers={"Content-Type": FORM}, body=body.encode())
    assert_secret_absent(redact_request(original, DEFAULT_IGNORED_PARAMETERS))


def test_redaction_keeps_everything_else() -> None:
    original = req(
        "post",
        url="https://API.test/p?b=2&a=1&api_key=k",
        headers={"Accept": "text/html", "Authorization": "Basic x"},
        body=b"raw body",
    )
    redacted = redact_request(original, DEFAULT_IGNORED_PARAMETERS)
    assert redacted.method == "POST"
    assert redacted.url == f"https://api.test/p?a=1&api_key={REDACTED}&b=2"
    assert redacted.headers["Accept"] == "text/html"
    assert redacted.body == b"raw body"


def test_a_request_without_credentials_keeps_its_key_when_redacted() -> None:
    original = req(url="https://api.test/p?b=2&a=1", headers={"Accept": "text/html"})
    assert key(original) == key(redact_request(original, DEFAULT_IGNORED_PARAMETERS))


def test_credential_header_names_are_lower_case() -> None:
    assert all(name == name.lower() for name in CREDENTIAL_HEADERS)


# ---- no collisions by moving bytes between parts --------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "options"),
    [
        (
            req("POST", url="https://api.test/a", body=b"bc"),
            req("POST", url="https://api.test/ab", body=b"c"),
            {},
        ),
        (
            req("POST", url="https://api.test/a", body=b"?x=1"),
            req("POST", url="https://api.test/a?x=1", body=b""),
            {},
        ),
        (
            req("GET", url="https://api.test/a"),
            req("GETh", url="ttps://api.test/a"),
            {},
        ),
        (
            req(headers={"A": "1, B: 2"}),
            req(headers={"A": "1", "B": "2"}),
            {"match_headers": True},
        ),
        (
            req(headers={"A": "1\x00B\x002"}),
            req(headers={"A": "1", "B": "2"}),
            {"match_headers": True},
        ),
        (
            req(headers={"A": "1", "B": "2"}),
            req(headers={"A": "1B2"}),
            {"match_headers": True},
        ),
        (
            req(headers={"Authorization": "a", "X-API-Key": "b"}),
            req(headers={"Authorization": "ab"}),
            {},
        ),
        (
            req(url="https://api.test/p?a=1&b=2"),
            req(url="https://api.test/p?a=1%26b%3D2"),
            {},
        ),
    ],
    ids=[
        "url-body",
        "query-body",
        "method-url",
        "header-comma",
        "header-nul",
        "header-join",
        "credential-join",
        "query-escape",
    ],
)
def test_naive_concatenations_do_not_collide(
    a: Request, b: Request, options: dict[str, Any]
) -> None:
    assert key(a, **options) != key(b, **options)


methods = st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=8)
paths = st.text(alphabet=string.ascii_letters + string.digits + "-._~/%!$'()*+,;=:@", max_size=20)
bodies = st.binary(min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(st.tuples(methods, paths, bodies), st.tuples(methods, paths, bodies))
def test_different_method_path_body_give_different_keys(
    first: tuple[str, str, bytes], second: tuple[str, str, bytes]
) -> None:
    assume(first != second)
    keys = [key(req(m, "https://api.test/" + p, body=b)) for m, p, b in (first, second)]
    assert keys[0] != keys[1]


@settings(max_examples=100, deadline=None)
@given(methods, paths, bodies)
def test_equal_requests_give_equal_keys(method: str, path: str, body: bytes) -> None:
    a = req(method, "https://api.test/" + path, body=body)
    b = req(method, "https://api.test/" + path, body=bytes(body))
    assert key(a) == key(b)


# ---- normalize_url ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://Example.COM:443/a/B?z=1&a=2#f", "https://example.com/a/B?a=2&z=1"),
        ("http://example.com:8080", "http://example.com:8080/"),
        ("http://[::1]:80/x", "http://[::1]/x"),
        ("http://example.com/?a=&b", "http://example.com/?a=&b="),
        ("  http://example.com/p  ", "http://example.com/p"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


# ---- Vary values (RFC 9111 §4.1) -------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        [("Accept-Encoding", "gzip, deflate")],
        [("Accept-Encoding", "gzip,deflate")],
        [("accept-encoding", "  gzip ,   deflate  ")],
        [("Accept-Encoding", "gzip"), ("Accept-Encoding", "deflate")],  # combined lines
        [("Accept-Encoding", "gzip,\tdeflate")],
    ],
)
def test_vary_values_normalize_whitespace_and_field_lines_rfc9111_4_1(
    fields: list[tuple[str, str]],
) -> None:
    reference = vary_values(Headers({"Accept-Encoding": "gzip, deflate"}), ["Accept-Encoding"])
    assert vary_values(Headers(fields), ["accept-encoding"]) == reference


def test_vary_values_keep_different_values_apart() -> None:
    names = ["Accept-Encoding"]
    assert vary_values(Headers({"Accept-Encoding": "gzip"}), names) != vary_values(
        Headers({"Accept-Encoding": "br"}), names
    )
    assert vary_values(Headers({"Accept-Encoding": "gzip, br"}), names) != vary_values(
        Headers({"Accept-Encoding": "br, gzip"}), names
    )


def test_vary_values_absent_and_empty_differ_rfc9111_4_1() -> None:
    absent = vary_values(Headers(), ["Accept"])
    empty = vary_values(Headers({"Accept": ""}), ["Accept"])
    assert absent == (("accept", ""),)
    assert absent != empty


def test_vary_values_names_are_lower_cased_sorted_and_unique() -> None:
    headers = Headers({"B": "2", "A": "1"})
    values = vary_values(headers, ["b", " A ", "a", "B", ""])
    assert [name for name, _ in values] == ["a", "b"]
    assert values == vary_values(headers, ["A", "B"])


@pytest.mark.parametrize("name", ["Authorization", "Proxy-Authorization", "X-API-Key"])
def test_vary_on_credentials_keeps_only_a_digest(name: str) -> None:
    mine = vary_values(Headers({name: f"Bearer {SECRET}"}), [name])
    theirs = vary_values(Headers({name: "Bearer other"}), [name])
    assert SECRET not in repr(mine)
    assert mine != theirs
    assert mine == vary_values(Headers({name.upper(): f"Bearer {SECRET}"}), [name])


def test_vary_on_caller_named_sensitive_fields_keeps_only_a_digest() -> None:
    values = vary_values(Headers({"Cookie": f"sid={SECRET}"}), ["Cookie"], sensitive={"cookie"})
    assert SECRET not in repr(values)
    plain = vary_values(Headers({"Cookie": f"sid={SECRET}"}), ["Cookie"])
    assert SECRET in repr(plain)  # not sensitive unless named


def test_variant_key() -> None:
    primary = key(req())
    assert variant_key(primary, ()) == primary
    gzip = variant_key(primary, (("accept-encoding", "=gzip"),))
    br = variant_key(primary, (("accept-encoding", "=br"),))
    assert len({primary, gzip, br}) == 3
    assert gzip == variant_key(primary, (("accept-encoding", "=gzip"),))


# ---- keys that must not change (stored caches and the CLI's fast path hold them) ---------


def prepared_key(
    method: str = "GET",
    url: str = URL,
    *,
    verify: object = None,
    cert: object = None,
    options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> str:
    """The key of a request as ``requests`` prepares it, sent with these TLS settings."""
    prepared = requests.Request(method, url, **kwargs).prepare()
    options = {"tls": tls_fingerprint(verify, cert), **(options or {})}
    return create_key(request_from_prepared(prepared), **options)


#: Computed with the code before the body became part of every method's key and TLS
#: settings joined it. A change here orphans every entry already stored.
PINNED_KEYS = [
    ("GET", "https://api.test/v1/items?b=2&a=1", {}, {}, "88d6fcaa4dcf545fde8d68d30de0f546"),
    (
        "GET",
        "https://api.test/v1/items?b=2&a=1",
        {"headers": {"Authorization": "Bearer x"}},
        {},
        "035ec1967064851db2cc6ee56952db16",
    ),
    ("HEAD", "http://Example.com:80/", {}, {}, "1f6cb8df5224d42d4185769f6690a1b1"),
    (
        "GET",
        "https://api.test/p",
        {"headers": {"Accept": "text/html"}},
        {"match_headers": ["Accept"]},
        "8c230c818312b1f1e42e7e215e9ebfa8",
    ),
    (
        "GET",
        "https://api.test/v1/items",
        {"params": {"access_token": "t", "q": "x"}},
        {},
        # changed once: a credential parameter now partitions the key (by digest)
        "0039e55ef00d6beb11d41a70b7d230ed",
    ),
    # bodies keep the keys they had when only opted-in methods were keyed
    ("POST", "https://api.test/p", {"data": {"a": "1"}}, {}, "acd84aeb9bf011f4cdcc157669c47e9b"),
    (
        "POST",
        "https://api.test/v1/search",
        {"json": {"q": "cats", "page": 2}},
        {},
        "45c258ea0f7cc6cbfeaed750b2c92f73",
    ),
]


@pytest.mark.parametrize(("method", "url", "kwargs", "options", "expected"), PINNED_KEYS)
def test_pinned_keys_do_not_change(
    method: str, url: str, kwargs: dict[str, Any], options: dict[str, Any], expected: str
) -> None:
    assert prepared_key(method, url, options=options, **kwargs) == expected
    assert prepared_key(method, url, verify=True, options=options, **kwargs) == expected
    assert prepared_key(method, url, options={**options, "tls": ""}, **kwargs) == expected


def test_a_request_without_a_body_keeps_its_documented_key_layout() -> None:
    # method, normalized URL, b"" for the body, match_headers values, credentials
    layout = digest(["GET", "https://api.test/v1/items?a=1&b=2", b"", [], ""])
    assert layout == "88d6fcaa4dcf545fde8d68d30de0f546"
    assert prepared_key("GET", "https://api.test/v1/items?b=2&a=1") == layout


# ---- the body, whatever the method ----------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "DELETE"])
def test_json_bodies_of_every_method_are_keyed(method: str) -> None:
    cats = prepared_key(method, json={"q": "cats"})
    assert cats != prepared_key(method, json={"q": "dogs"})
    assert cats != prepared_key(method)
    assert cats == prepared_key(method, json={"q": "cats"})
    assert cats == prepared_key(
        method, data=b'{ "q" :\n "cats" }', headers={"Content-Type": "application/json"}
    )


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT"])
def test_form_and_raw_bodies_of_every_method_are_keyed(method: str) -> None:
    assert prepared_key(method, data={"q": "cats"}) != prepared_key(method, data={"q": "dogs"})
    assert prepared_key(method, data={"a": "1", "b": "2"}) == prepared_key(
        method, data=[("b", "2"), ("a", "1")]
    )
    assert prepared_key(method, data=b"raw one") != prepared_key(method, data=b"raw two")


def test_an_empty_body_is_no_body() -> None:
    plain = prepared_key("GET")
    assert prepared_key("GET", data={}) == plain
    assert prepared_key("GET", data=b"") == plain
    assert key(req(body=b"")) == key(req(body=None)) == key(req())


def test_a_streamed_body_cannot_be_keyed() -> None:
    # a file or generator is not read to make a key (request_from_prepared drops it)
    streamed = requests.Request("PUT", URL, data=iter([b"a", b"b"])).prepare()
    assert request_from_prepared(streamed).body is None


# ---- multipart/form-data --------------------------------------------------------------------

#: ``files=`` as requests takes them: (name, (filename, content[, content type])).
Files = list[tuple[str, Any]]

UPLOAD_FILES: Files = [
    ("note", (None, b"hello")),
    ("file", ("report.csv", b"a,b\r\n1,2\r\n", "text/csv")),
]


def multipart(
    fields: Files,
    boundary: str = "b0undary",
    method: str = "POST",
) -> Request:
    """A multipart request with a boundary of our choosing (requests picks a random one)."""
    body, content_type = encode_multipart_formdata(fields, boundary=boundary)
    return req(method, headers={"Content-Type": content_type}, body=body)


def test_identical_uploads_share_a_key() -> None:
    first = requests.Request("POST", URL, files=UPLOAD_FILES).prepare()
    second = requests.Request("POST", URL, files=UPLOAD_FILES).prepare()
    assert first.body != second.body  # a new random boundary each time
    assert create_key(first) == create_key(second)
    assert create_key(first, match_headers=True) == create_key(second, match_headers=True)
    assert create_key(first, match_headers=["Content-Type"]) == create_key(
        second, match_headers=["content-type"]
    )


def test_boundaries_of_our_choosing_do_not_matter() -> None:
    keys = {
        key(multipart(UPLOAD_FILES, boundary=b))
        for b in ("x", "form", "data", "b0undary", "a" * 70, "'()+_,-./:=?")
    }
    assert len(keys) == 1


@pytest.mark.parametrize(
    "other",
    [
        [("note", (None, b"hello!")), UPLOAD_FILES[1]],  # content
        [("note", (None, b"hello")), ("file", ("report.csv", b"a,b\r\n1,3\r\n", "text/csv"))],
        [("note", (None, b"hello")), ("file", ("other.csv", b"a,b\r\n1,2\r\n", "text/csv"))],
        [("note", (None, b"hello")), ("file", ("report.csv", b"a,b\r\n1,2\r\n", "text/plain"))],
        [("Note", (None, b"hello")), UPLOAD_FILES[1]],  # field names are case-sensitive
        [("note", ("note", b"hello")), UPLOAD_FILES[1]],  # a file, not a field
        [UPLOAD_FILES[1], ("note", (None, b"hello"))],  # order
        [UPLOAD_FILES[0]],
        [*UPLOAD_FILES, ("note", (None, b"hello"))],
    ],
)
def test_uploads_that_differ_in_their_parts_have_different_keys(other: Files) -> None:
    assert key(multipart(UPLOAD_FILES)) != key(multipart(other))
    assert key(multipart(UPLOAD_FILES, boundary="one")) != key(multipart(other, boundary="two"))


def test_multipart_part_header_names_are_case_insensitive() -> None:
    body = b'--b\r\ncontent-disposition: form-data; name="a"\r\n\r\nv\r\n--b--\r\n'
    other = b'--c\r\nContent-Disposition:form-data; name="a"\r\n\r\nv\r\n--c--\r\n'
    a = req("POST", headers={"Content-Type": "multipart/form-data; boundary=b"}, body=body)
    b = req("POST", headers={"Content-Type": 'multipart/form-data; boundary="c"'}, body=other)
    assert key(a) == key(b)


def test_a_part_header_that_embeds_the_boundary_keys_the_same_whatever_the_boundary() -> None:
    def nested(boundary: str, inner: str) -> Request:
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="a"\r\n'
            f"X-Outer: {boundary}; {inner}\r\n\r\nv\r\n--{boundary}--\r\n"
        ).encode()
        content_type = f"multipart/form-data; boundary={boundary}"
        return req("POST", headers={"Content-Type": content_type}, body=body)

    assert key(nested("one", "x")) == key(nested("two", "x"))
    assert key(nested("one", "x")) != key(nested("one", "y"))


@pytest.mark.parametrize(
    "body",
    [
        b"no delimiter at all",
        b'preamble\r\n--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--b--\r\n',
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--b',  # never closed
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--b--\r\nepilogue',
        b'--b  \r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--b--\r\n',  # padding
        b'--b\r\nContent-Disposition: form-data;\r\n name="a"\r\n\r\nv\r\n--b--\r\n',  # folded
        b"--b\r\nno colon here\r\n\r\nv\r\n--b--\r\n",
        b'--b\r\nContent-Disposition: form-data; name="a"\r\nv\r\n--b--\r\n',  # no blank line
    ],
)
def test_a_multipart_body_that_does_not_parse_is_keyed_as_its_bytes(body: bytes) -> None:
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    request = req("POST", headers=headers, body=body)
    assert body_key_part(request) == body
    assert normalize_body(request) == body
    assert key(request) != key(req("POST", headers=headers, body=body + b"x"))


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=" + "x" * 71,
        "multipart/form-data; boundary*=utf-8''%E2%82%AC",
    ],
)
def test_a_multipart_body_without_a_usable_boundary_is_keyed_as_its_bytes(
    content_type: str,
) -> None:
    body = b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--x--\r\n'
    request = req("POST", headers={"Content-Type": content_type}, body=body)
    assert body_key_part(request) == body


def test_a_parsed_upload_cannot_take_the_key_of_a_raw_body() -> None:
    upload = multipart(UPLOAD_FILES)
    part = body_key_part(upload)
    assert isinstance(part, list)
    assert part[0] == "multipart/form-data"
    forged = req("POST", body=msgpack.packb(part, use_bin_type=True))
    assert key(upload) != key(forged)


def test_multipart_is_serialized_back_unchanged_when_nothing_is_ignored() -> None:
    prepared = requests.Request("POST", URL, files=UPLOAD_FILES).prepare()
    model = request_from_prepared(prepared)
    assert normalize_body(model) == prepared.body
    assert normalize_body(model, ["unrelated"], redact=True) == prepared.body
    no_headers = b"--b\r\n\r\nbare\r\n--b--"
    bare = req("POST", headers={"Content-Type": "multipart/form-data; boundary=b"}, body=no_headers)
    assert normalize_body(bare) == no_headers


def test_ignored_multipart_fields_are_left_out_of_the_key() -> None:
    with_token: Files = [("q", (None, b"1")), ("nonce", (None, b"5"))]
    other_token: Files = [("q", (None, b"1")), ("nonce", (None, b"6"))]
    without: Files = [("q", (None, b"1"))]
    options: dict[str, Any] = {"ignored_parameters": ["nonce"]}
    assert key(multipart(with_token), **options) == key(multipart(other_token), **options)
    assert key(multipart(with_token), **options) == key(multipart(without), **options)
    assert key(multipart(with_token)) != key(multipart(other_token))


def test_default_credential_multipart_fields_partition_the_key() -> None:
    a = requests.Request("POST", URL, files=[("user", (None, b"u")), ("password", (None, b"1"))])
    b = requests.Request("POST", URL, files=[("user", (None, b"u")), ("password", (None, b"2"))])
    again = requests.Request(
        "POST", URL, files=[("user", (None, b"u")), ("password", (None, b"1"))]
    )
    assert create_key(a.prepare()) != create_key(b.prepare())
    assert create_key(a.prepare()) == create_key(again.prepare())  # a new boundary, same key
    named = {"ignored_parameters": ["password"]}
    assert create_key(a.prepare(), **named) == create_key(b.prepare(), **named)


@pytest.mark.parametrize(
    "fields",
    [
        [("user", (None, b"u")), ("password", (None, SECRET.encode()))],
        [("password", ("pw.txt", SECRET.encode(), "text/plain")), ("user", (None, b"u"))],
        [("api_key", (None, SECRET.encode()))],
    ],
)
def test_multipart_secrets_are_redacted(fields: Files) -> None:
    prepared = requests.Request("POST", URL, files=fields).prepare()
    original = request_from_prepared(prepared)
    redacted = redact_request(original, DEFAULT_IGNORED_PARAMETERS)
    assert_secret_absent(redacted)
    assert redacted.body is not None and REDACTED.encode() in redacted.body
    # still a multipart body, with the boundary its Content-Type names, parts in order
    assert redacted.headers["Content-Type"] == prepared.headers["Content-Type"]
    expected = [
        (name, REDACTED.encode() if name in {"password", "api_key"} else content)
        for name, (_, content, *_) in fields
    ]
    form = _parse_multipart(redacted.body, redacted.headers["Content-Type"])
    assert form is not None
    assert [(part.name(), part.content) for part in form.parts] == expected


def test_multipart_field_names_with_rfc2231_encoding_are_matched() -> None:
    body = (
        b"--b\r\nContent-Disposition: form-data; name*=utf-8''password\r\n\r\n"
        + SECRET.encode()
        + b"\r\n--b--\r\n"
    )
    request = req("POST", headers={"Content-Type": "multipart/form-data; boundary=b"}, body=body)
    assert_secret_absent(redact_request(request, DEFAULT_IGNORED_PARAMETERS))


# ---- TLS settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(("verify", "cert"), [(True, None), (None, None), (True, ""), (None, ())])
def test_default_tls_settings_have_no_fingerprint(verify: object, cert: object) -> None:
    assert tls_fingerprint(verify, cert) == ""


TLS_SETTINGS: list[tuple[object, object]] = [
    (True, None),
    (False, None),
    ("/etc/ssl/ca.pem", None),
    ("/etc/ssl/other.pem", None),
    (True, "/home/me/client.pem"),
    (True, ("/home/me/client.pem", "/home/me/client.key")),
    (True, ("/home/me/client.pem", "/home/me/other.key")),
    (False, "/home/me/client.pem"),
    ("/etc/ssl/ca.pem", ("/home/me/client.pem", "/home/me/client.key")),
    ("insecure", None),  # a CA bundle that happens to be named "insecure"
]


def test_tls_settings_partition_the_key() -> None:
    fingerprints = [tls_fingerprint(verify, cert) for verify, cert in TLS_SETTINGS]
    assert len(set(fingerprints)) == len(TLS_SETTINGS)
    keys = {prepared_key(verify=verify, cert=cert) for verify, cert in TLS_SETTINGS}
    assert len(keys) == len(TLS_SETTINGS)
    assert prepared_key(verify=True) == prepared_key() == prepared_key(verify=None)


def test_insecure_response_is_not_served_to_a_verifying_caller() -> None:
    assert prepared_key(verify=False) != prepared_key(verify=True)


def test_tls_fingerprint_is_a_digest_that_hides_paths() -> None:
    fingerprint = tls_fingerprint("/secret/place/ca.pem", ("/secret/c.pem", "/secret/k.pem"))
    assert len(fingerprint) == 32 and all(c in string.hexdigits for c in fingerprint)
    assert "secret" not in fingerprint


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("/c.pem", None), ("/c.pem", None)),
        ("/c.pem", ["/c.pem"]),
        ("/c.pem", ("/c.pem", None)),
        (("/c.pem", "/k.pem"), ["/c.pem", "/k.pem"]),
        (Path("/c.pem"), "/c.pem"),
    ],
)
def test_equivalent_client_certificates_share_a_fingerprint(a: object, b: object) -> None:
    assert tls_fingerprint(True, a) == tls_fingerprint(True, b) != ""


def test_equivalent_insecure_settings_share_a_fingerprint() -> None:
    # requests turns verification off for any false value
    assert tls_fingerprint(False, None) == tls_fingerprint(0, None) == tls_fingerprint("", None)
    assert tls_fingerprint(Path("/ca.pem"), None) == tls_fingerprint("/ca.pem", None)


def test_tls_is_an_extra_part_of_the_key() -> None:
    plain = key(req())
    assert key(req(), tls="") == plain
    assert key(req(), tls="0" * 32) != plain
    assert key(req(), tls="0" * 32) != key(req(), tls="1" * 32)
