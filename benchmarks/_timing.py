"""Interleaved timing: each round runs every contender's batch once, in turn."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def in_turn(names: Sequence[T], round_: int) -> list[T]:
    """The order of round ``round_``: forwards, then backwards, so that no
    contender always follows the same one."""
    return list(names) if round_ % 2 == 0 else list(names)[::-1]


def interleaved(
    calls: dict[str, Callable[[], object]],
    rounds: int,
    batch: int,
    warmup: int = 1,
    target: float | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each contender, one value per round.

    With ``target`` (seconds), each contender's batch is sized from its warm-up so
    that one batch takes about that long (at least 3 calls, at most ``batch``): slow
    backends do not stretch the run, fast ones still get many calls per round.
    """
    sizes = {}
    for name, call in calls.items():
        started = time.perf_counter()
        for _ in range(max(warmup, 1)):
            call()
        per_call = (time.perf_counter() - started) / max(warmup, 1)
        sizes[name] = batch if target is None else max(3, min(batch, int(target / per_call)))
    times: dict[str, list[float]] = {name: [] for name in calls}
    for n in range(rounds):
        for name in in_turn(list(calls), n):
            call, size = calls[name], sizes[name]
            gc.collect()
            started = time.perf_counter()
            for _ in range(size):
                call()
            times[name].append((time.perf_counter() - started) / size)
    return times
