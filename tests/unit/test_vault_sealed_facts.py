"""The vault's per-record facts after an erasure or a purge (issue 10 item 4).

Attempts to break it: generated records of every size and time (back-dated, late, equal) must leave
no time, size or interaction id in their ``RecordStored`` event, whose own timestamp is the epoch
and whose sealed facts all have one length; a purge or an erasure must leave no row (no size, no
time) behind, with a failure injected at each of the purge's write steps; the sealed facts of an
erased subject must not open with any DEK that remains; v1 events and v1 tables must still read.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from services.vault.application import RecordIn, VaultApplication
from services.vault.domain import EPOCH, VaultRecord
from services.vault.keys import KeyDestroyed
from services.vault.facts import open_facts
from shared.config import Settings
from shared.crypto import DecryptionError
from shared.keysource import FileKeySource, KeySourceError

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
SUBJECTS = [f"sr_{n:032x}" for n in range(1, 5)]
PG = {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres",
      "POSTGRES_DBNAME": "test", "POSTGRES_PASSWORD": ""}
CLEAR = {"received_at", "occurred_at", "size_bytes", "interaction_id", "region", "stored_at"}


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")


@pytest.fixture(params=["sqlite", "postgres"])
def vault(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[VaultApplication]:
    """A vault on each backend of its stores and event log."""
    settings = _settings(tmp_path)
    if request.param == "postgres":
        settings = Settings(data_dir=settings.data_dir, key_dir=settings.key_dir,
                            persistence="postgres", postgres=PG,
                            schema_prefix=f"t{uuid.uuid4().hex[:10]}")
    app = VaultApplication(settings, FileKeySource(tmp_path / "keys"), buckets=2)
    yield app
    app.close()
    if request.param == "postgres":
        import psycopg

        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as db:
            db.execute(f'DROP SCHEMA IF EXISTS "{settings.schema("vault")}" CASCADE')


def _generated(seed: int, count: int) -> list[RecordIn]:
    """Records of sizes from 0 to 64 KiB and times from 90 days back to an hour ahead of receipt."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        received = NOW - dt.timedelta(seconds=rng.randint(0, 3600))
        occurred = rng.choice([None, received, received + dt.timedelta(hours=1),
                               received - dt.timedelta(days=rng.randint(0, 90),
                                                       seconds=rng.randint(0, 86399))])
        category, form = rng.choice([("user.content", "original"), ("user.content", "redacted"),
                                     ("system.operations", "metadata"), ("user.contact", "contact")])
        out.append(RecordIn(str(uuid.uuid4()), rng.choice(SUBJECTS), category, form,
                            rng.choice(["EU", "US", "UK"]),
                            rng.randbytes(rng.choice([0, 1, 99, 4096, 65536])),
                            received, f"i-{seed}-{n // 3}", occurred))
    return out


def _stored_events(vault: VaultApplication) -> list[Any]:
    return [e for e in vault.read_events() if e.event_type == "RecordStored"]


def _rows(vault: VaultApplication, record_ids: list[str]) -> int:
    marks = ",".join("?" * len(record_ids))
    return sum(int(vault.db.execute(f"SELECT COUNT(*) FROM {t} WHERE record_id IN ({marks})",
                                    record_ids)[0][0]) for t in ("records", "blobs"))


@pytest.mark.parametrize("seed", range(3))
def test_a_stored_record_s_event_names_no_time_size_or_interaction(vault: VaultApplication,
                                                                   seed: int) -> None:
    records = _generated(seed, 60)
    assert set(vault.store(records)) == {"stored"}
    events = _stored_events(vault)
    assert len(events) == len(records)
    lengths = set()
    for e in events:
        assert set(e.attributes) - {"originator_topic", "class_version"} == {
            "record_id", "subject_ref", "generation", "category", "form", "facts"}
        assert e.recorded_at == EPOCH  # the event's own time would date the receipt
        lengths.add(len(base64.b64decode(e.attributes["facts"])))
    assert len(lengths) == 1  # padded: a sealed blob's length tells nothing


