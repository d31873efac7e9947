"""Folds of retention's log that the console keeps between page loads, read by cursor.

The Retention and Records of processing pages need every live schedule (what expires when, how
many records each rule holds), a fold over retention's whole log. :class:`RetentionFold` keeps
that fold in the console process with the position it reached, and each page load reads at most
``budget`` events after it (``ReadEvents(after_position, limit)``): a page never reads more than
that, however long the log; until the fold has caught up, the page says how far it got. Memory:
one small entry per live schedule (record id, category, deadline), plus the last sweeps.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

CLOSED = {"RecordExpired", "ExpiredRecordPurged", "ScheduleClosedByErasure"}
SWEEP_FIELDS = ("expired", "held", "aggregated", "excluded_by_objection")
BUDGET = 20_000  # events read per page load at most


def _when(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) and value else None


def fold_schedules(live: dict[str, dict[str, Any]], entries: Any) -> dict[str, dict[str, Any]]:
    """Apply retention's events (audit entries, in log order) to ``live`` (record id ->
    category, due_at) and return it: created schedules, deadlines set, schedules closed."""
    for e in entries:
        a = e.attributes
        if e.event == "ScheduleCreated" and a.get("state", "scheduled") == "scheduled":
            live[e.originator_id] = {"category": a.get("category", ""), "due_at": _when(a.get("due_at"))}
        elif e.event == "DeadlineSet" and e.originator_id in live:
            live[e.originator_id]["due_at"] = _when(a.get("due_at"))
        elif e.event in CLOSED:
            live.pop(e.originator_id, None)
    return live


@dataclass
class RetentionFold:
    """Live schedules and the last sweeps, folded from retention's log up to ``position``."""

    budget: int = BUDGET
    position: int = 0
    size: int = 0  # the log's size at the last read
    live: dict[str, dict[str, Any]] = field(default_factory=dict)
    sweeps: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=10))
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def caught_up(self) -> bool:
        """True when the fold has read the log up to its size at the last read."""
        return self.position >= self.size

    def advance(self, backend: Any) -> None:
        """Read at most ``budget`` events after ``position`` and fold them in.

        Raises BackendError when retention's log cannot be read (the fold keeps what it had).
        """
        with self.lock:
            self.size = backend.log_size("retention")
            entries = backend.read_log_after("retention", self.position, self.budget)
            fold_schedules(self.live, entries)
            for e in entries:
                if e.event == "SweepCompleted":
                    self.sweeps.append({"time": e.recorded_at, "at": e.attributes.get("at", ""),
                                        **{k: e.attributes.get(k, 0) for k in SWEEP_FIELDS}})
            if entries:
                self.position = entries[-1].position
