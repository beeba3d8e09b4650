"""Peak memory growth for a large body, stored with stream=True and served as a hit.

    python -m benchmarks.large_body [--size-mib 256]

Each contender runs in a fresh process: it fetches the body with ``stream=True`` and
``iter_content`` (a miss that stores it), then again (a hit), hashing what it reads.
Growth is the process's peak resident memory (``ru_maxrss``) after each step minus
the peak before the first, so the interpreter and libraries are not counted. The
origin runs in its own process. Every body is checked against the origin's digest,
and the origin must have been asked exactly once.
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

from benchmarks._common import origin_count, origin_process, table, write_results
from benchmarks._origin import expected_digest

CONTENDERS = {
    "httpcache separate-body": "httpcache:separate-body",
    "httpcache sqlite": "httpcache:sqlite",
    "requests-cache sqlite": "requests_cache:sqlite",
    "requests-cache filesystem": "requests_cache:filesystem",
    "CacheControl FileCache": "cachecontrol:FileCache",
    "CacheControl SeparateBodyFileCache": "cachecontrol:SeparateBodyFileCache",
}
MIB = 1024 * 1024


def make_session(spec: str, folder: Path):
    library, kind = spec.split(":")
    if library == "httpcache":
        from httpcache import CachedSession

        return CachedSession(str(folder / "cache"), backend=kind)
    if library == "requests_cache":
        from requests_cache import CachedSession as RCSession

        return RCSession(str(folder / "cache"), backend=kind)
    import requests
    from cachecontrol import CacheControl, caches

    return CacheControl(requests.Session(), cache=getattr(caches, kind)(str(folder / "cache")))


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def fetch(session: object, url: str) -> tuple[str, bool]:
    digest = hashlib.sha256()
    with session.get(url, stream=True, timeout=120) as response:  # type: ignore[attr-defined]
        for chunk in response.iter_content(MIB):
            digest.update(chunk)
        return digest.hexdigest(), bool(getattr(response, "from_cache", False))


def child(spec: str, url: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        session = make_session(spec, Path(folder))
        baseline = peak_mib()
        stored_digest, _ = fetch(session, url)
        after_store = peak_mib()
        hit_digest, from_cache = fetch(session, url)
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


def run(size_mib: float) -> dict[str, dict]:
    size = int(size_mib * MIB)
    digest = expected_digest(size)
    results: dict[str, dict] = {}
    with origin_process(size) as base:
        for name, spec in CONTENDERS.items():
            path = f"/body/{spec.replace(':', '-')}"
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.large_body", "--child", spec, base + path],
                capture_output=True,
                text=True,
                timeout=600,
                cwd=Path(__file__).parent.parent,
            )
            if out.returncode != 0:
                results[name] = {"error": out.stderr.strip().splitlines()[-1:]}
                continue
            result = json.loads(out.stdout.strip().splitlines()[-1])
            result["bodies_correct"] = result.pop("digests") == [digest, digest]
            result["origin_requests"] = origin_count(base, path)
            results[name] = result
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=float, default=256)
    parser.add_argument("--child", nargs=2, metavar=("SPEC", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    results = run(args.size_mib)
    rows = []
    for name, r in results.items():
        if "error" in r:
            rows.append([name, "error", "", "", "", " ".join(r["error"])])
            continue
        rows.append(
            [
                name,
                f"{r['store_growth_mib']:.1f}",
                f"{r['hit_growth_mib']:.1f}",
                f"{r['hit_growth_mib'] / args.size_mib:.2f}x",
                "yes" if r["bodies_correct"] and r["origin_requests"] == 1 else "NO",
                "hit" if r["from_cache"] else "not a hit",
            ]
        )
    print(f"Body: {args.size_mib:g} MiB, stream=True + iter_content, peak RSS growth (MiB)")
    headers = ["contender", "store", "store+hit", "x body", "correct", "second fetch"]
    print(table(headers, rows))
    print("results:", write_results("large_body", {"size_mib": args.size_mib, **results}))


if __name__ == "__main__":
    main()
