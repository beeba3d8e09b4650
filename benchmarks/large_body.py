"""Scenario 6: peak memory growth for a large body, stored and then served as a hit.

    python -m benchmarks --only large_body        (or: python -m benchmarks.large_body)

Each contender runs in a fresh process: it fetches the body (a miss that stores
it), then again (a hit), hashing what it reads. With ``stream=True`` it reads with
``iter_content``; without, it takes ``content`` as most code does, and plain
``requests`` (no cache) is the yardstick. Growth is the process's peak resident
memory (``ru_maxrss``) after each step minus the peak before the first, so the
interpreter and libraries are not counted. The origin runs in its own process.
Every body is checked against the origin's digest, and the origin must have been
asked exactly once (twice for plain requests).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._common import (
    Goal,
    Result,
    check,
    median,
    origin_count,
    origin_process,
    write_results,
)
from benchmarks._origin import expected_digest

CONTENDERS = {
    "httpcache separate-body": "httpcache:separate-body",
    "httpcache sqlite": "httpcache:sqlite",
    "requests-cache sqlite": "requests_cache:sqlite",
    "requests-cache filesystem": "requests_cache:filesystem",
    "CacheControl FileCache": "cachecontrol:FileCache",
    "CacheControl SeparateBodyFileCache": "cachecontrol:SeparateBodyFileCache",
}
#: Without streaming: plain requests is the yardstick.
WHOLE = {
    "plain requests": "plain:none",
    "httpcache separate-body": "httpcache:separate-body",
    "httpcache sqlite": "httpcache:sqlite",
}
MIB = 1024 * 1024


def make_session(spec: str, folder: Path):
    library, kind = spec.split(":")
    if library == "plain":
        import requests

        return requests.Session()
    if library == "httpcache":
        from httpcache import CachedSession

        return CachedSession(str(folder / "cache"), backend=kind)
    if library == "requests_cache":
        from requests_cache import CachedSession as RCSession

        return RCSession(str(folder / "cache"), backend=kind, cache_control=True)
    import requests
    from cachecontrol import CacheControl, caches

    return CacheControl(requests.Session(), cache=getattr(caches, kind)(str(folder / "cache")))


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def fetch(session: object, url: str, stream: bool) -> tuple[str, bool]:
    digest = hashlib.sha256()
    if not stream:
        response = session.get(url, timeout=120)  # type: ignore[attr-defined]
        digest.update(response.content)
        from_cache = bool(getattr(response, "from_cache", False))
        del response
        return digest.hexdigest(), from_cache
    with session.get(url, stream=True, timeout=120) as response:  # type: ignore[attr-defined]
        for chunk in response.iter_content(MIB):
            digest.update(chunk)
        return digest.hexdigest(), bool(getattr(response, "from_cache", False))


def child(spec: str, url: str, mode: str = "stream") -> None:
    stream = mode == "stream"
    with tempfile.TemporaryDirectory() as folder:
        session = make_session(spec, Path(folder))
        baseline = peak_mib()
        stored_digest, _ = fetch(session, url, stream)
        after_store = peak_mib()
        hit_digest, from_cache = fetch(session, url, stream)
        after_hit = peak_mib()
        print(
            json.dumps(
                {
                    "store_growth_mib": after_store - baseline,
                    "hit_growth_mib": after_hit - baseline,
                    "digests": [stored_digest, hit_digest],
                    "from_cache": from_cache,
                }
            )
        )


def measure(size_mib: float, rounds: int = 1, quick: bool = False) -> dict[str, dict[str, dict]]:
    """Per mode and contender: median growths of ``rounds`` fresh processes, and checks."""
    size = int(size_mib * MIB)
    digest = expected_digest(size)
    results: dict[str, dict[str, dict]] = {"stream": {}, "whole": {}}
    runs: dict[tuple[str, str], list[dict]] = {}
    with origin_process(size) as base:
        for n in range(rounds):
            for mode, contenders in (("stream", CONTENDERS), ("whole", WHOLE)):
                for name, spec in contenders.items():
                    if quick and not name.startswith("httpcache"):
                        continue
                    path = f"/body/{mode}-{n}-{spec.replace(':', '-')}"
                    runs.setdefault((mode, name), []).append(
                        _one(spec, base + path, mode, digest, base, path)
                    )
    for (mode, name), found in runs.items():
        errors = [r for r in found if "error" in r]
        if errors:
            results[mode][name] = errors[0]
            continue
        results[mode][name] = {
            "store_growth_mib": median([r["store_growth_mib"] for r in found]),
            "hit_growth_mib": median([r["hit_growth_mib"] for r in found]),
            "bodies_correct": all(r["bodies_correct"] for r in found),
            "origin_requests": max(r["origin_requests"] for r in found),
            "from_cache": all(r["from_cache"] for r in found),
        }
    return results


def _one(spec: str, url: str, mode: str, digest: str, base: str, path: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.large_body", "--child", spec, url, mode],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).parent.parent,
    )
    if out.returncode != 0:
        return {"error": " ".join(out.stderr.strip().splitlines()[-1:])}
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["bodies_correct"] = result.pop("digests") == [digest, digest]
    result["origin_requests"] = origin_count(base, path)
    return result


def run(quick: bool = False, size_mib: float | None = None) -> Result:
    size_mib = size_mib or (1 if quick else 64)
    rounds = 1 if quick else 3
    results = measure(size_mib, rounds, quick)
    rows, goals = [], []
    limit = 16
    plain = results["whole"].get("plain requests", {})
    for mode in ("stream", "whole"):
        for name, r in results[mode].items():
            label = f"{name} ({'stream=True' if mode == 'stream' else 'content'})"
            if "error" in r:
                rows.append([label, "error", "", "", r["error"]])
                continue
            wanted_requests = 2 if name == "plain requests" else 1
            correct = r["bodies_correct"] and r["origin_requests"] == wanted_requests
            check(correct, f"{label}: wrong body or the origin asked {r['origin_requests']} times")
            hit = "n/a" if name == "plain requests" else ("hit" if r["from_cache"] else "not a hit")
            rows.append(
                [label, f"{r['store_growth_mib']:.1f}", f"{r['hit_growth_mib']:.1f}", "yes", hit]
            )
            if not name.startswith("httpcache"):
                continue
            if mode == "stream":
                worst = max(r["store_growth_mib"], r["hit_growth_mib"])
                goals.append(
                    Goal(
                        f"{name}, stream=True: store and hit under {limit:g} MiB of growth",
                        worst < limit and r["from_cache"],
                        f"{worst:.1f} MiB",
                    )
                )
            elif "hit_growth_mib" in plain:
                ours = max(r["store_growth_mib"], r["hit_growth_mib"])
                theirs = max(plain["store_growth_mib"], plain["hit_growth_mib"])
                goals.append(
                    Goal(
                        f"{name}, no streaming: no more than plain requests needs",
                        ours <= theirs * 1.05 + 1,
                        f"{ours:.1f} vs {theirs:.1f} MiB",
                    )
                )
    return Result(
        name="large_body",
        title=(
            f"6. Large body, {size_mib:g} MiB: peak RSS growth in MiB (median of {rounds}"
            " fresh processes each)"
        ),
        headers=["contender", "after store", "after store + hit", "bodies right", "2nd fetch"],
        rows=rows,
        goals=goals,
        data={"size_mib": size_mib, **results},
        notes=["growth within 5% + 1 MiB of plain requests counts as no more (RSS noise)"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=float, default=64)
    parser.add_argument("--child", nargs=3, metavar=("SPEC", "URL", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    result = run(size_mib=args.size_mib)
    print(result.text())
    print("results:", write_results("large_body", result.as_dict()))


if __name__ == "__main__":
    main()