def test_record_facts_answer_the_collection_time_while_the_key_lives(vault: VaultApplication) -> None:
    records = _generated(7, 80)
    vault.store(records)
    facts = {f.record_id: f for f in vault.record_facts([r.record_id for r in records])}
    assert len(facts) == len(records)
    for r in records:
        expected = min(r.occurred_at or r.received_at, r.received_at)  # never later than receipt
        assert facts[r.record_id].collected_at == expected
        assert facts[r.record_id].received_at == r.received_at
        assert facts[r.record_id].interaction_id == r.interaction_id
    assert vault.record_facts([str(uuid.uuid4())]) == []


def test_a_purged_record_leaves_no_row_and_a_retried_store_is_a_duplicate(
        vault: VaultApplication) -> None:
    records = _generated(3, 30)
    vault.store(records)
    ids = [r.record_id for r in records]
    assert vault.purge(ids[:20], "retention_expired", "purge-1") == 20
    assert _rows(vault, ids[:20]) == 0 and _rows(vault, ids[20:]) == 20
    assert {r[0] for r in vault.db.execute("SELECT * FROM gone")} == set(ids[:20])
    assert {len(row) for row in vault.db.execute("SELECT * FROM gone")} == {1}  # the id only
    assert vault.record_facts(ids[:20]) == []
    assert vault.store(records[:20]) == ["duplicate"] * 20
    assert vault.purge(ids[:20], "retention_expired", "purge-2") == 0
    purges = [e for e in vault.read_events() if e.event_type == "RecordPurged"]
    assert sorted(e.originator_id for e in purges) == sorted(ids[:20])


@pytest.mark.parametrize("step", ["save", "delete"])
def test_a_purge_failing_at_either_write_step_is_completed_by_its_retry(
        tmp_path: Path, step: str) -> None:
    settings, keys = _settings(tmp_path), FileKeySource(tmp_path / "keys")
    vault = VaultApplication(settings, keys, buckets=2)
    records = _generated(5, 12)
    vault.store(records)
    ids = [r.record_id for r in records]

    def crash(*_: Any, **__: Any) -> None:
        raise OSError("injected")

    if step == "save":
        vault.save = crash  # type: ignore[method-assign]
    else:
        vault.db.transaction = crash  # type: ignore[method-assign]
    with pytest.raises(OSError):
        vault.purge(ids, "retention_expired", "purge-1")
    vault.close()
    again = VaultApplication(settings, keys, buckets=2)  # a restart: nothing kept in memory
    try:
        assert again.purge(ids, "retention_expired", "purge-1") == len(ids)
        assert _rows(again, ids) == 0
        purges = [e.originator_id for e in again.read_events() if e.event_type == "RecordPurged"]
        assert sorted(purges) == sorted(ids)  # once each, whichever step failed
    finally:
        again.close()


def test_an_erased_subject_leaves_no_row_and_its_sealed_facts_open_with_no_key_left(
        vault: VaultApplication) -> None:
    records = _generated(11, 90)
    vault.open_sessions([(s, "conv-1", NOW) for s in SUBJECTS])
    vault.store(records)
    victim = SUBJECTS[0]
    mine = [r.record_id for r in records if r.subject_ref == victim]
    others = [r.record_id for r in records if r.subject_ref != victim]
    vault.shred_subject(victim, "erase-1")
    vault.reclaim()
    for table in ("records", "sessions"):
        assert vault.db.execute(f"SELECT COUNT(*) FROM {table} WHERE subject_ref=?", (victim,)) == [(0,)]
    assert _rows(vault, mine) == 0 and _rows(vault, others) == 2 * len(others)
    assert vault.record_facts(mine) == [] and len(vault.record_facts(others)) == len(others)
    events = {e.originator_id: e for e in _stored_events(vault)}
    opened = 0
    for rid in mine:
        sealed = base64.b64decode(events[rid].attributes["facts"])
        for group in vault.groups.names:
            try:
                open_facts(vault.keyring.dek(victim, 1, group), rid, sealed)
                opened += 1
            except (KeyDestroyed, KeySourceError, DecryptionError):
                pass
    assert mine and opened == 0
    rid = others[0]
    other = next(r for r in records if r.record_id == rid)
    dek = vault.keyring.dek(other.subject_ref, 1, vault.groups.of(other.category))
    facts = open_facts(dek, rid, base64.b64decode(events[rid].attributes["facts"]))
    assert facts["size_bytes"] == len(other.content)  # the same keys open a live subject's


