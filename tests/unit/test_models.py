"""The models' shortcuts give what their general forms give."""

from __future__ import annotations

from dataclasses import fields, replace

from httpcache.models import Headers, Response


class Text(str):
    """A str subclass, which ``Headers`` keeps as a plain str."""


LINES = [("Cache-Control", "max-age=60"), ("set-cookie", "a=1"), ("Set-Cookie", "b=2"), ("X", "")]


def test_headers_of_str_lines_equals_the_general_constructor() -> None:
    made = Headers._of(tuple(LINES))
    general = Headers(LINES)
    assert made == general and made.fields() == general.fields()
    assert made.get_all("SET-COOKIE") == ["a=1", "b=2"] and list(made) == list(general)
    converted = Headers([(Text("Age"), Text("1")), ("N", 2)])  # type: ignore[list-item]
    assert converted.fields() == (("Age", "1"), ("N", "2"))
    assert all(type(part) is str for line in converted.fields() for part in line)


def test_headers_get_is_mapping_get() -> None:
    headers = Headers(LINES)
    assert headers.get("set-cookie") == "a=1, b=2" == headers["SET-COOKIE"]
    assert headers.get("absent") is None and headers.get("absent", "d") == "d"
    assert headers.get("x", "d") == ""
    assert headers.get("absent", default="d") == "d"  # named, as Mapping.get allows
    assert headers.get(key="X", default="d") == "" and headers.get(key="y") is None


def test_headers_has_any_reads_lower_case_names() -> None:
    headers = Headers(LINES)
    assert headers.has_any(frozenset({"set-cookie", "other"}))
    assert not headers.has_any(frozenset({"Set-Cookie", "other"}))
    assert not Headers().has_any(frozenset({"x"}))


def test_response_with_url_is_replace() -> None:
    # A field added to Response must be carried by with_url too.
    assert [f.name for f in fields(Response)] == ["status", "headers", "reason", "url", "version"]
    head = Response(206, Headers(LINES), "Partial", "http://a.test/", 10)
    assert head.with_url("http://b.test/") == replace(head, url="http://b.test/")


def test_headers_from_any_iterable_or_mapping_hold_the_same_lines() -> None:
    lines = [("A", "1"), ("b", "2")]
    made = [Headers(lines), Headers(tuple(lines)), Headers(iter(lines)), Headers(dict(lines))]
    made.append(Headers(pair for pair in lines))
    assert all(headers.fields() == (("A", "1"), ("b", "2")) for headers in made)
    shared = Headers(made[0])
    assert shared.fields() is made[0].fields()


def test_headers_keep_one_value_without_a_list_and_repeated_ones_apart() -> None:
    headers = Headers([("A", "1"), ("B", "2"), ("a", "3"), ("b", "4"), ("a", "5")])
    assert headers["A"] == "1, 3, 5" and headers.get_all("a") == ["1", "3", "5"]
    single = Headers([("Only", "x")])
    assert single["only"] == "x" and single.get("ONLY") == "x"
    assert single.get_all("only") == ["x"] and single.get_all("absent") == []
    got = single.get_all("only")
    got.append("y")  # a copy: the headers do not change
    assert single.get_all("only") == ["x"] and len(single) == 1


def test_headers_share_their_lower_cased_names() -> None:
    first = Headers([("Content-Type", "a")])
    second = Headers([("CONTENT-TYPE", "b")])
    [name_one] = first._index
    [name_two] = second._index
    assert name_one == "content-type" and name_one is name_two
