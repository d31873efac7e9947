"""What the audit reads and reports: log entries, violations, invariants and their results.

An :class:`Invariant` is one named guarantee: its ``name`` (UPPER_SNAKE, the kind of the
violations it reports), the README.md promise it proves (quoted), the ``(service, event type)``
pairs it reads, and a ``check`` over :class:`Facts` (every log, indexed once) that yields
:class:`Violation` objects naming service, position and ids, never personal data.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Events stamped with the epoch on purpose: their own time would date a data subject's activity
# after an erasure (docs/design.md §4.9); the audit shows them undated, placed by log order.
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
ANY = "*"  # in ``Invariant.reads``: every event (type) of a log (service)
BucketVersions = Callable[[int], list[int]]


@dataclass(frozen=True)
class Entry:
    """One event of one service's log, decoded."""

    service: str
    position: int
    event: str
    originator_id: str
    version: int
    recorded_at: dt.datetime
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def dated(self) -> bool:
        """False for an event stamped with :data:`EPOCH` (undated on purpose)."""
        return self.recorded_at > EPOCH

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form; ``time`` is None for an undated event."""
        attrs = {k: v for k, v in self.attributes.items() if k != "originator_topic"}
        return {"time": self.recorded_at.isoformat() if self.dated else None, "service": self.service,
                "position": self.position, "event": self.event, "id": self.originator_id,
                "attributes": attrs}


def entry_of(service: str, e: Any) -> Entry:
    """An Entry from a ``lethe.v1.LogEvent`` message (what ``ReadEvents`` streams)."""
    return Entry(service, e.position, e.event_type, e.originator_id, e.originator_version,
                 e.recorded_at.ToDatetime(tzinfo=dt.timezone.utc), json.loads(e.attributes_json))


@dataclass(frozen=True)
class Violation:
    """A broken guarantee: kind, service, position and a message with ids only."""

    kind: str
    service: str
    position: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"kind": self.kind, "service": self.service, "position": self.position,
                "message": self.message}


class Facts:
    """Every log, indexed once for the invariants: entries by (service, event type), the vault's
    stored records by id, and a memo where invariants share derived indexes (e.g. erasures).

    ``now``: the audit's clock (UTC); ``bucket_versions``: bucket -> live key versions of the
    vault's key source, or None when the auditor cannot see it.
    """

    def __init__(self, logs: dict[str, list[Entry]], now: dt.datetime,
                 bucket_versions: BucketVersions | None = None) -> None:
        self.logs, self.now, self.bucket_versions = logs, now, bucket_versions
        self.by: dict[tuple[str, str], list[Entry]] = defaultdict(list)
        for service, log in logs.items():
            for e in log:
                self.by[(service, e.event)].append(e)
        self.stored = {e.originator_id: e for e in self.by[("vault", "RecordStored")]}
        self.schedules = {e.originator_id: e for e in self.by[("retention", "ScheduleCreated")]}
        self.memo: dict[str, Any] = {}

    def events(self, service: str, event: str) -> list[Entry]:
        """The entries of one event type of one log, in log order (``ANY``: every one)."""
        services = self.logs if service == ANY else [service]
        if event == ANY:
            return [e for s in services for e in self.logs.get(s, ())]
        return [e for s in services for e in self.by.get((s, event), ())]

    def count(self, reads: Iterable[tuple[str, str]]) -> int:
        """How many entries the pairs ``reads`` select (each entry counted once)."""
        pairs = set(reads)
        whole = set(self.logs) if (ANY, ANY) in pairs else {s for s, e in pairs if e == ANY}
        return sum(len(self.logs.get(s, ())) for s in whole) + sum(
            len(self.by.get((s, event), ())) for service, event in pairs if event != ANY
            for s in (self.logs if service == ANY else [service]) if s not in whole)


@dataclass(frozen=True)
class Invariant:
    """One named guarantee that ``lethe audit verify`` checks.

    ``needs_key_source``: checked only when the vault's key source is visible to the auditor
    (``Facts.bucket_versions`` set); otherwise reported as skipped.
    """

    name: str
    promise: str
    reads: tuple[tuple[str, str], ...]
    check: Callable[[Facts], Iterator[Violation]]
    needs_key_source: bool = False


@dataclass(frozen=True)
class Result:
    """One invariant's outcome: ``status`` is ``pass``, ``fail`` or ``skipped``; ``checked`` the
    number of events it read."""

    invariant: Invariant
    status: str
    checked: int
    violations: tuple[Violation, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (the violations are listed once, in the report's ``violations``)."""
        inv = self.invariant
        return {"name": inv.name, "status": self.status, "checked_events": self.checked,
                "violations": len(self.violations), "promise": inv.promise,
                "reads": [f"{s}:{e}" for s, e in inv.reads]}


def strings_in(obj: Any) -> Iterator[str]:
    """Every string value nested in a JSON-able value (dict keys excluded)."""
    if isinstance(obj, dict):
        for v in obj.values():
            yield from strings_in(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from strings_in(v)
    elif isinstance(obj, str):
        yield obj
