"""Scenario 2: a miss that stores, a new URL each call, per backend.

Each round times a batch of new URLs for every contender and for plain
``requests`` (the same origin, no cache), in turn. A contender's overhead is its
time per call minus plain requests' in the same round; the table gives medians.
Checks: every URL reached the origin exactly once, every body is the origin's,
and a second request of some of them is answered from storage.
"""

from __future__ import annotations

import itertools
from typing import Any

import requests

from benchmarks._common import Result, check, fmt_us, median, origin_sum, workplace
from benchmarks._compare import VERSUS_HEADERS, at_most, na_notes, overheads, versus
from benchmarks._contenders import BACKENDS, each_session
from benchmarks._origin import expected_body
from benchmarks._timing import interleaved

SIZE = 1024


def run(quick: bool = False) -> Result:
    rounds, batch = (1, 2) if quick else (25, 30)
    body = expected_body(SIZE)
    with workplace(SIZE) as (folder, base, redis_url):
        calls: dict[str, Any] = {}
        prefixes: dict[str, str] = {}
        sessions: dict[str, requests.Session] = {}
        missing: dict[str, str] = {}
        for name, library, backend, session in each_session(
            BACKENDS, folder, redis_url, "miss", missing
        ):
            prefix = f"/body/miss-{library}-{backend}/"
            prefixes[name] = prefix
            sessions[name] = session
            calls[name] = _caller(session, base + prefix, body, name)
        calls["plain"] = _caller(requests.Session(), f"{base}/body/miss-plain/", body, "plain")
        times = interleaved(calls, rounds, batch)
        made = rounds * batch + 1  # and the warm-up call
        for name, prefix in prefixes.items():
            seen = origin_sum(base, prefix)
            check(seen == made, f"{name}: {seen} requests reached the origin, not {made}")
            for n in range(3):  # stored: asked again, the origin sees nothing new
                again = sessions[name].get(f"{base}{prefix}{n}")
                check(again.content == body, f"{name}: wrong body from storage")
            seen = origin_sum(base, prefix)
            check(seen == made, f"{name}: the misses were not stored ({seen} != {made})")
    plain = times.pop("plain")
    overhead = overheads(times, plain)
    per_call = {name: median(values) for name, values in times.items()}
    return _report(overhead, per_call, median(plain), missing, rounds, batch)


def _caller(session: requests.Session, prefix: str, body: bytes, name: str) -> Any:
    counter = itertools.count()

    def call() -> None:
        if session.get(f"{prefix}{next(counter)}").content != body:
            raise AssertionError(f"{name}: wrong body")

    return call


def _report(
    overhead: dict[str, float],
    per_call: dict[str, float],
    plain: float,
    missing: dict[str, str],
    rounds: int,
    batch: int,
) -> Result:
    rows, goals = [], []
    for backend in BACKENDS:
        cells, to_rc, to_cc = versus(overhead, backend)
        rows.append([*cells, fmt_us(per_call.get(f"httpcache|{backend}"))])
        at_most(goals, f"miss on {backend}: overhead at most 0.5x requests-cache's", to_rc, 0.5)
        at_most(goals, f"miss on {backend}: overhead at most CacheControl's", to_cc, 1.0)
    rows.append(["plain requests (per call)", fmt_us(plain), "", "", "", "", ""])
    return Result(
        name="misses",
        title=(
            "2. Miss and store, a new URL each call: median overhead over plain requests"
            f" ({rounds} interleaved rounds of {batch} calls)"
        ),
        headers=[*VERSUS_HEADERS, "httpcache per call"],
        rows=rows,
        goals=goals,
        data={
            "overhead_seconds": overhead,
            "per_call_seconds": per_call,
            "plain_seconds": plain,
            "missing": missing,
        },
        notes=na_notes(missing),
    )
