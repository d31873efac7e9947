"""The audit's erasure invariants after a partial erasure, on synthetic logs: a shred destroys the
records of its generations but not those of the categories it kept under legal hold, so reading
held data is no READ_AFTER_ERASURE and its open schedule no ERASED_SCHEDULE_OPEN, until the
held-part shred destroys it; later use of the account is never covered."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cli.audit import Entry, erased_keys_alive, verify

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
SUBJECT = "sr_" + "d" * 32
CONTENT, META, LATER = "rec-content", "rec-meta", "rec-later"


class Logs:
    """Vault and retention logs built in order, with gap-free positions."""

    def __init__(self) -> None:
        self.logs: dict[str, list[Entry]] = {"vault": [], "retention": []}
        self.minutes = 0

    def add(self, service: str, event: str, originator: str, **attrs: Any) -> None:
        self.minutes += 1
        log = self.logs[service]
        log.append(Entry(service, len(log) + 1, event, originator, 1,
                         T0 + dt.timedelta(minutes=self.minutes), attrs))

    def record(self, rid: str, category: str, generation: int) -> None:
        self.add("vault", "RecordStored", rid, subject_ref=SUBJECT, category=category,
                 generation=generation)
        self.add("retention", "ScheduleCreated", rid, subject_ref=SUBJECT, category=category,
                 state="scheduled", generation=generation)

    def shred(self, request_id: str, generation: int, kept: list[str],
              rotated: list[list[int]] | None = None) -> None:
        self.add("vault", "SubjectShredded", "keyring", subject_ref=SUBJECT, request_id=request_id,
                 generation=generation, kept_categories=kept, buckets_rotated=rotated or [])

    def kinds(self) -> list[tuple[str, str]]:
        return sorted((v.kind, v.message.split()[-1]) for v in verify(self.logs, T0))


def _partially_erased() -> Logs:
    logs = Logs()
    logs.record(CONTENT, "user.content", 1)
    logs.record(META, "system.operations", 1)
    logs.shred("erase-1", 1, ["system.operations"])
    logs.add("retention", "ScheduleClosedByErasure", CONTENT, request_id="erase-1")
    return logs


def test_reading_held_data_after_a_partial_erasure_is_no_violation() -> None:
    logs = _partially_erased()
    logs.add("vault", "RecordRead", META, purpose="access", request_id="access-1")
    assert logs.kinds() == []


def test_reading_erased_data_after_a_partial_erasure_is_a_violation() -> None:
    logs = _partially_erased()
    logs.add("vault", "RecordRead", CONTENT, purpose="access", request_id="access-1")
    assert logs.kinds() == [("READ_AFTER_ERASURE", CONTENT)]


def test_the_held_part_shred_covers_the_held_data_but_not_later_generations() -> None:
    logs = _partially_erased()
    logs.add("vault", "KeyGenerationCreated", "keyring", generation=2, bucket=3)
    logs.record(LATER, "system.operations", 2)
    logs.shred("erase-1:held", 1, [])
    logs.add("vault", "RecordRead", META, purpose="access", request_id="access-2")
    logs.add("vault", "RecordRead", LATER, purpose="access", request_id="access-2")
    assert logs.kinds() == [("ERASED_SCHEDULE_OPEN", META), ("READ_AFTER_ERASURE", META)]
    logs.add("retention", "ScheduleClosedByErasure", META, request_id="erase-1:held")
    assert logs.kinds() == [("READ_AFTER_ERASURE", META)]


def test_erased_key_alive_is_checked_for_every_shredded_generation_and_group() -> None:
    logs = Logs()
    # the partial shred rotated bucket 5 (content group of generation 1) to v2; the held part's
    # shred rotated bucket 9 (metadata group of generation 1) to v4
    logs.shred("erase-1", 1, ["system.operations"], [[1, 5, 2]])
    logs.shred("erase-1:held", 1, [], [[1, 9, 4]])
    shreds = logs.logs["vault"]
    live = {5: [2], 9: [4]}
    assert erased_keys_alive(shreds, lambda b: live[b]) == []
    live[9] = [3, 4]  # the held group's old bucket key survived its shred
    found = erased_keys_alive(shreds, lambda b: live[b])
    assert [(v.kind, v.position) for v in found] == [("ERASED_KEY_ALIVE", 2)]
