"""Scenario: bytes stored per 1 KiB entry, beside the time to write it, per backend.

    python -m benchmarks --only storage_bytes

Each round, every contender (the three libraries on each backend they have) stores
a batch of new URLs through its session (a miss that stores, as in ``misses``), in
turn; the table gives the median time per entry and what the store grew by per
entry, measured once the rounds are over against the size after one warm-up entry:

- SQLite: the database file and its WAL after a ``wal_checkpoint(TRUNCATE)`` (the
  shared-memory index, a fixed 32 KiB, is left out);
- file backends: the sum of the files' sizes (``st_size``; what the file system
  allocates, in whole blocks, is in the data as ``allocated``);
- Redis: the sum of ``MEMORY USAGE`` of every key of the library (each library has
  a database of its own on one private server);
- memory: what ``tracemalloc`` sees allocated and still held after a further batch
  of writes (a separate pass, so that tracing does not slow the timed rounds).

Checks: every URL reached the origin once and some are then served from storage.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import sqlite3
import tracemalloc
from collections.abc import Callable
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
    origin_sum,
    ratio,
    workplace,
)
from benchmarks._compare import HEADERS, by_library, na_notes
from benchmarks._contenders import BACKENDS, LIBRARIES, NotAvailable, make_session
from benchmarks._origin import expected_body
from benchmarks._timing import interleaved

SIZE = 1024
#: Redis database of each library (one server, so that each one's keys are its own).
REDIS_DB = {library: n for n, library in enumerate(LIBRARIES)}


def run(quick: bool = False) -> Result:
    rounds, batch, traced = (1, 2, 3) if quick else (15, 40, 200)
    body = expected_body(SIZE)
    with workplace(SIZE) as (folder, base, redis_url):
        missing: dict[str, str] = {}
        calls: dict[str, Callable[[], None]] = {}
        prefixes: dict[str, str] = {}
        sessions: dict[str, requests.Session] = {}
        measures: dict[str, Callable[[], int]] = {}
        for backend in BACKENDS:
            for library in LIBRARIES:
                name = f"{library}|{backend}"
                url = _database(redis_url, REDIS_DB[library])
                try:
                    session = make_session(library, backend, folder, url, "bytes")
                except NotAvailable as exc:
                    missing[name] = str(exc)
                    continue
                prefix = f"/body/bytes-{library}-{backend}/"
                prefixes[name] = prefix
                sessions[name] = session
                calls[name] = _writer(session, base + prefix, body, name)
                measures[name] = _measure(backend, library, folder, url)
        calls["plain"] = _writer(requests.Session(), f"{base}/body/bytes-plain/", body, "plain")
        before = {}
        for name, call in calls.items():
            call()  # one entry first: the store's fixed size is not counted per entry
            if name in measures:
                before[name] = measures[name]()
        times = interleaved(calls, rounds, batch)
        written = rounds * batch + 1  # and interleaved's own warm-up call
        per_entry: dict[str, float] = {}
        for name, measure in measures.items():
            if name.endswith("|memory"):
                per_entry[name] = _traced(calls[name], traced)
            else:
                per_entry[name] = (measure() - before[name]) / written
        for name, prefix in prefixes.items():
            seen = origin_sum(base, prefix)
            made_calls = written + 1 + (traced if name.endswith("|memory") else 0)
            check(seen == made_calls, f"{name}: {seen} requests reached the origin")
            again = sessions[name].get(f"{base}{prefix}0")
            check(again.content == body, f"{name}: wrong body from storage")
            check(origin_sum(base, prefix) == seen, f"{name}: the entries were not stored")
    plain = times.pop("plain")
    per_call = {name: median(values) for name, values in times.items()}
    return _report(per_entry, per_call, median(plain), missing, rounds, batch)


def _database(redis_url: str | None, number: int) -> str | None:
    if redis_url is None:
        return None
    return redis_url.rsplit("/", 1)[0] + f"/{number}"


def _writer(session: requests.Session, prefix: str, body: bytes, name: str) -> Any:
    counter = itertools.count()

    def call() -> None:
        if session.get(f"{prefix}{next(counter)}").content != body:
            raise AssertionError(f"{name}: wrong body")

    return call


def _measure(backend: str, library: str, folder: Path, redis_url: str | None) -> Callable[[], int]:
    """A call that gives the store's size now (bytes)."""
    if backend == "redis":
        return lambda: _redis_bytes(redis_url)
    if backend == "memory":
        return lambda: 0  # measured by tracing (``_traced``)
    stem = folder / f"{library}-{backend}-bytes"
    if backend == "sqlite":
        return lambda: _sqlite_bytes(stem)
    return lambda: _file_bytes(stem)[0]


def _redis_bytes(redis_url: str | None) -> int:
    import redis

    assert redis_url is not None
    client = redis.Redis.from_url(redis_url)
    try:
        return sum(
            int(client.memory_usage(name, samples=0) or 0) for name in client.scan_iter(count=1000)
        )
    finally:
        client.close()


def _sqlite_bytes(stem: Path) -> int:
    files = sorted(stem.parent.glob(stem.name + "*"))
    for path in files:
        if path.suffix in (".sqlite", ".db"):
            with contextlib.closing(sqlite3.connect(path)) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(
        p.stat().st_size
        for p in stem.parent.glob(stem.name + "*")
        if p.is_file() and not p.name.endswith("-shm")
    )


def _file_bytes(root: Path) -> tuple[int, int]:
    """Sum of the files' sizes under ``root``, and of what the file system allocates."""
    size = allocated = 0
    for folder, _, names in os.walk(root):
        for name in names:
            info = os.stat(os.path.join(folder, name))
            size += info.st_size
            allocated += info.st_blocks * 512
    return size, allocated


def _traced(call: Callable[[], None], count: int) -> float:
    """Bytes still allocated per entry after ``count`` more writes (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(count):
            call()
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - start) / count
    finally:
        tracemalloc.stop()


def _report(
    per_entry: dict[str, float],
    per_call: dict[str, float],
    plain: float,
    missing: dict[str, str],
    rounds: int,
    batch: int,
) -> Result:
    rows, goals = [], []
    measured = []
    for backend in BACKENDS:
        ours, rc, cc = by_library(per_entry, backend)
        times = by_library(per_call, backend)
        measured.append(ours is not None)
        rows.append(
            [
                backend,
                *(_bytes(v) for v in (ours, rc, cc)),
                fmt_ratio(ratio(ours, rc)),
                fmt_ratio(ratio(ours, cc)),
                *(fmt_us(t) for t in times),
            ]
        )
    goals.append(
        Goal(
            "issue 15 goal 4: bytes per 1 KiB entry reported beside the time on every backend",
            all(measured) if measured else None,
            f"{sum(measured)} of {len(measured)} backends",
        )
    )
    rows.append(["plain requests (per call)", "", "", "", "", "", fmt_us(plain), "", ""])
    time_headers = [f"{library} time" for library in LIBRARIES]
    return Result(
        name="storage_bytes",
        title=(
            "Bytes stored per 1 KiB entry (growth over the run / entries written) and median"
            f" time per write, a miss that stores ({rounds} interleaved rounds of {batch})"
        ),
        headers=[*HEADERS, "hc / rc", "hc / cc", *time_headers],
        rows=rows,
        goals=goals,
        data={"bytes_per_entry": per_entry, "seconds_per_write": per_call, "plain": plain},
        notes=[
            "SQLite: file + WAL after a checkpoint; files: sum of sizes; Redis: MEMORY USAGE"
            " of the library's keys; memory: tracemalloc (objects still held)",
            *na_notes(missing),
        ],
    )


def _bytes(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} B"
