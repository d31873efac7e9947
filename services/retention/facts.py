"""Retention's collection times, asked of the vault and kept only in the schedule index.

Neither the vault's ``RecordStored`` nor retention's ``ScheduleCreated`` carries a per-record time
or interaction id (both logs outlive an erasure; docs/design.md §4, guarantee 9). A new schedule's
index row waits (``facts`` PENDING) until :meth:`FactFilling.fill_facts` asks the vault
(``record_facts``: its ``GetRecordFacts``, answered from the record's sealed facts while the key
lives) and writes the collection time, the rule's deadline and the interaction id; a record the
vault no longer has gets none, and is closed when an erasure of its subject covers it. Mixed into
:class:`services.retention.application.RetentionApplication`, which provides ``index``,
``policy``, ``lock``, ``repository``, ``save`` and ``record_facts``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from services.retention.domain import SubjectStatus
from services.retention.index import ScheduleIndex

RecordFactsSource = Callable[[list[str]], dict[str, tuple[dt.datetime, str]]]
FACTS_PAGE = 1000  # records per GetRecordFacts call


class FactFilling:
    """Fills the schedule index with what the vault answers about each record."""

    index: ScheduleIndex
    policy: Any
    lock: Any
    repository: Any
    save: Any
    record_facts: RecordFactsSource | None

    def fill_facts(self) -> int:
        """Ask the vault for the collection time and interaction id of every live schedule that
        lacks them, :data:`FACTS_PAGE` records per call, and write them (with the rule's deadline)
        to the index; returns how many were asked. Raises Unavailable (from the adapter) when the
        vault cannot answer: the rows stay pending and are asked again."""
        if self.record_facts is None:
            return 0
        asked = 0
        with self.lock:
            while page := self.index.pending(FACTS_PAGE):
                answers = self.record_facts([rid for rid, _ in page])
                known = []
                for rid, category in page:
                    if rid in answers:
                        collected, iid = answers[rid]
                        known.append((rid, collected, self.policy.rule_for(category).due_at(collected), iid))
                missing = [rid for rid, _ in page if rid not in answers]
                self.index.fill(known, missing)
                self._close_erased(missing)
                asked += len(page)
        return asked

    def _close_erased(self, record_ids: list[str]) -> None:
        """Close the schedules of records the vault no longer has when an erasure of their
        subject covers them (e.g. one noted before their RecordStored was followed)."""
        closed = []
        for rid in record_ids:
            schedule = self.repository.get(uuid.UUID(rid))
            try:
                status = self.repository.get(SubjectStatus.create_id(schedule.subject_ref))
            except AggregateNotFoundError:
                continue
            request_id = status.erasure_covering(schedule.category, schedule.generation)
            if request_id and schedule.state == "scheduled":
                schedule.close_for_erasure(request_id=request_id)
                closed.append(schedule)
        self.save(*closed)
