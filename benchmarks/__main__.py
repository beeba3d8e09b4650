"""Run every benchmark scenario and write one table: ``python -m benchmarks``.

    python -m benchmarks [--quick] [--only NAME ...]

Scenarios (each a module of this package): hits, misses, revalidation, threads,
processes, large_body, inspection, startup, scale, storage_bytes. ``--quick`` runs
each once with tiny sizes (what the smoke test does). ``BENCH_BACKENDS=filesystem,redis`` limits the
per-backend scenarios to those backends. Results: ``benchmarks/results/latest.json`` and
``benchmarks/results/latest.md`` (the markdown shown in README.md).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from typing import Any

from benchmarks._common import RESULTS, Goal, Result
from benchmarks._contenders import installed

SCENARIOS = {
    "hits": "benchmarks.hits",
    "misses": "benchmarks.misses",
    "revalidation": "benchmarks.revalidation",
    "threads": "benchmarks.threads",
    "processes": "benchmarks.processes",
    "large_body": "benchmarks.large_body",
    "inspection": "benchmarks.inspection",
    "startup": "benchmarks.cli_startup",
    "scale": "benchmarks.scale",
    "storage_bytes": "benchmarks.storage_bytes",
}


def run_all(
    names: list[str], quick: bool, write: bool = True, keep_going: bool = False
) -> list[Result]:
    results = []
    started = time.perf_counter()
    for name in names:
        began = time.perf_counter()
        module = importlib.import_module(SCENARIOS[name])
        try:
            result: Result = module.run(quick=quick)
        except Exception as exc:  # reported in the table; the others still run
            if not keep_going:
                raise
            result = Result(name, f"{name}: FAILED", ["error"], [[repr(exc)]])
            result.goals.append(Goal(f"{name} ran and its checks passed", False, repr(exc)))
        result.data["seconds"] = round(time.perf_counter() - began, 1)
        results.append(result)
        print(result.text(), f"\n  ({result.data['seconds']} s)\n", flush=True)
    total = time.perf_counter() - started
    if write:
        _write(results, quick, total)
    return results


def _write(results: list[Result], quick: bool, total: float) -> None:
    import httpcache

    RESULTS.mkdir(exist_ok=True)
    suffix = "-quick" if quick else ""
    meta: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "httpcache": httpcache.__version__,
        "libraries": _versions(),
        "quick": quick,
        "seconds": round(total, 1),
    }
    document = {"meta": meta, "scenarios": {r.name: r.as_dict() for r in results}}
    (RESULTS / f"latest{suffix}.json").write_text(json.dumps(document, indent=2, default=str))
    met = sum(1 for r in results for g in r.goals if g.met)
    count = sum(1 for r in results for g in r.goals if g.met is not None)
    header = (
        f"Run {meta['when']}, {meta['cpus']} CPUs, Python {meta['python']},"
        f" {', '.join(f'{k} {v}' for k, v in meta['libraries'].items())};"
        f" {total:.0f} s in all; goals met: {met} of {count}."
    )
    markdown = "\n\n".join([header, *(r.markdown() for r in results)]) + "\n"
    (RESULTS / f"latest{suffix}.md").write_text(markdown)
    print(f"written: {RESULTS / f'latest{suffix}.json'} and latest{suffix}.md; {header}")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("requests", "requests-cache", "CacheControl", "httpie"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="each scenario once, tiny sizes")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(SCENARIOS),
        metavar="NAME",
        help=f"run only these: {', '.join(SCENARIOS)}",
    )
    args = parser.parse_args(argv)
    missing = [name for name, ok in installed().items() if not ok]
    if missing:
        sys.exit(f"install the bench extra first (pip install -e '.[bench]'): missing {missing}")
    results = run_all(args.only or list(SCENARIOS), args.quick, keep_going=True)
    if any(r.title.endswith("FAILED") for r in results):
        sys.exit("a scenario failed its checks (see its table)")


if __name__ == "__main__":
    main()
