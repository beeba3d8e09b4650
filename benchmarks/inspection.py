"""Inspection at scale: list, count and remove-expired over N entries, half expired.

    python -m benchmarks.inspection [--entries 100000] [--rounds 5]

httpcache's SQLiteCache against requests-cache's SQLite backend, both filled with
the same N small responses (half of them expired) through their own APIs.
CacheControl has no inspection API, so it has no column here. Each timing is the
median of ``--rounds`` runs; remove-expired runs on a fresh copy of the filled
database each round.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks._common import median, table, write_results

NOW = time.time()


def fill_httpcache(path: Path, count: int) -> float:
    from httpcache.caches.sqlite import SQLiteCache
    from httpcache.keys import digest
    from httpcache.models import Entry, Headers, Request, Response

    cache = SQLiteCache(path)
    started = time.perf_counter()
    headers = Headers({"Content-Type": "application/json", "Cache-Control": "max-age=60"})
    for i in range(count):
        url = f"https://api{i % 20}.example.test/items/{i}?page={i % 7}"
        key = digest(["GET", url])
        expires = NOW - 60 if i % 2 else NOW + 3600
        entry = Entry(
            key=key,
            primary_key=key,
            request=Request("GET", url, Headers({"Accept": "*/*"})),
            response=Response(200, headers, "OK", url),
            request_time=NOW - 120,
            response_time=NOW - 120,
            created_at=NOW - 120,
            expires=expires,
            stale_until=expires,
        )
        cache.save(entry, b'{"id": %d}' % i)
    cache.close()
    return time.perf_counter() - started


def fill_requests_cache(path: Path, count: int) -> float:
    import requests
    from requests_cache import SQLiteCache as RCSQLiteCache
    from urllib3 import HTTPResponse

    cache = RCSQLiteCache(str(path))
    started = time.perf_counter()
    with cache.responses.bulk_commit(), cache.redirects.bulk_commit():  # its fastest way in
        for i in range(count):
            url = f"https://api{i % 20}.example.test/items/{i}?page={i % 7}"
            response = requests.Response()
            response.status_code, response.url, response._content = 200, url, b'{"id": %d}' % i
            response.headers.update({"Content-Type": "application/json"})
            response.request = requests.Request("GET", url).prepare()
            response.raw = HTTPResponse(
                body=b"", headers=dict(response.headers), status=200, request_url=url
            )
            delta = timedelta(seconds=-60) if i % 2 else timedelta(hours=1)
            expires = datetime.now(UTC) + delta
            cache.save_response(response, expires=expires.replace(tzinfo=None))
    cache.close()
    return time.perf_counter() - started


def checkpoint(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def timed(rounds: int, setup: Callable[[], object], action: Callable[[object], object]) -> float:
    times = []
    for _ in range(rounds):
        state = setup()
        started = time.perf_counter()
        action(state)
        times.append(time.perf_counter() - started)
    return median(times)


def measure_httpcache(path: Path, rounds: int, count: int) -> dict[str, float]:
    from httpcache.caches.sqlite import SQLiteCache

    def fresh_copy() -> SQLiteCache:
        copy = path.with_name(f"copy-{time.monotonic_ns()}.sqlite")
        shutil.copy(path, copy)
        return SQLiteCache(copy)

    cache = SQLiteCache(path)
    listed = len(list(cache.entries()))
    assert listed == count, listed
    removed = fresh_copy().remove_expired()
    assert removed == count // 2, removed
    return {
        "list": timed(rounds, lambda: cache, lambda c: list(c.entries())),
        "list expired": timed(rounds, lambda: cache, lambda c: list(c.entries(expired=True))),
        "count": timed(rounds, lambda: cache, len),
        "stats": timed(rounds, lambda: cache, lambda c: c.stats()),
        "remove-expired": timed(rounds, fresh_copy, lambda c: c.remove_expired()),
    }


def measure_requests_cache(path: Path, rounds: int, count: int) -> dict[str, float]:
    from requests_cache import SQLiteCache as RCSQLiteCache

    def fresh_copy() -> RCSQLiteCache:
        copy = path.with_name(f"rc-copy-{time.monotonic_ns()}.sqlite")
        shutil.copy(path, copy)
        return RCSQLiteCache(str(copy))

    cache = RCSQLiteCache(str(path))
    assert len(cache.responses) == count

    def remove_expired(c: RCSQLiteCache) -> None:
        c.delete(expired=True)

    return {
        "list": timed(rounds, lambda: cache, lambda c: list(c.filter())),
        "list expired": timed(rounds, lambda: cache, lambda c: list(c.filter(valid=False))),
        "count": timed(rounds, lambda: cache, lambda c: len(c.responses)),
        "stats": float("nan"),
        "remove-expired": timed(rounds, fresh_copy, remove_expired),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        ours_path = Path(folder) / "httpcache.sqlite"
        theirs_path = Path(folder) / "requests_cache.sqlite"
        fill_ours = fill_httpcache(ours_path, args.entries)
        fill_theirs = fill_requests_cache(theirs_path, args.entries)
        checkpoint(ours_path)
        checkpoint(theirs_path)
        ours = measure_httpcache(ours_path, args.rounds, args.entries)
        theirs = measure_requests_cache(theirs_path, args.rounds, args.entries)
    rows = [
        [op, f"{ours[op]:.3f}", f"{theirs[op]:.3f}", f"{ours[op] / theirs[op]:.3f}x"] for op in ours
    ]
    rows.append(
        ["(fill)", f"{fill_ours:.1f}", f"{fill_theirs:.1f}", f"{fill_ours / fill_theirs:.2f}x"]
    )
    print(f"{args.entries} entries, half expired; median seconds of {args.rounds} rounds (SQLite)")
    print(table(["operation", "httpcache", "requests-cache", "ratio"], rows))
    data = {"entries": args.entries, "httpcache": ours, "requests-cache": theirs}
    print("results:", write_results("inspection", data))


if __name__ == "__main__":
    main()
