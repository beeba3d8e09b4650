"""Scenario 4: eight threads sharing one session, 100 cached URLs, memory and SQLite.

The 100 URLs are stored first; then each round, for every contender in turn, eight
threads each make a batch of hits over the URLs and the round's total hits per
second is taken (wall time from the first thread's start to the last one's end).
Checks: the origin saw each URL once (all hits), every body is the origin's, and
no thread raised.
"""

from __future__ import annotations

import threading
import time

import requests

from benchmarks._common import Result, check, median, origin_sum, workplace
from benchmarks._compare import HEADERS, at_least, na_notes, versus_best
from benchmarks._contenders import each_session
from benchmarks._origin import expected_body
from benchmarks._timing import in_turn

SIZE = 1024
THREADS = 8
URLS = 100
BACKENDS = ("memory", "sqlite")


def hammer(session: requests.Session, urls: list[str], body: bytes, per_thread: int) -> float:
    """Hits per second of THREADS threads, each making ``per_thread`` calls."""
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS + 1)

    def work(offset: int) -> None:
        start.wait()
        try:
            for n in range(per_thread):
                if session.get(urls[(offset + n) % len(urls)]).content != body:
                    raise AssertionError("wrong body")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k * 13,)) for k in range(THREADS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    check(not errors, f"a thread failed: {errors[:1]!r}")
    return THREADS * per_thread / elapsed


def run(quick: bool = False) -> Result:
    rounds, per_thread = (2, 5) if quick else (5, 120)
    urls_count = 10 if quick else URLS
    body = expected_body(SIZE)
    rates: dict[str, list[float]] = {}
    missing: dict[str, str] = {}
    with workplace(SIZE, redis=False) as (folder, base, _):
        sessions: dict[str, tuple[requests.Session, list[str], str]] = {}
        for name, library, backend, session in each_session(
            BACKENDS, folder, None, "threads", missing
        ):
            prefix = f"/body/threads-{library}-{backend}/"
            urls = [f"{base}{prefix}{n}" for n in range(urls_count)]
            for url in urls:
                check(session.get(url).content == body, f"{name}: wrong body")
            sessions[name] = (session, urls, prefix)
            rates[name] = []
        for n in range(rounds):
            for name in in_turn(list(sessions), n):
                session, urls, _ = sessions[name]
                rates[name].append(hammer(session, urls, body, per_thread))
        for name, (_, urls, prefix) in sessions.items():
            seen = origin_sum(base, prefix)
            check(seen == len(urls), f"{name}: the origin saw {seen} requests, not {len(urls)}")
    best = {name: median(values) for name, values in rates.items()}
    rows, goals = [], []
    for backend in BACKENDS:
        cells, gain = versus_best(best, backend)
        rows.append([backend, *cells])
        text = f"{THREADS} threads on {backend}: at least 1.5x the best of the two"
        goals.append(at_least(text, gain, 1.5))
    return Result(
        name="threads",
        title=(
            f"4. {THREADS} threads, {urls_count} cached URLs: median hits per second"
            f" ({rounds} interleaved rounds of {THREADS}x{per_thread} calls)"
        ),
        headers=[*HEADERS, "hc / best other"],
        rows=rows,
        goals=goals,
        data={"hits_per_second": best, "missing": missing},
        notes=na_notes(missing),
    )
