"""Scenario 8: ``hc get URL`` on a cache hit as a whole process, against httpie and curl.

The measurement is ``benchmarks/startup.py``'s (its commands, environment, warm-up
and hit check), run here as one scenario of the suite: each round runs every
command once, in turn, and the table gives medians and ratios to hc.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks import startup
from benchmarks._common import Goal, Result, check, median, origin_count, origin_process
from benchmarks._timing import in_turn


def run(quick: bool = False) -> Result:
    rounds = 1 if quick else 15
    with tempfile.TemporaryDirectory() as tmp, origin_process(1024) as base:
        path = "/body/startup"
        env = startup.environment(str(Path(tmp) / "cache"), str(Path(tmp) / "pycache"), False)
        runs = startup.commands(base + path)
        if "httpie http" in runs:  # stdin is not a terminal here: httpie would POST it
            runs["httpie http"].insert(1, "--ignore-stdin")
        startup.warm(runs["hc get"], env)
        for argv in runs.values():  # one untimed run each: bytecode compiled, files cached
            startup.timed(argv, env)
        before = origin_count(base, path)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for n in range(rounds):
            for name in in_turn(list(runs), n):
                times[name].append(startup.timed(runs[name], env))
        # hc's runs were hits: only the other clients reached the origin.
        others = sum(1 for name in runs if name not in ("hc get", "python -c pass"))
        seen = origin_count(base, path) - before
        check(seen == rounds * others, f"hc get reached the origin ({seen} requests)")
    medians = {name: median(values) for name, values in times.items()}
    hc = medians["hc get"]
    rows = [[f"`{name}`", f"{1000 * v:.0f} ms", f"{hc / v:.2f}"] for name, v in medians.items()]
    goals = []
    if "httpie http" in medians:
        to_httpie = hc / medians["httpie http"]
        goals.append(Goal("hc get at most 0.5x httpie", to_httpie <= 0.5, f"{to_httpie:.2f}x"))
    else:
        goals.append(Goal("hc get at most 0.5x httpie", None, "httpie is not installed"))
    return Result(
        name="startup",
        title=f"8. Start-up, whole process, cache hit (median of {rounds} interleaved rounds)",
        headers=["command", "median", "hc / this"],
        rows=rows,
        goals=goals,
        data={"median_seconds": medians, "rounds": rounds},
    )
