"""What every benchmark shares: a local origin in its own process, tables, results."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


@contextmanager
def origin_process(size: int = 1024) -> Iterator[str]:
    """Start ``benchmarks._origin`` on a free port; yield its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._origin", str(size)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def origin_count(base: str, path: str) -> int:
    with urllib.request.urlopen(f"{base}/_count{path}", timeout=10) as reply:
        return int(reply.read())


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_results(name: str, data: object) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    stamped = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpus": os.cpu_count(), "data": data}
    path.write_text(json.dumps(stamped, indent=2))
    return path
