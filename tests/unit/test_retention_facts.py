"""Retention's collection times come from the vault and leave with the record (issue 10 item 4).

A real :class:`VaultApplication` answers ``record_facts`` (the RPC's use case); retention follows
its log. Attempts to break it: back-dated records must expire on the collection time; an index
rebuilt from the log must find the same deadlines (from the vault again); an erasure must leave
no time or interaction id in the index, its file or its WAL, including rows already expired; the
vault being unreachable must keep rows pending, never due; a ``ScheduleCreated`` v2 (clear times)
must read back as v3 without them.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from services.retention.application import RetentionApplication
from services.retention.domain import EPOCH, RecordSchedule
from services.retention.index import to_us
from services.vault.application import RecordIn, VaultApplication
from shared.config import Settings
from shared.errors import Unavailable
from shared.follower import Batch, UpstreamEvent
from shared.keysource import FileKeySource
from shared.store import open_store

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
DAY = dt.timedelta(days=1)
VICTIM, OTHER = f"sr_{1:032x}", f"sr_{2:032x}"


PG = {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres",
      "POSTGRES_DBNAME": "test", "POSTGRES_PASSWORD": ""}


def _settings(root: Path, backend: str) -> Settings:
    if backend == "sqlite":
        return Settings(data_dir=root / "var", key_dir=root / "keys")
    return Settings(data_dir=root / "var", key_dir=root / "keys", persistence="postgres",
                    postgres=PG, schema_prefix=f"t{uuid.uuid4().hex[:10]}")


def _drop_schemas(settings: Settings) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as db:
        for service in ("vault", "retention"):
            db.execute(f'DROP SCHEMA IF EXISTS "{settings.schema(service)}" CASCADE')


class World:
    """A vault and a retention service on one data dir, retention following the vault's log."""

    def __init__(self, root: Path, backend: str = "sqlite") -> None:
        self.settings = _settings(root, backend)
        self.keys = FileKeySource(self.settings.key_dir)
        self.vault = VaultApplication(self.settings, self.keys, buckets=2)
        self.down = False
        self.position = 0
        self.retention = self.open_retention()

    def facts(self, ids: list[str]) -> dict[str, tuple[dt.datetime, str]]:
        if self.down:
            raise Unavailable("injected: the vault is unreachable", "INJECTED")
        return {f.record_id: (f.collected_at, f.interaction_id) for f in self.vault.record_facts(ids)}

    def open_retention(self) -> RetentionApplication:
        return RetentionApplication(self.settings, self.keys, purge=self.purge,
                                    record_facts=self.facts)

    def purge(self, ids: list[str], request_id: str) -> int:
        return self.vault.purge(ids, "retention_expired", request_id)

    def follow(self) -> None:
        batch = Batch(self.retention)
        for e in self.vault.read_events(after=self.position):
            self.retention.on_vault_event(UpstreamEvent(e.position, e.event_type, e.originator_id,
                                                        e.attributes), batch)
            self.position = e.position
        self.retention.save(*batch.aggregates.values())

    def store(self, subject: str, count: int, seed: int) -> list[RecordIn]:
        rng = random.Random(seed)
        records = [RecordIn(str(uuid.uuid4()), subject, "user.content", "original", "EU", b"x" * n,
                            NOW - dt.timedelta(seconds=rng.randint(0, 600)), f"i-{seed}-{n}",
                            NOW - dt.timedelta(days=rng.randint(0, 25), seconds=rng.randint(0, 86399)))
                   for n in range(count)]
        self.vault.store(records)
        self.follow()
        return records


@pytest.fixture(params=["sqlite", "postgres"])
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[World]:
    """The same tests on each backend of the mutable stores and event logs."""
    w = World(tmp_path, request.param)
    yield w
    w.retention.close()
    w.vault.close()
    if request.param == "postgres":
        _drop_schemas(w.settings)


def _deadlines(app: RetentionApplication, subject: str) -> dict[str, tuple[Any, Any, str]]:
    return {s["record_id"]: (s["stored_at"], s["due_at"], s["state"])
            for s in app.list_schedules(subject)}


def test_back_dated_records_expire_thirty_days_after_they_were_collected(world: World) -> None:
    records = world.store(VICTIM, 40, seed=1)
    deadlines = _deadlines(world.retention, VICTIM)
    for r in records:
        assert deadlines[r.record_id][:2] == (r.occurred_at, r.occurred_at + 30 * DAY)
    first = min(r.occurred_at for r in records) + 30 * DAY
    assert world.retention.sweep(first - dt.timedelta(seconds=1))["expired"] == 0
    expired = world.retention.sweep(max(r.occurred_at for r in records) + 30 * DAY)["expired"]
    assert expired == len(records)


