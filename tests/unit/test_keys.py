"""Cache keys (RFC 9111 §4.1 and §2), URL and body normalization, redaction, Vary values."""

from __future__ import annotations

import json
import string
from collections.abc import Iterable

import pytest
import requests
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from httpcache.keys import (
    CREDENTIAL_HEADERS,
    DEFAULT_IGNORED_PARAMETERS,
    REDACTED,
    create_key,
    normalize_body,
    normalize_url,
    redact_request,
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


def test_body_does_not_matter_for_methods_not_opted_in() -> None:
    a = req("POST", body=b"one")
    b = req("POST", body=b"two")
    assert key(a) == key(b)
    assert key(a, body_methods={"PUT"}) == key(b, body_methods={"PUT"})


def test_body_matters_for_opted_in_methods() -> None:
    a = req("POST", body=b"one")
    b = req("POST", body=b"two")
    assert key(a, body_methods={"POST"}) != key(b, body_methods={"POST"})
    assert key(a, body_methods={"POST"}) == key(req("POST", body=b"one"), body_methods={"POST"})


def test_no_body_and_empty_body_are_the_same() -> None:
    assert key(req("POST", body=None), body_methods={"POST"}) == key(
        req("POST", body=b""), body_methods={"POST"}
    )


@pytest.mark.parametrize("content_type", ["application/json", "application/vnd.api+json"])
def test_json_body_key_order_is_irrelevant(content_type: str) -> None:
    headers = {"Content-Type": f"{content_type}; charset=utf-8"}
    a = req("POST", headers=headers, body=b'{"a": 1, "b": {"x": [1, 2], "y": null}}')
    b = req("POST", headers=headers, body=b'{"b":{"y":null,"x":[1,2]},"a":1}')
    c = req("POST", headers=headers, body=b'{"b":{"y":null,"x":[2,1]},"a":1}')  # list order
    assert key(a, body_methods={"POST"}) == key(b, body_methods={"POST"})
    assert key(a, body_methods={"POST"}) != key(c, body_methods={"POST"})


def test_form_body_order_is_irrelevant() -> None:
    headers = {"Content-Type": FORM}
    a = req("POST", headers=headers, body=b"a=1&b=2&c=3")
    b = req("POST", headers=headers, body=b"c=3&a=1&b=2")
    c = req("POST", headers=headers, body=b"c=3&a=1&b=4")
    assert key(a, body_methods={"POST"}) == key(b, body_methods={"POST"})
    assert key(a, body_methods={"POST"}) != key(c, body_methods={"POST"})


def test_invalid_json_body_is_keyed_as_bytes() -> None:
    headers = {"Content-Type": "application/json"}
    a = req("POST", headers=headers, body=b"{not json")
    b = req("POST", headers=headers, body=b"{not json!")
    assert key(a, body_methods={"POST"}) != key(b, body_methods={"POST"})
    assert normalize_body(a) == b"{not json"


def test_deeply_nested_json_body_does_not_crash_the_key() -> None:
    headers = {"Content-Type": "application/json"}
    deep = req("POST", headers=headers, body=b"[" * 100_000 + b"]" * 100_000)
    other = req("POST", headers=headers, body=b"[" * 100_000 + b"]" * 99_999)
    assert key(deep, body_methods={"POST"}) != key(other, body_methods={"POST"})


# ---- ignored_parameters ---------------------------------------------------------------


def test_ignored_query_parameters_are_left_out_of_the_key() -> None:
    a = req(url="https://api.test/p?q=1&token=abc")
    b = req(url="https://api.test/p?token=xyz&q=1")
    c = req(url="https://api.test/p?q=1")
    assert key(a, ignored_parameters=["token"]) == key(b, ignored_parameters=["token"])
    assert key(a, ignored_parameters=["token"]) == key(c, ignored_parameters=["token"])
    assert key(a, ignored_parameters=[]) != key(b, ignored_parameters=[])


def test_default_ignored_parameters_cover_common_secrets() -> None:
    a = req(url="https://api.test/p?q=1&api_key=one&access_token=t1")
    b = req(url="https://api.test/p?q=1&api_key=two&access_token=t2")
    assert key(a) == key(b)


def test_query_parameters_are_matched_exactly() -> None:
    a = req(url="https://api.test/p?Token=1")
    b = req(url="https://api.test/p?Token=2")
    assert key(a, ignored_parameters=["token"]) != key(b, ignored_parameters=["token"])


def test_ignored_json_body_fields_are_left_out_of_the_key() -> None:
    headers = {"Content-Type": "application/json"}
    a = req("POST", headers=headers, body=json.dumps({"q": 1, "nonce": 5}).encode())
    b = req("POST", headers=headers, body=json.dumps({"nonce": 6, "q": 1}).encode())
    options = {"ignored_parameters": ["nonce"], "body_methods": {"POST"}}
    assert key(a, **options) == key(b, **options)
    assert key(a, body_methods={"POST"}) != key(b, body_methods={"POST"})


def test_ignored_form_body_fields_are_left_out_of_the_key() -> None:
    headers = {"Content-Type": FORM}
    a = req("POST", headers=headers, body=b"q=1&nonce=5")
    b = req("POST", headers=headers, body=b"nonce=6&q=1")
    options = {"ignored_parameters": ["nonce"], "body_methods": {"POST"}}
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
@pytest.mark.parametrize(
    "ignored", [DEFAULT_IGNORED_PARAMETERS, ["Authorization", "Proxy-Authorization", "X-API-Key"]]
)
def test_credentials_partition_the_key_even_when_ignored(name: str, ignored: Iterable[str]) -> None:
    alice = req(headers={name: "Bearer alice"})
    bob = req(headers={name: "Bearer bob"})
    anonymous = req()
    keys = {key(r, ignored_parameters=ignored) for r in (alice, bob, anonymous)}
    assert len(keys) == 3
    assert key(alice, ignored_parameters=ignored) == key(
        req(headers={name: "Bearer alice"}), ignored_parameters=ignored
    )


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


def test_redacted_and_unredacted_requests_share_a_key() -> None:
    original = req(url=f"https://api.test/p?api_key={SECRET}")
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
            {"body_methods": {"POST"}},
        ),
        (
            req("POST", url="https://api.test/a", body=b"?x=1"),
            req("POST", url="https://api.test/a?x=1", body=b""),
            {"body_methods": {"POST"}},
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
def test_naive_concatenations_do_not_collide(a: Request, b: Request, options: dict) -> None:
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
    opted_in = {first[0], second[0]}
    keys = [
        key(req(m, "https://api.test/" + p, body=b), body_methods=opted_in)
        for m, p, b in (first, second)
    ]
    assert keys[0] != keys[1]


@settings(max_examples=100, deadline=None)
@given(methods, paths, bodies)
def test_equal_requests_give_equal_keys(method: str, path: str, body: bytes) -> None:
    a = req(method, "https://api.test/" + path, body=body)
    b = req(method, "https://api.test/" + path, body=bytes(body))
    assert key(a, body_methods={method}) == key(b, body_methods={method})


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
