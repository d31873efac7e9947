"""Folds of the logs that the console keeps between page loads, read by cursor.

The Retention and Records of processing pages need every live schedule (what expires when, how
many records each rule holds), a fold over retention's whole log. :class:`RetentionFold` keeps
that fold in the console process with the position it reached, and each page load reads at most
``budget`` events after it (``ReadEvents(after_position, limit)``): a page never reads more than
that, however long the log; until the fold has caught up, the page says how far it got. Memory:
one small entry per live schedule (record id, category, deadline), plus the last sweeps.
:class:`SubjectIndex` does the same for the Subject page over all five logs: where each
subject's events are, so that its timeline reads only them.
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


@dataclass
class SubjectIndex:
    """Where each subject's events are in the five logs, folded by cursor like RetentionFold.

    Per service: the positions of each aggregate's events, and the aggregates of each subject
    (those with an event carrying its ``subject_ref``, as ``shared.audit.timeline`` picks them).
    Memory: one position per event and one entry per aggregate, no event content. A subject's
    timeline then reads exactly its aggregates' events (consecutive positions in one call).
    """

    budget: int = BUDGET
    position: dict[str, int] = field(default_factory=dict)  # service -> folded up to
    size: dict[str, int] = field(default_factory=dict)  # service -> log size at the last read
    events: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (service, aggregate)
    subjects: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # subject_ref -> keys
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def caught_up(self) -> bool:
        """True when every log was read up to its size at the last read."""
        return all(self.position.get(s, 0) >= n for s, n in self.size.items())

    def advance(self, backend: Any, services: Any) -> None:
        """Read at most ``budget`` new events in all (the services in order) and index them."""
        with self.lock:
            left = self.budget
            for service in services:
                self.size[service] = backend.log_size(service)
                after = self.position.get(service, 0)
                if left <= 0 or after >= self.size[service]:
                    continue
                entries = backend.read_log_after(service, after, left)
                for e in entries:
                    key = (service, e.originator_id)
                    self.events.setdefault(key, []).append(e.position)
                    ref = e.attributes.get("subject_ref")
                    if isinstance(ref, str) and ref:
                        self.subjects.setdefault(ref, set()).add(key)
                if entries:
                    self.position[service] = entries[-1].position
                left -= len(entries)

    def entries_of(self, backend: Any, subject_ref: str) -> list[Any]:
        """The indexed events of the subject's aggregates, read back by position (log order
        within each service)."""
        with self.lock:
            wanted: dict[str, list[int]] = {}
            for service, aggregate in self.subjects.get(subject_ref, ()):
                wanted.setdefault(service, []).extend(self.events[(service, aggregate)])
        out: list[Any] = []
        for service, positions in sorted(wanted.items()):
            for first, count in _runs(sorted(positions)):
                out += backend.read_log_after(service, first - 1, count)
        return out


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted positions as (first, length)."""
    runs: list[tuple[int, int]] = []
    for p in positions:
        if runs and runs[-1][0] + runs[-1][1] == p:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((p, 1))
    return runs
