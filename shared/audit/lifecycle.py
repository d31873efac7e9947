"""Invariants of a record's life across services: ingested, stored, scheduled, expired, purged.

* ``RECORD_WITHOUT_SCHEDULE`` / ``SCHEDULE_WITHOUT_RECORD``: the vault and retention disagree;
* ``INGESTED_NOT_STORED``: an ingested interaction's record is missing in the vault;
* ``RECORD_KIND_UNKNOWN``: a stored record's category and form are no record kind
  (``shared/record_kinds.py``), so no part of an interaction and no retention rule matches it;
* ``EXPIRED_NOT_PURGED``: retention expired a record the vault never purged (nor shredded);
* ``AGGREGATED_NOT_REDACTED``: a record fed aggregation at expiry although its kind may not.
"""

from __future__ import annotations

from collections.abc import Iterator

from shared import record_kinds
from shared.audit.erasure import erased_at
from shared.audit.model import Facts, Invariant, Violation

_STORED = ("vault", "RecordStored")
_SCHEDULED = ("retention", "ScheduleCreated")
_EXPIRED = ("retention", "RecordExpired")


def record_without_schedule(facts: Facts) -> Iterator[Violation]:
    """Each record the vault stored that retention never scheduled."""
    for rid, e in facts.stored.items():
        if rid not in facts.schedules:
            yield Violation("RECORD_WITHOUT_SCHEDULE", "vault", e.position, f"record {rid}")


def schedule_without_record(facts: Facts) -> Iterator[Violation]:
    """Each schedule of a record the vault never stored."""
    for rid, e in facts.schedules.items():
        if rid not in facts.stored:
            yield Violation("SCHEDULE_WITHOUT_RECORD", "retention", e.position, f"record {rid}")


def ingested_not_stored(facts: Facts) -> Iterator[Violation]:
    """Each record id of an ``InteractionIngested`` that the vault never stored."""
    for e in facts.events("ingestion", "InteractionIngested"):
        for rid in e.attributes.get("record_ids", []):
            if rid not in facts.stored:
                yield Violation("INGESTED_NOT_STORED", "ingestion", e.position, f"record {rid}")


def record_kind_unknown(facts: Facts) -> Iterator[Violation]:
    """Each stored record or schedule whose (category, form) is no record kind (an event without
    a form: whose category is no kind's)."""
    for e in [*facts.stored.values(), *facts.schedules.values()]:
        category, form = str(e.attributes.get("category")), e.attributes.get("form")
        if (record_kinds.kind_of(category, str(form)) is None if form is not None
                else category not in record_kinds.CATEGORIES):
            yield Violation("RECORD_KIND_UNKNOWN", e.service, e.position,
                            f"record {e.originator_id}")


def expired_not_purged(facts: Facts) -> Iterator[Violation]:
    """Each ``RecordExpired`` whose record has no ``RecordPurged`` and whose key was not shredded."""
    purged = {e.originator_id for e in facts.events("vault", "RecordPurged")}
    for e in facts.events(*_EXPIRED):
        if e.originator_id not in purged and erased_at(facts, e.originator_id) is None:
            yield Violation("EXPIRED_NOT_PURGED", "retention", e.position, f"record {e.originator_id}")


def aggregated_not_redacted(facts: Facts) -> Iterator[Violation]:
    """Each ``RecordExpired`` with ``aggregated`` true whose schedule's form is not one a record
    kind lets feed aggregation (only the redacted form: placeholders, no personal data)."""
    for e in facts.events(*_EXPIRED):
        if not e.attributes.get("aggregated"):
            continue
        schedule = facts.schedules.get(e.originator_id)
        form = str(schedule.attributes.get("form")) if schedule else ""
        kind = record_kinds.kind_of(str(schedule.attributes.get("category")) if schedule else "",
                                    form)
        if kind is None or not kind.aggregatable:
            yield Violation("AGGREGATED_NOT_REDACTED", "retention", e.position,
                            f"record {e.originator_id}")


_TABLE = ("Where each promise of the privacy policy is enforced: \"the retention table\" "
          "(`shared/policy.toml` ... applied by `services/retention`)")
INVARIANTS = (
    Invariant("RECORD_WITHOUT_SCHEDULE", _TABLE + ": every stored record is scheduled",
              (_STORED, _SCHEDULED), record_without_schedule),
    Invariant("SCHEDULE_WITHOUT_RECORD", _TABLE + ": every schedule is of a stored record",
              (_STORED, _SCHEDULED), schedule_without_record),
    Invariant("INGESTED_NOT_STORED", "Input (`lethe ingest`): \"nothing is half-stored\" (every "
              "record of an ingested interaction is in the vault)",
              (("ingestion", "InteractionIngested"), _STORED), ingested_not_stored),
    Invariant("RECORD_KIND_UNKNOWN", _TABLE + ": every record is a record kind whose category "
              "has a retention rule", (_STORED, _SCHEDULED), record_kind_unknown),
    Invariant("EXPIRED_NOT_PURGED", "Retention sweeps: \"a sweep of any size purges everything "
              "it expires\"", (_EXPIRED, ("vault", "RecordPurged"), _STORED,
                                ("vault", "SubjectShredded")), expired_not_purged),
    Invariant("AGGREGATED_NOT_REDACTED", "Where each promise of the privacy policy is enforced: "
              "\"de-identified aggregation for training\" (only redacted forms are aggregated)",
              (_EXPIRED, _SCHEDULED), aggregated_not_redacted),
)
