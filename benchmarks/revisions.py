"""Two revisions of httpcache side by side: the 1 KiB hit (or miss), interleaved.

    python -m benchmarks.revisions REV_BEFORE REV_AFTER [--rounds 21] [--backends ...]
                                   [--kind hit|miss]

What one change costs, measured the way the other scenarios measure libraries: each
revision (any git revision of this repository, exported with ``git archive`` into a
temporary folder) runs in a long-lived child process per backend, with its own
warm cache; each round asks every child in turn (the order alternating) for a batch
of hits timed inside the child, and the medians of the rounds are compared. The
ratio after/before is what to read. requests-cache runs beside them, so the usual
hit ratio (httpcache / requests-cache) is reported for both revisions, same run.

Example: the cost of checksums on hits, measured on the commit that added them:
``python -m benchmarks.revisions 8432377^ 8432377``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import fmt_ratio, fmt_us, median, ratio, table, workplace
from benchmarks._origin import expected_body
from benchmarks._timing import in_turn

ROOT = Path(__file__).resolve().parent.parent
SIZE = 1024
BACKENDS = ["memory", "sqlite", "filesystem", "separate-body", "redis"]

#: The child: make one session on one backend (as every scenario makes it), warm its
#: URL, then answer each line on stdin (a number of calls) with the seconds they took.
CHILD = r"""
import json, sys, time
from pathlib import Path
from benchmarks._contenders import make_session
spec = json.loads(sys.argv[1])
url, size = spec["url"], spec["size"]
session = make_session(
    spec["library"], spec["backend"], Path(spec["folder"]), spec["redis"], spec["tag"]
)
first = session.get(url)
assert len(first.content) == size, "wrong body"
for _ in range(20):
    assert session.get(url).from_cache, "not a hit"
print("ready", flush=True)
misses = spec["kind"] == "miss"
count = 0
for line in sys.stdin:
    n = int(line)
    started = time.perf_counter()
    for _ in range(n):
        count += 1
        target = f"{url}-{count}" if misses else url
        if len(session.get(target).content) != size:
            raise SystemExit("wrong body")
    print(time.perf_counter() - started, flush=True)
"""


class Child:
    """One contender in its own process, answering "time n calls" requests."""

    def __init__(self, tree: Path, spec: dict[str, Any]) -> None:
        """``tree``: where its ``httpcache`` comes from (``benchmarks`` is this one's)."""
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=tree,
            env={"PYTHONPATH": f"{tree}:{ROOT}", "PATH": "/usr/bin:/bin"},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"a child did not start: {spec}")

    def per_call(self, n: int) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline()) / n

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(10)


def export(revision: str, into: Path) -> Path:
    """The tree of ``revision`` (its httpcache package) in a folder of its own."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", revision, "httpcache"], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--backends", nargs="+", default=BACKENDS[1:], choices=BACKENDS)
    parser.add_argument(
        "--kind", choices=["hit", "miss"], default="hit", help="a miss: a new URL each call"
    )
    args = parser.parse_args(argv)
    body = expected_body(SIZE)
    with tempfile.TemporaryDirectory() as scratch, workplace(SIZE) as (folder, base, redis_url):
        trees = {
            "before": export(args.before, Path(scratch) / "before"),
            "after": export(args.after, Path(scratch) / "after"),
            "requests-cache": ROOT,
        }
        children: dict[str, Child] = {}
        for backend in args.backends:
            if backend == "redis" and redis_url is None:
                continue
            for name, tree in trees.items():
                library = "requests-cache" if name == "requests-cache" else "httpcache"
                if library == "requests-cache" and backend == "separate-body":
                    continue
                key = f"{name}|{backend}"
                spec = {
                    "library": library,
                    "backend": backend,
                    "folder": str(folder),
                    "tag": name,
                    "url": f"{base}/body/{key.replace('|', '-')}",
                    "size": len(body),
                    "redis": redis_url,
                    "kind": args.kind,
                }
                children[key] = Child(tree, spec)
        times: dict[str, list[float]] = {key: [] for key in children}
        started = time.monotonic()
        for n in range(args.rounds):
            for key in in_turn(list(children), n):
                times[key].append(children[key].per_call(args.batch))
        for child in children.values():
            child.close()
    per_call = {key: median(values) for key, values in times.items()}
    rows = []
    for backend in args.backends:
        before = per_call.get(f"before|{backend}")
        after = per_call.get(f"after|{backend}")
        rc = per_call.get(f"requests-cache|{backend}")
        rows.append(
            [
                backend,
                fmt_us(before),
                fmt_us(after),
                fmt_ratio(ratio(after, before)),
                fmt_us(rc),
                fmt_ratio(ratio(before, rc)),
                fmt_ratio(ratio(after, rc)),
            ]
        )
    headers = ["backend", args.before, args.after, "after / before", "requests-cache"]
    headers += ["before / rc", "after / rc"]
    print(
        f"1 KiB {args.kind}, median seconds per call over {args.rounds} interleaved rounds of "
        f"{args.batch} calls ({time.monotonic() - started:.0f} s)\n"
    )
    print(table(headers, rows))


if __name__ == "__main__":
    main()
