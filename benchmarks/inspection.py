"""Scenario 7: inspection at scale: list, count and remove-expired, half expired.

    python -m benchmarks --only inspection     (or: python -m benchmarks.inspection)

httpcache's SQLite and Redis caches against requests-cache's, each filled with the
same N small responses (half of them expired) through its own API, then inspected
through its own API: list every URL, list the expired ones, count, and remove the
expired ones (on a copy of the filled cache each round, so there is something to
remove: a copy of the SQLite file, or of the Redis keys into another database).
CacheControl has no inspection API, so it has no column here. The two caches of a
size are filled at once, each in a process of its own (nothing is timed then);
then each round runs both libraries' operations in turn, the order alternating.
Timings are medians of the rounds (a count: per call, of 20 calls in a row); each
result is checked (N listed, N/2 expired, N/2 removed).
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
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
from benchmarks._contenders import clear_redis
from benchmarks._timing import in_turn

OPERATIONS = ("list", "list expired", "count", "remove-expired")
#: A count takes well under a millisecond: one call would time the CPU's cold
#: caches more than the count, so a round times this many in a row (per call).
COUNT_CALLS = 20


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
    """One library on one backend: where its cache lives, how to open, fill and copy it.

    On SQLite the cache is the file ``<library>.sqlite`` in ``folder``; on Redis the
    namespace ``<library>-redis`` in Redis database ``db``. A copy (for a round of
    remove-expired) is a copy of the file, or of every key of the database into
    ``COPY_DB`` (``COPY`` keeps each key's TTL), opened as a cache of its own.
    """

    def __init__(
        self, library: str, backend: str, folder: Path, redis_url: str | None, db: int
    ) -> None:
        self.library, self.backend = library, backend
        self.folder, self.redis_url, self.db = folder, redis_url, db
        self.copies = 0

    def open(self, copy: int | None = None) -> Any:
        """The cache (``copy``: the copy of that number)."""
        if self.backend == "sqlite":
            name = self.library if copy is None else f"{self.library}-copy{copy}"
            path = self.folder / f"{name}.sqlite"
            if self.library == "httpcache":
                from httpcache.caches.sqlite import SQLiteCache

                return SQLiteCache(path)
            import requests_cache

            return requests_cache.SQLiteCache(str(path))
        url = self._redis_url(self.db if copy is None else COPY_DB)
        namespace = f"{self.library}-redis"
        if self.library == "httpcache":
            from httpcache.caches.redis import RedisCache

            # Expired entries stay an hour (as requests-cache keeps them), not the
            # default minute: Redis would drop the expired half while it is listed.
            return RedisCache(url=url, namespace=namespace, min_ttl=3600)
        import redis
        import requests_cache

        return requests_cache.RedisCache(namespace=namespace, connection=redis.Redis.from_url(url))

    def fill(self, count: int, now: float) -> None:
        """Store ``count`` entries through the library's own API, and close."""
        cache = self.open()
        if self.library == "httpcache":
            fill_httpcache(cache, count, now)
        else:
            fill_requests_cache(cache, count)
        _close(cache)

    def copy(self) -> Any:
        """A new cache holding what this one holds, opened."""
        self.copies += 1
        if self.backend == "sqlite":
            source = self.folder / f"{self.library}.sqlite"
            target = self.folder / f"{self.library}-copy{self.copies}.sqlite"
            for suffix in ("", "-wal", "-shm"):
                if Path(f"{source}{suffix}").exists():
                    shutil.copy(f"{source}{suffix}", f"{target}{suffix}")
        else:
            import redis

            clear_redis(self._redis_url(COPY_DB))  # the previous round's copy
            client = redis.Redis.from_url(self._redis_url(self.db))
            pipe = client.pipeline(transaction=False)
            for key in client.scan_iter(count=1000):
                pipe.copy(key, key, destination_db=COPY_DB)
            check(all(pipe.execute()), f"{self.library} redis: a key was not copied")
            client.close()
        return self.open(copy=self.copies)

    def discard(self) -> None:
        """Delete what this contender stored (a Redis database: ours only)."""
        if self.backend == "redis":
            for db in (self.db, COPY_DB):
                clear_redis(self._redis_url(db))

    def _redis_url(self, db: int) -> str:
        assert self.redis_url is not None
        return f"{self.redis_url.rsplit('/', 1)[0]}/{db}"

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


#: The Redis database that copies go to (each contender fills its own, 1, 2, ...).
COPY_DB = 15


def fill_at_once(contenders: list[Contender], count: int, now: float) -> None:
    """Fill every contender's cache, each in a process of its own, all at once.

    Nothing is timed while they fill; each process opens its cache, stores through
    the library's API and closes it, so the measuring process opens a filled cache.
    """
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=c.fill, args=(count, now)) for c in contenders]
    for proc in procs:
        proc.start()
    for proc, contender in zip(procs, contenders, strict=True):
        proc.join()
        name = f"{contender.library} {contender.backend}"
        check(proc.exitcode == 0, f"{name}: filling failed ({proc.exitcode})")


