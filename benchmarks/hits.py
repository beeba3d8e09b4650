"""Scenario 1: a hit on a warm cache, 1 KiB body, per backend.

    python -m benchmarks --only hits

Every library gets its own URL, warmed with one request; each round then times a
batch of ``get`` calls of every contender in turn (interleaved, so the machine's
drift hits all alike). The origin must have seen exactly one request per URL at
the end (every timed call was a hit) and every body must equal the origin's bytes.

Beside them, two floors of plain ``requests``: a ``Session`` whose adapter returns
a canned response without any I/O (what requests itself costs per call), and a
real request to the origin.
"""

from __future__ import annotations

import io
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPResponse

from benchmarks._common import (
    Goal,
    Result,
    check,
    fmt_ratio,
    fmt_us,
    getter,
    median,
    origin_count,
    ratio,
    workplace,
)
from benchmarks._compare import VERSUS_HEADERS, at_most, na_notes, versus
from benchmarks._contenders import BACKENDS, warmed_getters
from benchmarks._origin import expected_body
from benchmarks._timing import interleaved

SIZE = 1024


class CannedAdapter(HTTPAdapter):
    """Answers every request with the same 1 KiB response, without I/O."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        raw = HTTPResponse(
            body=io.BytesIO(self.body),
            headers={"Cache-Control": "max-age=3600", "Content-Length": str(len(self.body))},
            status=200,
            preload_content=False,
            decode_content=False,
        )
        return self.build_response(request, raw)


def run(quick: bool = False) -> Result:
    rounds, batch = (1, 2) if quick else (21, 300)
    body = expected_body(SIZE)
    with workplace(SIZE) as (folder, base, redis_url):
        missing: dict[str, str] = {}
        calls, paths = warmed_getters(
            BACKENDS, folder, base, redis_url, "hit", _path, body, missing
        )
        canned = requests.Session()
        canned.mount("http://", CannedAdapter(body))
        calls["floor|canned"] = getter(canned, f"{base}/body/canned", body, "canned")
        plain = requests.Session()
        calls["floor|network"] = getter(plain, f"{base}/body/plain", body, "plain")
        times = interleaved(
            calls, rounds, batch, warmup=1 if quick else 3, target=None if quick else 0.1
        )
        for name, path in paths.items():
            seen = origin_count(base, path)
            check(seen == 1, f"{name}: the origin saw {seen} requests, so not every call hit")
    per_call = {name: median(values) for name, values in times.items()}
    return _report(per_call, missing, rounds, batch)


def _path(library: str, backend: str) -> str:
    return f"/body/hit-{library}-{backend}"


def _report(per_call: dict[str, float], missing: dict[str, str], rounds: int, batch: int) -> Result:
    rows = []
    goals = []
    data: dict[str, Any] = {"median_seconds_per_call": per_call, "missing": missing}
    floor = per_call["floor|canned"]
    for backend in BACKENDS:
        cells, to_rc, to_cc = versus(per_call, backend)
        ours = per_call.get(f"httpcache|{backend}")
        rows.append([*cells, fmt_ratio(ratio(ours, floor))])
        at_most(goals, f"hit on {backend}: at most 0.5x requests-cache", to_rc, 0.5)
        at_most(goals, f"hit on {backend}: at most 0.75x CacheControl", to_cc, 0.75)
    memory = ratio(per_call.get("httpcache|memory"), floor)
    goals.append(
        Goal(
            "stretch: a memory hit at most 0.5x the plain-session floor",
            None if memory is None else memory <= 0.5,
            fmt_ratio(memory),
        )
    )
    rows.append(
        ["floor: requests.Session, canned response", fmt_us(floor), "", "", "", "", "1.00x"]
    )
    network = per_call["floor|network"]
    rows.append(["plain requests to the origin", fmt_us(network), "", "", "", "", ""])
    return Result(
        name="hits",
        title=(
            f"1. Hit, 1 KiB, warm cache: median time per call ({rounds} interleaved rounds,"
            f" each a batch of up to {batch} calls, about 0.1 s, per contender)"
        ),
        headers=[*VERSUS_HEADERS, "hc / floor"],
        rows=rows,
        goals=goals,
        data=data,
        notes=na_notes(missing),
    )