def test_rows_an_older_vault_kept_purged_or_erased_are_deleted_at_start(tmp_path: Path) -> None:
    settings, keys = _settings(tmp_path), FileKeySource(tmp_path / "keys")
    vault = VaultApplication(settings, keys, buckets=2)
    records = _generated(13, 6)
    vault.store(records)
    vault.db.execute("UPDATE records SET state='purged' WHERE record_id=?", (records[0].record_id,))
    vault.db.execute("UPDATE records SET state='erased' WHERE record_id=?", (records[1].record_id,))
    vault.close()
    again = VaultApplication(settings, keys, buckets=2)
    try:
        assert _rows(again, [r.record_id for r in records[:2]]) == 0
        assert _rows(again, [r.record_id for r in records[2:]]) == 8
        assert again.store(records[:2]) == ["duplicate", "duplicate"]
    finally:
        again.close()


def test_a_records_table_from_before_sealed_facts_answers_from_its_row(tmp_path: Path) -> None:
    settings, keys = _settings(tmp_path), FileKeySource(tmp_path / "keys")
    path = settings.service_dir("vault") / "records.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("""CREATE TABLE records (
            record_id TEXT PRIMARY KEY, subject_ref TEXT NOT NULL, generation BIGINT NOT NULL,
            category TEXT NOT NULL, form TEXT NOT NULL, region TEXT NOT NULL,
            interaction_id TEXT NOT NULL, received_at TEXT NOT NULL, stored_at TEXT NOT NULL,
            size_bytes BIGINT NOT NULL, state TEXT NOT NULL)""")
        db.execute("INSERT INTO records VALUES ('r-old', ?, 1, 'user.content', 'original', 'EU', "
                   "'i-old', ?, ?, 5, 'stored')", (SUBJECTS[0], NOW.isoformat(), NOW.isoformat()))
    for _ in range(2):  # the column is added once
        vault = VaultApplication(settings, keys, buckets=2)
        try:
            [facts] = vault.record_facts(["r-old"])
            assert facts.collected_at == facts.received_at == NOW and facts.interaction_id == "i-old"
        finally:
            vault.close()


def test_a_v1_record_stored_event_upcasts_to_v2_without_its_clear_facts(
        vault: VaultApplication) -> None:
    v1 = {"record_id": uuid.uuid4(), "subject_ref": SUBJECTS[0], "generation": 1,
          "category": "user.content", "form": "original", "region": "EU", "interaction_id": "i-1",
          "received_at": NOW, "size_bytes": 42, "occurred_at": NOW}
    state = dict(v1)
    VaultRecord.RecordStored.upcast_v1_v2(state)
    assert CLEAR.isdisjoint(state) and state["facts"] == ""
    # and as read back from a log written before v2 (the stored bytes keep their clear values)
    topic = "services.vault.domain:VaultRecord.RecordStored"
    body = {**v1, "originator_topic": "services.vault.domain:VaultRecord", "timestamp": NOW}
    raw = vault.mapper.transcoder.encode({**body, "originator_id": v1["record_id"],
                                          "originator_version": 1})
    stored = StoredEvent(originator_id=v1["record_id"], originator_version=1, topic=topic,
                         state=vault.mapper.cipher.encrypt(raw))
    vault.recorder.insert_events([stored])
    record = vault.repository.get(v1["record_id"])
    assert (record.subject_ref, record.generation, record.facts) == (SUBJECTS[0], 1, "")
    [event] = [e for e in vault.read_events() if e.originator_id == str(v1["record_id"])]
    assert CLEAR.isdisjoint(event.attributes)
    assert 42 not in event.attributes.values()  # the v1 size (ids may hold "42" by chance)