def test_an_index_rebuilt_from_the_log_asks_the_vault_for_the_same_deadlines(world: World) -> None:
    world.store(VICTIM, 25, seed=2)
    world.store(OTHER, 25, seed=3)
    before = {s: _deadlines(world.retention, s) for s in (VICTIM, OTHER)}
    world.retention.close()
    if world.settings.persistence == "postgres":  # the index's tables, on their own
        store = open_store(world.settings, "retention", "index")
        for table in ("schedules", "holds", "objections", "subjects", "projection"):
            store.execute(f"DROP TABLE {table}")
        store.close()
    for path in world.settings.service_dir("retention").glob("index.db*"):
        path.unlink()
    world.retention = world.open_retention()
    assert world.retention.index.count() == 50
    assert {s: _deadlines(world.retention, s) for s in (VICTIM, OTHER)} == before


def test_an_erasure_leaves_no_time_nor_interaction_id_in_the_index_or_its_files(
        world: World) -> None:
    mine = world.store(VICTIM, 30, seed=4)
    world.store(OTHER, 10, seed=5)
    expired_one = min(mine, key=lambda r: r.occurred_at)
    world.retention.sweep(expired_one.occurred_at + 30 * DAY)  # one of them is expired already
    assert _deadlines(world.retention, VICTIM)[expired_one.record_id][2] == "expired"
    world.vault.shred_subject(VICTIM, "erase-1")
    world.follow()
    world.retention.refresh()
    rows = world.retention.index.store.execute(
        "SELECT stored_us, due_us, interaction_id FROM schedules WHERE subject_ref=?", (VICTIM,))
    assert len(rows) == 30 and set(rows) == {(None, None, None)}
    raw = b"".join(p.read_bytes() for p in world.settings.service_dir("retention").glob("index.db*"))
    raw += repr(world.retention.index.store.execute("SELECT * FROM schedules")).encode()
    for r in mine:
        assert str(to_us(r.occurred_at)).encode() not in raw
        assert r.interaction_id.encode() not in raw
    assert all(s[0] is not None for s in _deadlines(world.retention, OTHER).values())


def test_while_the_vault_cannot_answer_nothing_is_due_and_the_next_sweep_catches_up(
        world: World) -> None:
    world.down = True
    records = world.store(VICTIM, 10, seed=6)
    late = max(r.occurred_at for r in records) + 31 * DAY
    with pytest.raises(Unavailable):
        world.retention.sweep(late, "sweep-1")
    assert world.retention.index.pending(100)  # still asked for, never guessed
    listed = world.retention.list_schedules(VICTIM)  # listed, without the unknown times
    assert len(listed) == 10 and {(s["stored_at"], s["due_at"]) for s in listed} == {(None, None)}
    world.down = False
    assert world.retention.sweep(late, "sweep-2")["expired"] == 10


def test_a_record_the_vault_lost_to_an_erasure_noted_first_is_closed(world: World) -> None:
    world.retention.forget_subject(VICTIM, "erase-0", NOW)  # the RPC path: every generation
    records = world.store(VICTIM, 3, seed=7)
    world.vault.shred_subject(VICTIM, "erase-1")
    world.vault.reclaim()
    world.retention.list_schedules(VICTIM)  # asks the vault: no facts left
    assert {s["state"] for s in world.retention.list_schedules(VICTIM)} == {"erased"}
    assert len(records) == 3


def test_a_v2_schedule_created_event_upcasts_to_v3_without_times(world: World) -> None:
    rid = uuid.uuid4()
    v2 = {"record_id": rid, "subject_ref": VICTIM, "category": "user.content", "form": "original",
          "rule": "content", "interaction_id": "i-9", "stored_at": NOW, "due_at": NOW + 30 * DAY,
          "state": "scheduled", "generation": 1}
    state = dict(v2)
    RecordSchedule.ScheduleCreated.upcast_v2_v3(state)
    assert {"stored_at", "due_at", "interaction_id"}.isdisjoint(state)
    app = world.retention
    raw = app.mapper.transcoder.encode({**v2, "originator_id": rid, "originator_version": 1,
                                        "timestamp": NOW, "class_version": 2,
                                        "originator_topic": "services.retention.domain:RecordSchedule"})
    app.recorder.insert_events([StoredEvent(
        originator_id=rid, originator_version=1,
        topic="services.retention.domain:RecordSchedule.ScheduleCreated",
        state=app.mapper.cipher.encrypt(raw))])
    schedule = app.repository.get(rid)
    assert (schedule.subject_ref, schedule.state, schedule.generation) == (VICTIM, "scheduled", 1)
    assert not hasattr(schedule, "stored_at") and not hasattr(schedule, "interaction_id")
    app.refresh()
    entry = app.index.schedule(str(rid))
    assert entry is not None and entry["stored_at"] is None and entry["facts"] == 0
    assert RecordSchedule.ScheduleCreated.create_timestamp() == EPOCH
