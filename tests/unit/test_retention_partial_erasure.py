"""Retention after a partial erasure: the vault's shred closes only what it destroyed (the shredded
generations, but for the categories left under legal hold), so held data still has a schedule a
hold can keep, and later use of the account still expires."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from pathlib import Path

import pytest

from services.retention.application import RetentionApplication
from services.retention.domain import ErasureScope, RecordSchedule, SubjectStatus
from shared.config import Settings
from shared.follower import Batch, UpstreamEvent
from shared.keysource import FileKeySource

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
SUBJECT = "sr_" + "c" * 32


@pytest.fixture()
def retention(tmp_path: Path) -> RetentionApplication:
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
    facts: dict[str, tuple[dt.datetime, str]] = {}  # the vault's answers (GetRecordFacts)
    app = RetentionApplication(settings, FileKeySource(settings.key_dir), purge=lambda ids, _: len(ids),
                               record_facts=lambda ids: {r: facts[r] for r in ids if r in facts})
    app.facts = facts
    yield app
    app.close()


def _vault_event(app: RetentionApplication, kind: str, originator: str, **attrs: object) -> None:
    batch = Batch(app)
    app.on_vault_event(UpstreamEvent(1, kind, originator, attrs), batch)
    app.save(*batch.aggregates.values())


def _store(app: RetentionApplication, category: str, generation: int,
           received_at: dt.datetime = T0) -> str:
    rid = str(uuid.uuid4())
    if hasattr(app, "facts"):
        app.facts[rid] = (received_at, "i-1")
    _vault_event(app, "RecordStored", rid, subject_ref=SUBJECT, category=category,
                 form="metadata", generation=generation, facts="")
    return rid


def _shred(app: RetentionApplication, request_id: str, generation: int,
           kept: list[str], erased_at: dt.datetime = T0 + DAY) -> None:
    _vault_event(app, "SubjectShredded", str(uuid.uuid4()), subject_ref=SUBJECT,
                 request_id=request_id, generation=generation, erased_at=erased_at.isoformat(),
                 kept_categories=kept)


def _states(app: RetentionApplication) -> dict[str, str]:
    return {s["record_id"]: s["state"] for s in app.list_schedules(SUBJECT)}


def test_a_partial_erasure_leaves_the_held_categories_scheduled_and_blocking(
        retention: RetentionApplication) -> None:
    app = retention
    content = _store(app, "user.content", 1)
    meta = _store(app, "system.operations", 1)
    app.place_hold("h-1", SUBJECT, "", "", "security_investigation", "case-1")
    _shred(app, "erase-1", 1, ["system.operations"])
    assert _states(app) == {content: "erased", meta: "scheduled"}
    answer = app.erasure_blockers(SUBJECT)
    assert [b.hold_id for b in answer.blockers] == ["h-1"]
    assert answer.preserved_categories == ("system.operations",)
    app.release_hold("h-1")
    _shred(app, "erase-1:held", 1, [], T0 + 2 * DAY)
    assert _states(app) == {content: "erased", meta: "erased"}
    assert not app.erasure_blockers(SUBJECT).blocked


def test_a_held_part_shred_leaves_later_generations_to_expire(
        retention: RetentionApplication) -> None:
    app = retention
    held = _store(app, "system.operations", 1)
    _shred(app, "erase-1", 1, ["system.operations"])
    later = _store(app, "system.operations", 2, received_at=T0 + 2 * DAY)
    _shred(app, "erase-1:held", 1, [], T0 + 3 * DAY)
    assert _states(app) == {held: "erased", later: "scheduled"}
    assert app.sweep(T0 + 200 * DAY)["expired"] == 1
    assert _states(app)[later] == "expired"


def test_a_held_record_arriving_late_stays_scheduled(retention: RetentionApplication) -> None:
    app = retention
    _shred(app, "erase-1", 1, ["system.operations"])
    late_meta = _store(app, "system.operations", 1)  # received before the erasure
    late_content = _store(app, "user.content", 1)
    assert _states(app) == {late_meta: "scheduled", late_content: "erased"}


def test_a_full_erasure_closes_every_schedule_of_its_generations(
        retention: RetentionApplication) -> None:
    app = retention
    ids = [_store(app, c, 1) for c in ("user.content", "system.operations", "user.contact")]
    _shred(app, "erase-1", 1, [])
    assert _states(app) == dict.fromkeys(ids, "erased")


def test_a_schedule_of_unknown_generation_is_covered_by_any_shred() -> None:
    assert ErasureScope(1, ()).covers("system.operations", 0)
    assert not ErasureScope(1, ("system.operations",)).covers("system.operations", 0)
    assert ErasureScope(0, ()).covers("user.content", 7)
    assert not ErasureScope(1, ()).covers("user.content", 2)


def test_v1_events_upcast_to_unknown_generation_and_full_erasure() -> None:
    created = {"record_id": uuid.uuid4()}
    RecordSchedule.ScheduleCreated.upcast_v1_v2(created)
    assert created["generation"] == 0
    forgotten: dict[str, object] = {}
    SubjectStatus.SubjectForgotten.upcast_v1_v2(forgotten)
    assert forgotten == {"generation": 0, "kept_categories": []}


def test_an_index_from_an_older_schema_is_rebuilt_from_the_log_once(tmp_path: Path) -> None:
    """An index that kept times from the log (no ``facts`` column) is dropped and rebuilt from
    the log: its old rows (with their clear times) are gone, the log's schedules come back with
    no time until the vault answers."""
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
    app = RetentionApplication(settings, FileKeySource(settings.key_dir))
    rid = _store(app, "user.content", 1)
    app.close()
    path = settings.service_dir("retention") / "index.db"
    db = sqlite3.connect(path)
    db.execute("DROP TABLE schedules")
    db.execute("""CREATE TABLE schedules (
        record_id TEXT PRIMARY KEY, subject_ref TEXT NOT NULL, category TEXT NOT NULL,
        form TEXT NOT NULL, rule TEXT NOT NULL, interaction_id TEXT NOT NULL,
        stored_us BIGINT NOT NULL, due_us BIGINT, state TEXT NOT NULL,
        purged BIGINT NOT NULL, sweep_id TEXT NOT NULL)""")
    db.execute("INSERT INTO schedules VALUES ('r-old', ?, 'user.content', 'original', 'content', "
               "'i-0', 0, NULL, 'scheduled', 1, '')", (SUBJECT,))
    db.commit()
    db.close()
    for _ in range(2):  # a second start-up keeps the rebuilt index
        app = RetentionApplication(settings, FileKeySource(settings.key_dir))
        assert app.index.schedule("r-old") is None
        rebuilt = app.index.schedule(rid)
        assert rebuilt is not None and rebuilt["state"] == "scheduled"
        assert rebuilt["stored_at"] is None and rebuilt["interaction_id"] is None
        app.close()