def measure(contenders: list[Contender], count: int, rounds: int) -> dict[str, dict[str, float]]:
    """Median seconds per operation of each contender; rounds interleaved."""
    fill_at_once(contenders, count, time.time())
    wanted = {"list": count, "list expired": count // 2, "count": count}
    caches = {c.library: c.open() for c in contenders}
    times = {c.library: {op: [] for op in OPERATIONS} for c in contenders}
    for n in range(rounds):
        for contender in in_turn(contenders, n):
            name, ops = contender.library, contender.operations()
            for op in ("list", "list expired", "count"):
                calls = COUNT_CALLS if op == "count" else 1
                started = time.perf_counter()
                for _ in range(calls):
                    got = ops[op](caches[name])
                times[name][op].append((time.perf_counter() - started) / calls)
                check(got == wanted[op], f"{name} {contender.backend} {op}: {got}")
            copy = contender.copy()
            started = time.perf_counter()
            removed = ops["remove-expired"](copy)
            times[name]["remove-expired"].append(time.perf_counter() - started)
            check(removed == count // 2, f"{name} {contender.backend}: removed {removed}")
            _close(copy)
    for contender in contenders:
        _close(caches[contender.library])
        contender.discard()
    return {name: {op: median(v) for op, v in ops.items()} for name, ops in times.items()}


def _close(cache: Any) -> None:
    close = getattr(cache, "close", None)
    if close is not None:
        close()


#: The suite's sizes per backend. Redis at 100,000 takes requests-cache minutes to
#: fill: ``python -m benchmarks.inspection --entries 100000`` runs it.
SUITE_SIZES = {"sqlite": (10_000, 100_000), "redis": (10_000,)}


def run(quick: bool = False, sizes: tuple[int, ...] | None = None, rounds: int = 3) -> Result:
    plan = {b: sizes or ((100,) if quick else SUITE_SIZES[b]) for b in ("sqlite", "redis")}
    sizes = tuple(sorted({n for ns in plan.values() for n in ns}))
    rounds = 1 if quick else rounds
    libraries = ["httpcache"]
    if importlib.util.find_spec("requests_cache") is not None:
        libraries.append("requests-cache")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, redis_server() as redis_url:
        for backend in ("sqlite", "redis"):
            if backend == "redis" and redis_url is None:
                continue
            for count in plan[backend]:
                folder = Path(tmp) / f"{backend}-{count}"
                folder.mkdir()
                contenders = [
                    Contender(library, backend, folder, redis_url, db)
                    for db, library in enumerate(libraries, start=1)
                ]
                for library, medians in measure(contenders, count, rounds).items():
                    results[f"{library}|{backend}|{count}"] = medians
                shutil.rmtree(folder)
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
                if op == "list" and count >= 100_000:
                    goals.append(
                        Goal(
                            f"list {count:,} entries on {backend} in under 0.3 s",
                            ours[op] < 0.3,
                            f"{ours[op]:.3f} s",
                        )
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
