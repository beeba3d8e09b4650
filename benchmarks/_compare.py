"""Table cells and goals that set httpcache beside requests-cache and CacheControl.

The per-backend scenarios keep their numbers in dicts keyed ``"library|backend"``;
these helpers read one backend's three values, format a row, and state a goal.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks._common import Goal, fmt_ratio, fmt_us, median, ratio
from benchmarks._contenders import LIBRARIES

#: The first columns of every per-backend table, and those of a table of times.
HEADERS = ["backend", *LIBRARIES]
VERSUS_HEADERS = [*HEADERS, "hc / rc", "hc / cc"]


def by_library(values: dict[str, float], backend: str) -> list[float | None]:
    """httpcache's, requests-cache's and CacheControl's values on ``backend`` (None: n/a)."""
    return [values.get(f"{library}|{backend}") for library in LIBRARIES]


def versus(values: dict[str, float], backend: str) -> tuple[list[str], float | None, float | None]:
    """A row of times (backend, the three libraries, hc / rc, hc / cc), and both ratios."""
    ours, rc, cc = by_library(values, backend)
    to_rc, to_cc = ratio(ours, rc), ratio(ours, cc)
    cells = [backend, fmt_us(ours), fmt_us(rc), fmt_us(cc), fmt_ratio(to_rc), fmt_ratio(to_cc)]
    return cells, to_rc, to_cc


def versus_best(values: dict[str, float], backend: str) -> tuple[list[str], float | None]:
    """Rates (per second) of the three libraries and httpcache's over the better other."""
    ours, *others = by_library(values, backend)
    top = max((v for v in others if v is not None), default=None)
    gain = ratio(ours, top)
    cells = [f"{v:.0f}/s" if v is not None else "n/a" for v in [ours, *others]]
    return [*cells, fmt_ratio(gain)], gain


def at_most(goals: list[Goal], text: str, value: float | None, limit: float) -> None:
    """Add the goal ``value <= limit`` when the value was measured (a ratio)."""
    if value is not None:
        goals.append(Goal(text, value <= limit, f"{value:.2f}x"))


def at_least(text: str, value: float | None, limit: float) -> Goal:
    """The goal ``value >= limit``, "not measured" without a value (a ratio)."""
    return Goal(text, None if value is None else value >= limit, fmt_ratio(value))


def overheads(times: dict[str, list[float]], plain: Sequence[float]) -> dict[str, float]:
    """Median, over the rounds, of each contender's time minus plain's in that round."""
    return {
        name: median([t - p for t, p in zip(values, plain, strict=True)])
        for name, values in times.items()
    }


def na_notes(missing: dict[str, str]) -> list[str]:
    """One note per contender that could not run, with the reason."""
    return [f"n/a: {name}: {why}" for name, why in missing.items()]
