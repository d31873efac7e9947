"""The explicit list of invariants ``lethe audit verify`` checks, and the run over it.

Adding an invariant is adding a function and an :class:`~shared.audit.model.Invariant` line to
its group's module (``shape``, ``lifecycle``, ``erasure``, ``requests``); :data:`INVARIANTS`
names each group's tuple in order, and :func:`check` runs every one and reports each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from shared.audit import erasure, lifecycle, requests, shape
from shared.audit.model import BucketVersions, Entry, Facts, Invariant, Result, Violation

INVARIANTS: tuple[Invariant, ...] = (*shape.INVARIANTS, *lifecycle.INVARIANTS,
                                     *erasure.INVARIANTS, *requests.INVARIANTS)


@dataclass(frozen=True)
class Report:
    """The outcome of every invariant, in :data:`INVARIANTS` order."""

    results: tuple[Result, ...]

    @property
    def violations(self) -> list[Violation]:
        """Every violation, invariant by invariant."""
        return [v for r in self.results for v in r.violations]

    @property
    def ok(self) -> bool:
        """True when no invariant failed (skipped ones do not fail)."""
        return all(r.status != "fail" for r in self.results)

    def as_list(self) -> list[dict[str, Any]]:
        """JSON-able: one entry per invariant (name, status, checked_events, violations, ...)."""
        return [r.as_dict() for r in self.results]


def check(logs: dict[str, list[Entry]], now: dt.datetime | None = None,
          bucket_versions: BucketVersions | None = None,
          invariants: tuple[Invariant, ...] = INVARIANTS) -> Report:
    """Run ``invariants`` over ``logs`` (service -> entries in log order).

    ``now`` (UTC, default: the current time) is the clock of deadline checks;
    ``bucket_versions`` (bucket -> live key versions, see
    :func:`shared.audit.erasure.bucket_versions_in`) enables those that need the key source.
    """
    facts = Facts(logs, now or dt.datetime.now(dt.timezone.utc), bucket_versions)
    results = []
    for inv in invariants:
        if inv.needs_key_source and bucket_versions is None:
            results.append(Result(inv, "skipped", 0, ()))
            continue
        found = tuple(inv.check(facts))
        results.append(Result(inv, "fail" if found else "pass", facts.count(inv.reads), found))
    return Report(tuple(results))


def verify(logs: dict[str, list[Entry]], now: dt.datetime | None = None,
           bucket_versions: BucketVersions | None = None) -> list[Violation]:
    """Every violation of :func:`check` (empty: every invariant holds)."""
    return check(logs, now, bucket_versions).violations
