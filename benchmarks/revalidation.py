"""Scenario 3: revalidation of a stale entry, answered 304 Not Modified.

The origin's ``/stale/`` URLs say ``max-age=0`` with an ETag, so every request
after the first is a conditional GET answered 304, and the stored body is served.
Plain requests sends the same conditional GET (``If-None-Match``) without a cache.
Overhead is each contender's time per call minus plain's in the same round.
Checks: every timed call reached the origin and was answered 304 (so it was a
revalidation, not a refetch), and every body is the origin's.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import requests

from benchmarks._common import (
    Goal,
    Result,
    check,
    fmt_ratio,
    fmt_us,
    median,
    origin_304,
    origin_count,
    origin_process,
    ratio,
    redis_server,
)
from benchmarks._contenders import BACKENDS, LIBRARIES, NotAvailable, make_session
from benchmarks._origin import expected_body
from benchmarks._timing import interleaved

SIZE = 1024


def run(quick: bool = False) -> Result:
    rounds, batch = (1, 2) if quick else (9, 30)
    body = expected_body(SIZE)
    with (
        tempfile.TemporaryDirectory() as folder,
        origin_process(SIZE) as base,
        redis_server() as redis_url,
    ):
        calls: dict[str, Any] = {}
        paths: dict[str, str] = {}
        missing: dict[str, str] = {}
        for backend in BACKENDS:
            for library in LIBRARIES:
                name = f"{library}|{backend}"
                try:
                    session = make_session(library, backend, Path(folder), redis_url, "reval")
                except NotAvailable as exc:
                    missing[name] = str(exc)
                    continue
                path = f"/stale/{library}-{backend}"
                check(session.get(base + path).content == body, f"{name}: wrong body")
                paths[name] = path
                calls[name] = _caller(session, base + path, body, name, {})
        plain = requests.Session()
        conditional = {"If-None-Match": '"bench"'}
        calls["plain"] = _caller(plain, f"{base}/stale/plain", b"", "plain", conditional)
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
    overhead = {
        name: median([t - p for t, p in zip(values, plain_times, strict=True)])
        for name, values in times.items()
    }
    rows, goals = [], []
    for backend in BACKENDS:
        ours = overhead.get(f"httpcache|{backend}")
        rc = overhead.get(f"requests-cache|{backend}")
        cc = overhead.get(f"CacheControl|{backend}")
        to_cc = ratio(ours, cc)
        rows.append(
            [
                backend,
                fmt_us(ours),
                fmt_us(rc),
                fmt_us(cc),
                fmt_ratio(ratio(ours, rc)),
                fmt_ratio(to_cc),
            ]
        )
        if to_cc is not None:
            goals.append(
                Goal(
                    f"revalidation on {backend}: overhead at most CacheControl's",
                    to_cc <= 1.0,
                    f"{to_cc:.2f}x",
                )
            )
    rows.append(["plain conditional GET (per call)", fmt_us(median(plain_times)), "", "", "", ""])
    return Result(
        name="revalidation",
        title=(
            "3. Revalidation answered 304: median overhead over a plain conditional GET"
            f" ({rounds} interleaved rounds of {batch} calls)"
        ),
        headers=["backend", "httpcache", "requests-cache", "CacheControl", "hc / rc", "hc / cc"],
        rows=rows,
        goals=goals,
        data={
            "overhead_seconds": overhead,
            "plain_seconds": median(plain_times),
            "missing": missing,
        },
        notes=[f"n/a: {name}: {why}" for name, why in missing.items()],
    )


def _caller(
    session: requests.Session, url: str, body: bytes, name: str, headers: dict[str, str]
) -> Any:
    def call() -> None:
        if session.get(url, headers=headers).content != body:
            raise AssertionError(f"{name}: wrong body")

    return call
