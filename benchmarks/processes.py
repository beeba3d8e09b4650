"""Scenario 5: four processes sharing one cache (SQLite, filesystem, Redis).

For each contender and round, four fresh processes open the same cache (same file,
folder or Redis namespace), wait for a common start, then each stores a batch of
new URLs (writes: misses that store), waits again, then reads a batch of URLs stored
before the round (reads: hits). The processes are forked before any cache is opened in them.
Rates are total operations per second of wall time
across the four. Checks: every write reached the origin once, no read did, every
body is the origin's, and no process raised or (httpcache) logged a storage warning.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from pathlib import Path
from typing import Any

from benchmarks._common import Result, check, median, origin_sum, workplace
from benchmarks._compare import at_least, na_notes, versus_best
from benchmarks._contenders import LIBRARIES, each_session, make_session
from benchmarks._origin import expected_body
from benchmarks._timing import in_turn

SIZE = 1024
PROCESSES = 4
SHARED = 20
BACKENDS = ("sqlite", "filesystem", "redis")


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def child(
    spec: tuple[str, str, str, str | None],
    base: str,
    worker: int,
    round_: int,
    sizes: tuple[int, int],
    go: Any,
    results: Any,
) -> None:
    library, backend, folder, redis_url = spec
    writes, reads = sizes
    warnings = _Counter()
    logging.getLogger("httpcache").addHandler(warnings)
    body = expected_body(SIZE)
    report: dict[str, Any] = {"worker": worker, "errors": []}
    try:
        session = make_session(library, backend, Path(folder), redis_url, "procs")
        prefix = f"{base}/body/procs-{library}-{backend}"
        go[0].wait(120)
        began = time.monotonic()
        for n in range(writes):
            if session.get(f"{prefix}/w{round_}-{worker}-{n}").content != body:
                report["errors"].append("wrong body on a write")
        report["write"] = (began, time.monotonic())
        go[1].wait(120)
        began = time.monotonic()
        for n in range(reads):
            if session.get(f"{prefix}/shared/{(n + worker) % SHARED}").content != body:
                report["errors"].append("wrong body on a read")
        report["read"] = (began, time.monotonic())
    except Exception as exc:  # reported, and the benchmark fails on it
        report["errors"].append(repr(exc))
        for event in go:
            event.wait(0)
    report["warnings"] = warnings.count
    results.put(report)


def one_round(
    spec: tuple[str, str, str, str | None], base: str, round_: int, sizes: tuple[int, int]
) -> dict[str, float]:
    # fork: the children start in milliseconds and import nothing anew; each one
    # still opens the cache itself, as a separate program would.
    ctx = multiprocessing.get_context("fork")
    go = (ctx.Barrier(PROCESSES + 1), ctx.Barrier(PROCESSES + 1))
    results = ctx.Queue()
    procs = [
        ctx.Process(target=child, args=(spec, base, w, round_, sizes, go, results))
        for w in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    for barrier in go:
        barrier.wait(timeout=120)
    reports = [results.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(60)
    errors = [e for r in reports for e in r["errors"]]
    check(not errors, f"{spec[0]} on {spec[1]}: {errors[:2]}")
    warned = sum(r["warnings"] for r in reports)
    check(warned == 0, f"{spec[0]} on {spec[1]}: {warned} storage warnings")
    rates = {}
    for phase, count in (("write", sizes[0]), ("read", sizes[1])):
        start = min(r[phase][0] for r in reports)
        end = max(r[phase][1] for r in reports)
        rates[phase] = PROCESSES * count / (end - start)
    return rates


def run(quick: bool = False) -> Result:
    rounds, sizes = (1, (3, 5)) if quick else (7, (40, 200))
    backends = BACKENDS[:1] if quick else BACKENDS
    body = expected_body(SIZE)
    rates: dict[str, dict[str, list[float]]] = {}
    missing: dict[str, str] = {}
    with workplace(SIZE) as (folder, base, redis_url):
        specs = {}
        for name, library, backend, session in each_session(
            BACKENDS, folder, redis_url, "procs", missing
        ):
            prefix = f"{base}/body/procs-{library}-{backend}"
            for n in range(SHARED):  # what the readers will read
                check(session.get(f"{prefix}/shared/{n}").content == body, "wrong body")
            session.close()
            specs[name] = (library, backend, str(folder), redis_url)
            rates[name] = {"write": [], "read": []}
        for n in range(rounds):
            for name in in_turn(list(specs), n):
                got = one_round(specs[name], base, n, sizes)
                for phase, value in got.items():
                    rates[name][phase].append(value)
        for name, (library, backend, _, _) in specs.items():
            shared = origin_sum(base, f"/body/procs-{library}-{backend}/shared/")
            check(shared == SHARED, f"{name}: reads reached the origin ({shared})")
            writes = origin_sum(base, f"/body/procs-{library}-{backend}/w")
            wanted = rounds * PROCESSES * sizes[0]
            check(writes == wanted, f"{name}: {writes} writes reached the origin, not {wanted}")
    med = {name: {p: median(v) for p, v in phases.items()} for name, phases in rates.items()}
    per_phase = {p: {name: m[p] for name, m in med.items()} for p in ("write", "read")}
    rows, goals = [], []
    for backend in backends:
        for phase in ("write", "read"):
            cells, gain = versus_best(per_phase[phase], backend)
            rows.append([backend, phase + "s", *cells])
            text = f"{PROCESSES} processes on {backend}, {phase}s: at least the best of the two"
            goals.append(at_least(text, gain, 1.0))
    return Result(
        name="processes",
        title=(
            f"5. {PROCESSES} processes sharing one cache: median operations per second"
            f" ({rounds} interleaved rounds; {sizes[0]} writes and {sizes[1]} reads per process)"
        ),
        headers=["backend", "phase", *LIBRARIES, "hc / best"],
        rows=rows,
        goals=goals,
        data={"per_second": med, "missing": missing},
        notes=[*na_notes(missing), "no errors and no storage warnings in any process (checked)"],
    )
