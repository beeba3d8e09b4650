"""Selecting a stored response for a request (RFC 9111 §4.1): the Vary fields match,
after normalising what only the writing changes."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ..keys import vary_values
from ..models import Entry, Headers, Request
from .directives import parse_vary
from .freshness import parse_http_date


def select_entry(
    request: Request, entries: Sequence[Entry], sensitive: Collection[str] = ()
) -> Entry | None:
    """The most recent stored response whose Vary fields match the request (§4.1).
    ``sensitive`` fields (credentials) are compared by digest."""
    matching = [e for e in entries if vary_matches(request, e, sensitive)]
    if not matching:
        return None
    return max(matching, key=lambda e: (_date(e), e.response_time))


def vary_matches(request: Request, entry: Entry, sensitive: Collection[str] = ()) -> bool:
    names = parse_vary(entry.response.headers)
    if names == ("*",):
        return False  # §4.1: Vary: * always fails to match
    values = vary_values(request.headers, names, sensitive)
    if values == entry.vary:
        return True
    if [name for name, _ in values] != [name for name, _ in entry.vary]:
        return False
    return all(
        mine == stored or _same_selection(name, mine, stored, entry.response.headers)
        for (name, mine), (_, stored) in zip(values, entry.vary, strict=True)
    )


def _same_selection(name: str, mine: str, stored: str, response: Headers) -> bool:
    """§4.1: field values that select the same response although written differently.
    Accept-Language (RFC 9110 §12.5.4) is a set of weighted ranges, case-insensitive;
    and a response in one language is what a request preferring it selects."""
    if name != "accept-language" or not (mine.startswith("=") and stored.startswith("=")):
        return False
    wanted, had = _language_ranges(mine[1:]), _language_ranges(stored[1:])
    if sorted(wanted) == sorted(had):
        return True
    served = response.get("content-language", "").strip().lower()
    if not served or "," in served or not wanted:
        return False
    top = max(weight for _, weight in wanted)
    preferred = [language for language, weight in wanted if weight == top]
    return preferred == [served]  # one language preferred over all others, and it is this


def _language_ranges(value: str) -> list[tuple[str, float]]:
    """(range, weight) pairs of an Accept-Language value, ranges lower-cased; weight 0
    (not acceptable) left out."""
    ranges = []
    for member in value.split(","):
        language, _, params = member.partition(";")
        weight = 1.0
        for param in params.split(";"):
            key, _, number = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(number.strip())
                except ValueError:
                    weight = 0.0
        if language.strip() and weight > 0:
            ranges.append((language.strip().lower(), weight))
    return ranges


def _date(entry: Entry) -> float:
    date = parse_http_date(entry.response.headers.get("date"))
    return entry.response_time if date is None else date
