"""Scenario 7: inspection at scale: list, count and remove-expired, half expired.

    python -m benchmarks --only inspection     (or: python -m benchmarks.inspection)

httpcache's SQLite and Redis caches against requests-cache's, each filled with the
same N small responses (half of them expired) through its own API, then inspected
through its own API: list every URL, list the expired ones, count, and remove the
expired ones (on a freshly filled cache each round, so there is something to
remove). CacheControl has no inspection API, so it has no column here. Timings
are medians of the rounds; each result is checked (N listed, N/2 expired, N/2
removed).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks._common import (
    Goal,
    Result,
    check,
    fmt_ratio,
    median,
    ratio,
    redis_server,
    write_results,
)

OPERATIONS = ("list", "list expired", "count", "remove-expired")


def _url(i: int) -> str:
    return f"https://api{i % 20}.example.test/items/{i}?page={i % 7}"


# ---- filling ---------------------------------------------------------------------------


def fill_httpcache(cache: Any, count: int, now: float) -> None:
    from httpcache.keys import digest
    from httpcache.models import Entry, Headers, Request, Response

    headers = Headers({"Content-Type": "application/json", "Cache-Control": "max-age=60"})
    for i in range(count):
        url = _url(i)
        key = digest(["GET", url])
        expires = now - 60 if i % 2 else now + 3600
        entry = Entry(
            key=key,
            primary_key=key,
            request=Request("GET", url, Headers({"Accept": "*/*"})),
            response=Response(200, headers, "OK", url),
            request_time=now - 120,
            response_time=now - 120,
            created_at=now - 120,
            expires=expires,
            stale_until=expires,
        )
        cache.save(entry, b'{"id": %d}' % i)


def fill_requests_cache(cache: Any, count: int) -> None:
    import requests
    from urllib3 import HTTPResponse

    def save_all() -> None:
        for i in range(count):
            url = _url(i)
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

    if hasattr(cache.responses, "bulk_commit"):  # SQLite: its fastest way in
        with cache.responses.bulk_commit():
            save_all()
    else:
        save_all()


# ---- the two libraries' APIs ---------------------------------------------------------


class Contender:
    """One library on one backend: how to build, fill, copy and inspect it."""

    def __init__(self, library: str, backend: str, folder: Path, redis_url: str | None) -> None:
        self.library, self.backend = library, backend
        self.folder, self.redis_url = folder, redis_url
        self.generation = 0

    def build(self, fresh: bool = False) -> Any:
        """The cache (``fresh``: a new, empty one of the same kind)."""
        if fresh:
            self.generation += 1
        tag = f"{self.library}-{self.backend}-{self.generation}"
        if self.library == "httpcache":
            if self.backend == "sqlite":
                from httpcache.caches.sqlite import SQLiteCache

                return SQLiteCache(self.folder / f"{tag}.sqlite")
            from httpcache.caches.redis import RedisCache

            # Expired entries stay an hour (as requests-cache keeps them), not the
            # default minute: Redis would drop the expired half while it is listed.
            return RedisCache(url=self.redis_url, namespace=tag, min_ttl=3600)
        import requests_cache

        if self.backend == "sqlite":
            return requests_cache.SQLiteCache(str(self.folder / f"{tag}.sqlite"))
        import redis

        return requests_cache.RedisCache(
            namespace=tag, connection=redis.Redis.from_url(self.redis_url)
        )

    def fill(self, cache: Any, count: int, now: float) -> None:
        if self.library == "httpcache":
            fill_httpcache(cache, count, now)
        else:
            fill_requests_cache(cache, count)

    def copy(self, cache: Any, count: int, now: float, original: Any) -> Any:
        """A cache holding what ``original`` holds (a file copy for SQLite, a refill else)."""
        if self.backend == "sqlite":
            source = Path(
                original.path if self.library == "httpcache" else original.responses.db_path
            )
            self.generation += 1
            target = self.folder / f"{self.library}-{self.backend}-{self.generation}.sqlite"
            for suffix in ("", "-wal", "-shm"):
                if Path(f"{source}{suffix}").exists():
                    shutil.copy(f"{source}{suffix}", f"{target}{suffix}")
            if self.library == "httpcache":
                from httpcache.caches.sqlite import SQLiteCache

                return SQLiteCache(target)
            import requests_cache

            return requests_cache.SQLiteCache(str(target))
        fresh = self.build(fresh=True)
        self.fill(fresh, count, now)
        return fresh

    def operations(self) -> dict[str, Callable[[Any], int]]:
        if self.library == "httpcache":
            return {
                "list": lambda c: sum(1 for _ in c.entries()),
                "list expired": lambda c: sum(1 for _ in c.entries(expired=True)),
                "count": len,
                "remove-expired": lambda c: c.remove_expired(),
            }

        def remove_expired(c: Any) -> int:
            before = len(c.responses)
            c.delete(expired=True)
            return before - len(c.responses)

        return {
            "list": lambda c: sum(1 for _ in c.filter()),
            "list expired": lambda c: sum(1 for _ in c.filter(valid=False, expired=True)),
            "count": lambda c: len(c.responses),
            "remove-expired": remove_expired,
        }


def measure(contender: Contender, count: int, rounds: int) -> dict[str, float]:
    now = time.time()
    cache = contender.build(fresh=True)
    contender.fill(cache, count, now)
    wanted = {"list": count, "list expired": count // 2, "count": count}
    times: dict[str, list[float]] = {op: [] for op in OPERATIONS}
    ops = contender.operations()
    for _ in range(rounds):
        for op in ("list", "list expired", "count"):
            started = time.perf_counter()
            got = ops[op](cache)
            times[op].append(time.perf_counter() - started)
            check(got == wanted[op], f"{contender.library} {contender.backend} {op}: {got}")
        copy = contender.copy(cache, count, now, cache)
        started = time.perf_counter()
        removed = ops["remove-expired"](copy)
        times["remove-expired"].append(time.perf_counter() - started)
        check(removed == count // 2, f"{contender.library} {contender.backend}: removed {removed}")
        _close(copy)
    _close(cache)
    return {op: median(values) for op, values in times.items()}


def _close(cache: Any) -> None:
    close = getattr(cache, "close", None)
    if close is not None:
        close()


#: The suite's sizes per backend. Redis at 100,000 takes requests-cache minutes per
#: fill (and remove-expired needs a fresh fill each round), which does not fit the
#: suite's ten minutes: ``python -m benchmarks.inspection --entries 100000`` runs it.
SUITE_SIZES = {"sqlite": (10_000, 100_000), "redis": (10_000,)}


def run(quick: bool = False, sizes: tuple[int, ...] | None = None, rounds: int = 3) -> Result:
    plan = {b: sizes or ((100,) if quick else SUITE_SIZES[b]) for b in ("sqlite", "redis")}
    sizes = tuple(sorted({n for ns in plan.values() for n in ns}))
    rounds = 1 if quick else rounds
    try:
        import requests_cache
    except ImportError:
        requests_cache = None  # type: ignore[assignment]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder, redis_server() as redis_url:
        for backend in ("sqlite", "redis"):
            if backend == "redis" and redis_url is None:
                continue
            for count in plan[backend]:
                for library in ("httpcache", "requests-cache"):
                    if library == "requests-cache" and requests_cache is None:
                        continue
                    contender = Contender(library, backend, Path(folder), redis_url)
                    results[f"{library}|{backend}|{count}"] = measure(contender, count, rounds)
    rows, goals = [], []
    for backend in ("sqlite", "redis"):
        for count in sizes:
            ours = results.get(f"httpcache|{backend}|{count}")
            theirs = results.get(f"requests-cache|{backend}|{count}")
            if ours is None:
                continue
            for op in OPERATIONS:
                speedup = ratio(theirs[op], ours[op]) if theirs else None
                rows.append(
                    [
                        backend,
                        f"{count:,}",
                        op,
                        f"{ours[op]:.4f}",
                        f"{theirs[op]:.4f}" if theirs else "n/a",
                        fmt_ratio(speedup),
                    ]
                )
                if speedup is not None:
                    goals.append(
                        Goal(
                            f"{op} on {backend}, {count:,} entries: at least 10x faster",
                            speedup >= 10,
                            f"{speedup:.0f}x",
                        )
                    )
    return Result(
        name="inspection",
        title=(
            "7. Inspection, half expired: median seconds"
            f" ({rounds} rounds; remove-expired on a freshly filled copy each round)"
        ),
        headers=["backend", "entries", "operation", "httpcache", "requests-cache", "rc / hc"],
        rows=rows,
        goals=goals,
        data={"median_seconds": results},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = run(sizes=tuple(args.entries), rounds=args.rounds)
    print(result.text())
    print("results:", write_results("inspection", result.as_dict()))


if __name__ == "__main__":
    main()
