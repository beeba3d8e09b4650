"""Start-up: the whole process ``hc get URL`` on a cache hit, against httpie and curl.

    python -m benchmarks.startup [--rounds 15] [--size 1024] [--as-is]

A local origin on 127.0.0.1 serves one cacheable URL; the cache (SQLite, the
default backend, in a temporary folder) is warmed with one ``hc get URL`` and the
hit is checked. Then each round runs, in turn, ``hc get URL``, httpie's ``http URL``
and ``curl -s URL`` (those installed), each a whole new process with its output
thrown away, and ``python -c pass`` for reference. The table shows the median of
the rounds and each one's ratio to hc; the goal is hc at most half of httpie.

Python programs run with compiled bytecode, as after any pip install: the
subprocesses get a private ``PYTHONPYCACHEPREFIX`` and no ``PYTHONDONTWRITEBYTECODE``
(``--as-is`` keeps the environment untouched). httpie comes from the ``bench``
extra. Results go to ``benchmarks/results/startup.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import median, origin_process, table, write_results


def _tool(name: str) -> str | None:
    """A program next to this Python first (the virtual environment), else on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


def commands(url: str) -> dict[str, list[str]]:
    hc = _tool("hc")
    found = {
        "hc get": [hc, "get", url] if hc else [sys.executable, "-m", "httpcache_cli", "get", url]
    }
    http = _tool("http")
    if http:
        found["httpie http"] = [http, url]
    curl = shutil.which("curl")
    if curl:
        found["curl -s"] = [curl, "-s", url]
    found["python -c pass"] = [sys.executable, "-c", "pass"]
    return found


def environment(cache_dir: str, pycache: str, as_is: bool) -> dict[str, str]:
    env = dict(os.environ, HC_CACHE_DIR=cache_dir, HC_BACKEND="sqlite", NO_COLOR="1")
    env.pop("HC_CACHE_NAME", None)
    if not as_is:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()}")
    return elapsed


def warm(hc: list[str], env: dict[str, str]) -> None:
    """Store the response, then check that the next run is a hit."""
    subprocess.run(hc, env=env, stdout=subprocess.DEVNULL, check=True)
    verbose = [*hc[:-1], "-v", hc[-1]]
    done = subprocess.run(verbose, env=env, capture_output=True, check=True)
    status = [line for line in done.stderr.decode().splitlines() if "Cache-Status" in line]
    if not status or "; hit;" not in status[0]:
        raise SystemExit(f"the cache was not warmed: {status}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="runs of each (at least 10)")
    parser.add_argument("--size", type=int, default=1024, help="body size in bytes")
    parser.add_argument("--as-is", action="store_true", help="keep the environment untouched")
    args = parser.parse_args(argv)
    rounds = max(10, args.rounds)

    with tempfile.TemporaryDirectory() as tmp, origin_process(args.size) as base:
        url = f"{base}/body/startup"
        env = environment(str(Path(tmp) / "cache"), str(Path(tmp) / "pycache"), args.as_is)
        runs = commands(url)
        warm(runs["hc get"], env)
        for argv_ in runs.values():  # one untimed run each: bytecode compiled, files cached
            timed(argv_, env)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(rounds):
            for name, argv_ in runs.items():  # interleaved, so drift hits all alike
                times[name].append(timed(argv_, env))

    medians = {name: median(values) for name, values in times.items()}
    hc = medians["hc get"]
    rows = [
        [name, f"{1000 * value:.1f}", f"{value / hc:.2f}x", f"{hc / value:.2f}"]
        for name, value in medians.items()
    ]
    print(f"Start-up, whole process, cache hit, median of {rounds} interleaved runs")
    print(table(["command", "median ms", "time / hc", "hc / time"], rows))
    ratios = {f"hc / {name}": hc / value for name, value in medians.items() if name != "hc get"}
    if "httpie http" in medians:
        verdict = "met" if ratios["hc / httpie http"] <= 0.5 else "not met"
        print(f"goal (hc at most half of httpie): {verdict}")
    path = write_results(
        "startup",
        {
            "rounds": rounds,
            "body_bytes": args.size,
            "bytecode": "as is" if args.as_is else "compiled (private PYTHONPYCACHEPREFIX)",
            "commands": {name: " ".join(a) for name, a in runs.items()},
            "median_seconds": medians,
            "runs_seconds": times,
            "ratios": ratios,
        },
    )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
