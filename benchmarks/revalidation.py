"""Scenario 3: revalidation of a stale entry, answered 304 Not Modified.

The origin's ``/stale/`` URLs say ``max-age=0`` with an ETag, so every request
after the first is a conditional GET answered 304, and the stored body is served.
Plain requests sends the same conditional GET (``If-None-Match``) without a cache.
Overhead is each contender's time per call minus plain's in the same round.
Checks: every timed call reached the origin and was answered 304 (so it was a
revalidation, not a refetch), and every body is the origin's.
"""

from __future__ import annotations

import requests

from benchmarks._common import (
    Result,
    check,
    fmt_us,
    getter,
    median,
    origin_304,
    origin_count,
    workplace,
)
from benchmarks._compare import VERSUS_HEADERS, at_most, na_notes, overheads, versus
from benchmarks._contenders import BACKENDS, warmed_getters
from benchmarks._origin import expected_body
from benchmarks._timing import interleaved

SIZE = 1024


def _path(library: str, backend: str) -> str:
    return f"/stale/{library}-{backend}"


def run(quick: bool = False) -> Result:
    rounds, batch = (1, 2) if quick else (25, 30)
    body = expected_body(SIZE)
    with workplace(SIZE) as (folder, base, redis_url):
        missing: dict[str, str] = {}
        calls, paths = warmed_getters(
            BACKENDS, folder, base, redis_url, "reval", _path, body, missing, {}
        )
        plain = requests.Session()
        conditional = {"If-None-Match": '"bench"'}
        calls["plain"] = getter(plain, f"{base}/stale/plain", b"", "plain", conditional)
        times = interleaved(calls, rounds, batch)
        made = rounds * batch + 1  # and the warm-up call
        for name, path in paths.items():
            seen, not_modified = origin_count(base, path), origin_304(base, path)
            check(
                seen == made + 1 and not_modified == made,
                f"{name}: {seen} requests, {not_modified} answered 304; wanted {made + 1}, "
                f"{made}: not every call was a revalidation",
            )
    plain_times = times.pop("plain")
    overhead = overheads(times, plain_times)
    rows, goals = [], []
    for backend in BACKENDS:
        cells, _, to_cc = versus(overhead, backend)
        rows.append(cells)
        text = f"revalidation on {backend}: overhead at most CacheControl's"
        at_most(goals, text, to_cc, 1.0)
    rows.append(["plain conditional GET (per call)", fmt_us(median(plain_times)), "", "", "", ""])
    return Result(
        name="revalidation",
        title=(
            "3. Revalidation answered 304: median overhead over a plain conditional GET"
            f" ({rounds} interleaved rounds of {batch} calls)"
        ),
        headers=VERSUS_HEADERS,
        rows=rows,
        goals=goals,
        data={
            "overhead_seconds": overhead,
            "plain_seconds": median(plain_times),
            "missing": missing,
        },
        notes=na_notes(missing),
    )
