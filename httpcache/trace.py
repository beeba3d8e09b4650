"""The decision trace: every step the engine takes for one request, with its reason,
the RFC sections behind it and the figures it rests on.

The engine writes each step here and logs it at DEBUG on logger "httpcache" (the
log is a view of the trace, not its source). ``hc explain`` and ``hc -v`` read the
trace from ``response.cache_trace``; nothing parses log text.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

logger = logging.getLogger("httpcache")

Phase = Literal["lookup", "response", "note"]

#: The sections of RFC 9111 (and RFC 5861) that make each decision, by its name.
SECTIONS: dict[str, tuple[str, ...]] = {
    "UseStored": ("RFC 9111 §4.2", "RFC 9111 §4.2.3"),
    "UseStale": ("RFC 9111 §4.2.4",),
    "Revalidate": ("RFC 9111 §4.3.1",),
    "Forward": ("RFC 9111 §4",),
    "GatewayTimeout": ("RFC 9111 §5.2.1.7",),
    "Store": ("RFC 9111 §3",),
    "DoNotStore": ("RFC 9111 §3",),
    "Freshen": ("RFC 9111 §4.3.3", "RFC 9111 §4.3.4"),
    "Refetch": ("RFC 9111 §4.3.4",),
    "Invalidate": ("RFC 9111 §4.4",),
    "ServeStale": ("RFC 5861 §4", "RFC 9111 §4.2.4"),
}
_CITED = re.compile(r"(RFC \d+ )?§\s?\d+(?:\.\d+)*")

#: Figures computed only when somebody reads them (a hit must not pay for them).
FigureSource = Callable[[], dict[str, float]]


@dataclass(slots=True)
class Step:
    """One decision. ``decision`` names the action (UseStored, Forward, Revalidate,
    GatewayTimeout, Store, DoNotStore, Freshen, Refetch, Invalidate, ServeStale) or is
    ``Note`` / ``Warning`` for what is not a decision."""

    phase: Phase
    decision: str
    reason: str
    status: str = ""
    _figures: FigureSource | dict[str, float] | None = field(default=None, repr=False)

    @property
    def rfc(self) -> tuple[str, ...]:
        """The sections the reason cites itself, then those of the decision's kind."""
        cited = [
            m.group(0) if m.group(1) else "RFC 9111 " + m.group(0).replace(" ", "")
            for m in _CITED.finditer(self.reason)
        ]
        kind = "UseStale" if self.decision == "UseStored" and self.status == "stale" else None
        found: list[str] = []
        for ref in [*cited, *SECTIONS.get(kind or self.decision, ())]:
            if ref not in found:
                found.append(ref)
        return tuple(found)

    @property
    def figures(self) -> dict[str, float]:
        """The numbers behind the decision (age, lifetime, staleness in seconds, ...)."""
        source = self._figures
        if source is None:
            return {}
        if callable(source):
            source = self._figures = {k: v for k, v in source().items() if not math.isnan(v)}
        return dict(source)

    def as_dict(self) -> dict[str, object]:
        return {
            "phase": self.phase,
            "decision": self.decision,
            "reason": self.reason,
            "status": self.status,
            "rfc": list(self.rfc),
            "figures": {k: (None if math.isinf(v) else v) for k, v in self.figures.items()},
        }


class Trace:
    """The steps of one request, in order; each is logged at DEBUG as it is added."""

    __slots__ = ("method", "steps", "url")

    def __init__(self, method: str, url: object) -> None:
        self.method = method
        self.url = url  # formatted (and redacted) only when a log line is written
        self.steps: list[Step] = []

    def add(
        self,
        phase: Phase,
        decision: str,
        reason: str,
        *,
        status: str = "",
        figures: FigureSource | dict[str, float] | None = None,
        level: int = logging.DEBUG,
    ) -> Step:
        step = Step(phase, decision, reason, status, figures)
        self.steps.append(step)
        if logger.isEnabledFor(level):
            logger.log(level, "%s %s: %s (%s)", self.method, self.url, decision, reason)
        return step

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def decisions(self) -> list[str]:
        return [step.decision for step in self.steps]
