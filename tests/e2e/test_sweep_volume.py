"""Sweeps at volume and under faults, against the real vault behind its real idempotency store.

The retention application sweeps a real :class:`VaultApplication` through a purge adapter that
answers as the vault's RPC boundary does (``shared/idempotency.py``: a request id is bound to its
request and a retry gets the first answer). These tests try to leave expired records decryptable:
a sweep of more than two chunks (the first answer replayed for later chunks), a failure at each
chunk (before the vault purged, or after it purged but before retention recorded the expiry), and
records a v1 sweep marked expired without their purge having happened. Expired records must never
be in an access export.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import services.retention.application as retention_application
from services.retention.application import RetentionApplication
from services.retention.domain import RecordSchedule
from services.vault.application import RecordIn, VaultApplication
from shared.config import Settings
from shared.errors import Unavailable
from shared.follower import Batch, UpstreamEvent
from shared.gen.lethe.v1 import vault_pb2
from shared.idempotency import IdempotencyStore, request_digest
from shared.keysource import FileKeySource
from shared.store import open_store

T0 = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
PURGE = "lethe.v1.VaultService/Purge"


class VaultPurgeOverRpc:
    """The vault's Purge as its gRPC boundary answers it (bind the id, replay the first answer).

    ``fail`` = (call number, "before" | "after"): raise Unavailable at that call, before the vault
    purged or after it purged (the answer is lost, as with a SIGKILL of the caller).
    """

    def __init__(self, vault: VaultApplication, settings: Settings) -> None:
        self.vault = vault
        self.idempotency = IdempotencyStore(open_store(settings, "vault", "idempotency"))
        self.calls = 0
        self.fail: tuple[int, str] | None = None

    def purge(self, ids: list[str], request_id: str) -> int:
        self.calls += 1
        request = vault_pb2.PurgeRequest(request_id=request_id, record_ids=ids,
                                         reason="retention_expired")
        if self.fail == (self.calls, "before"):
            raise Unavailable("injected: vault unreachable", "INJECTED")
        self.idempotency.bind("retention", PURGE, request_id, request_digest(request))
        first = self.idempotency.get("retention", PURGE, request_id)
        if first is not None:
            return vault_pb2.PurgeResponse.FromString(first).purged
        purged = self.vault.purge(ids, "retention_expired", request_id)
        self.idempotency.put("retention", PURGE, request_id,
                             vault_pb2.PurgeResponse(purged=purged).SerializeToString())
        if self.fail == (self.calls, "after"):
            raise Unavailable("injected: answer lost", "INJECTED")
        return purged


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
    keys = FileKeySource(settings.key_dir)
    vault = VaultApplication(settings, keys, buckets=4)
    rpc = VaultPurgeOverRpc(vault, settings)
    retention = RetentionApplication(settings, keys, purge=rpc.purge, record_facts=lambda ids: {
        f.record_id: (f.collected_at, f.interaction_id) for f in vault.record_facts(ids)})
    yield {"vault": vault, "rpc": rpc, "retention": retention, "settings": settings}
    retention.close()
    vault.close()


def _ingest(world: dict[str, Any], count: int, subjects: int = 40) -> list[str]:
    """Store ``count`` content records in the vault and let retention follow its log."""
    vault, retention = world["vault"], world["retention"]
    after = vault.max_position()
    ids = []
    for start in range(0, count, 1000):
        batch = [RecordIn(str(uuid.uuid4()), f"sr_{n % subjects:032x}", "user.content",
                          "original", "EU", b"prompt %d" % n, T0 + dt.timedelta(seconds=n), f"i-{n}")
                 for n in range(start, min(count, start + 1000))]
        ids += [r.record_id for r in batch]
        vault.store(batch)
    page: list[Any] = []
    for event in vault.read_events(after=after):
        page.append(event)
        if len(page) == 1000:
            _follow(retention, page)
            page = []
    _follow(retention, page)
    return ids


def _follow(retention: RetentionApplication, events: list[Any]) -> None:
    batch = Batch(retention)
    for e in events:
        retention.on_vault_event(UpstreamEvent(e.position, e.event_type, e.originator_id,
                                               e.attributes), batch)
    retention.save(*batch.aggregates.values())


def _live_in_vault(vault: VaultApplication) -> int:
    return int(vault.db.execute("SELECT COUNT(*) FROM records WHERE state='stored'")[0][0])


def _exported_expired(world: dict[str, Any], subjects: int = 40) -> list[str]:
    """Record ids that an access export returns although retention expired them."""
    vault, retention = world["vault"], world["retention"]
    leaked = []
    for n in range(subjects):
        subject = f"sr_{n:032x}"
        states = {s["record_id"]: s["state"] for s in retention.list_schedules(subject)}
        leaked += [r.record_id for r in vault.export_subject(subject, f"access-{n}")
                   if states.get(r.record_id) != "scheduled"]
    return leaked


def test_a_sweep_expiring_12500_records_purges_every_one(world: dict[str, Any]) -> None:
    ids = _ingest(world, 12_500)
    assert _live_in_vault(world["vault"]) == 12_500
    result = world["retention"].sweep(T0 + 31 * DAY, "sweep-volume")
    assert result["expired"] == 12_500
    assert world["rpc"].calls == 3  # chunks of 5,000, each its own request
    assert _live_in_vault(world["vault"]) == 0
    assert world["retention"].sweep(T0 + 31 * DAY, "sweep-volume") == result  # retry: same answer
    assert world["retention"].sweep(T0 + 32 * DAY, "sweep-after")["expired"] == 0
    assert world["vault"].read(ids[-10:], "aggregation") == []
    assert _exported_expired(world) == []


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("chunk", [1, 2, 3, 4])
def test_a_sweep_interrupted_at_any_chunk_is_completed_by_the_next(
        world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, chunk: int, when: str) -> None:
    monkeypatch.setattr(retention_application, "CHUNK", 50)
    _ingest(world, 170)  # 4 chunks: 50, 50, 50, 20
    world["rpc"].fail = (chunk, when)
    with pytest.raises(Unavailable):
        world["retention"].sweep(T0 + 31 * DAY, "sweep-1")
    done = (chunk - 1) * 50
    assert _live_in_vault(world["vault"]) == 170 - done - (min(50, 170 - done) if when == "after" else 0)
    assert _exported_expired(world) == []  # never an expired record in an export, mid-sweep
    second = world["retention"].sweep(T0 + 31 * DAY + dt.timedelta(hours=1), "sweep-2")
    assert second["expired"] == 170 - done
    assert _live_in_vault(world["vault"]) == 0
    assert _exported_expired(world) == []
    # the interrupted sweep, retried under its own id, reports what it expired and changes nothing
    assert world["retention"].sweep(T0 + 31 * DAY, "sweep-1")["expired"] == done
    assert _live_in_vault(world["vault"]) == 0


def test_the_same_sweep_retried_after_a_failure_completes_itself(
        world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention_application, "CHUNK", 50)
    _ingest(world, 170)
    world["rpc"].fail = (3, "after")
    with pytest.raises(Unavailable):
        world["retention"].sweep(T0 + 31 * DAY, "sweep-1")
    assert world["retention"].sweep(T0 + 31 * DAY, "sweep-1")["expired"] == 170
    assert _live_in_vault(world["vault"]) == 0


def test_records_a_v1_sweep_expired_without_purging_are_purged_by_the_next_sweep(
        world: dict[str, Any]) -> None:
    retention = world["retention"]
    ids = _ingest(world, 30)
    # what a v1 sweep left: RecordExpired recorded, purge answered by an earlier chunk's answer
    changed = []
    for rid in ids:
        schedule = retention.repository.get(uuid.UUID(rid))
        schedule.expire(sweep_id="v1-sweep", swept_at=T0 + 31 * DAY, aggregated=False, purged=False)
        changed.append(schedule)
    retention.save(*changed)
    assert _live_in_vault(world["vault"]) == 30
    assert len(_exported_expired(world)) == 30  # the bug of issue 10, reproduced
    retention.sweep(T0 + 32 * DAY, "sweep-repair")
    assert _live_in_vault(world["vault"]) == 0 and _exported_expired(world) == []


def test_a_v1_record_expired_event_upcasts_to_an_unconfirmed_purge() -> None:
    state = {"sweep_id": "s", "swept_at": T0, "aggregated": False}
    RecordSchedule.RecordExpired.upcast_v1_v2(state)
    assert state["purged"] is False
    assert RecordSchedule.RecordExpired.class_version == 2
