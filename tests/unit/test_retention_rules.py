"""Retention rules: deadlines from the policy table, legal holds, tickets, objections, idempotent sweeps."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from services.retention.application import RetentionApplication
from shared.config import Settings
from shared.follower import Batch, UpstreamEvent
from shared.keysource import FileKeySource

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)


class FakeVault:
    """Stands in for the vault's Read/Purge over gRPC (the e2e tests use the real one)."""

    def __init__(self) -> None:
        self.purged: list[str] = []
        self.aggregated: list[tuple[str, str]] = []
        self.facts: dict[str, tuple[dt.datetime, str]] = {}  # the live records' sealed facts

    def record_facts(self, ids: list[str]) -> dict[str, tuple[dt.datetime, str]]:
        return {rid: self.facts[rid] for rid in ids if rid in self.facts and rid not in self.purged}

    def read(self, ids: list[str]) -> list[tuple[str, str]]:
        return [(f"sr_{'0' * 32}", "redacted text about gardening") for _ in ids]

    def aggregate(self, inputs: list[tuple[str, str]], sweep_id: str) -> int:
        self.aggregated += inputs
        return len(inputs)

    def purge(self, ids: list[str], sweep_id: str) -> int:
        self.purged += ids
        return len(ids)


@pytest.fixture()
def retention(tmp_path: Path) -> tuple[RetentionApplication, FakeVault]:
    fake = FakeVault()
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
    app = RetentionApplication(settings, FileKeySource(settings.key_dir), fake.read,
                               fake.aggregate, fake.purge, fake.record_facts)
    app.fake = fake
    yield app, fake
    app.close()


def _store(app: RetentionApplication, subject: str, category: str, form: str,
           interaction: str = "i-1", collected: dt.datetime | None = T0) -> str:
    """A RecordStored v2 as the vault records it (no clear time); the vault's facts answer the
    collection time (None: the vault no longer has the record, e.g. erased)."""
    rid = str(uuid.uuid4())
    if getattr(app, "fake", None) is None:  # an app wired without a facts source: answer here
        app.fake = FakeVault()
        app.record_facts = app.record_facts or app.fake.record_facts
    if collected is not None:
        app.fake.facts[rid] = (collected, interaction)
    batch = Batch(app)
    app.on_vault_event(UpstreamEvent(1, "RecordStored", rid, {
        "subject_ref": subject, "category": category, "form": form, "generation": 1,
        "facts": "c2VhbGVk"}), batch)
    app.save(*batch.aggregates.values())
    return rid


def test_content_expires_after_30_days_and_metadata_after_90(retention) -> None:
    app, vault = retention
    content = _store(app, "sr_" + "1" * 32, "user.content", "original")
    meta = _store(app, "sr_" + "1" * 32, "system.operations", "metadata")
    assert app.sweep(T0 + 29 * DAY)["expired"] == 0
    assert app.sweep(T0 + 31 * DAY)["expired"] == 1 and vault.purged == [content]
    assert app.sweep(T0 + 91 * DAY)["expired"] == 1 and vault.purged == [content, meta]


def test_sweeping_twice_changes_nothing(retention) -> None:
    app, vault = retention
    _store(app, "sr_" + "1" * 32, "user.content", "original")
    first = app.sweep(T0 + 31 * DAY, "sweep-a")
    assert app.sweep(T0 + 31 * DAY, "sweep-a") == first
    assert app.sweep(T0 + 32 * DAY, "sweep-b")["expired"] == 0
    assert len(vault.purged) == 1


def test_a_held_record_is_kept_until_its_hold_is_released(retention) -> None:
    app, vault = retention
    subject = "sr_" + "2" * 32
    meta = _store(app, subject, "system.operations", "metadata")
    app.place_hold("hold-1", "", "", "system.operations", "security_investigation", "case-7")
    result = app.sweep(T0 + 100 * DAY)
    assert result["expired"] == 0 and result["held"] == 1
    assert app.release_hold("hold-1") is True
    assert app.sweep(T0 + 101 * DAY)["expired"] == 1 and vault.purged == [meta]


def test_a_hold_needs_exactly_one_target_and_a_known_reason(retention) -> None:
    app, _ = retention
    with pytest.raises(Exception) as exc:
        app.place_hold("h", "sr_" + "1" * 32, "", "user.content", "litigation", "")
    assert getattr(exc.value, "reason", "") == "HOLD_TARGET_INVALID"
    with pytest.raises(Exception) as exc:
        app.place_hold("h", "sr_" + "1" * 32, "", "", "curiosity", "")
    assert getattr(exc.value, "reason", "") == "HOLD_REASON_INVALID"


def test_a_ticket_expires_at_resolution_plus_the_administrative_period(retention) -> None:
    app, vault = retention
    contact = _store(app, "sr_" + "3" * 32, "user.contact", "contact", interaction="ticket-1")
    assert app.sweep(T0 + 365 * DAY)["expired"] == 0  # unresolved: waits
    assert app.resolve_ticket("ticket-1", T0 + 10 * DAY) == 1
    assert app.sweep(T0 + 23 * DAY)["expired"] == 0
    assert app.sweep(T0 + 24 * DAY)["expired"] == 1 and vault.purged == [contact]


def test_an_objection_keeps_the_subject_out_of_aggregation(retention) -> None:
    app, vault = retention
    objector, other = "sr_" + "4" * 32, "sr_" + "5" * 32
    _store(app, objector, "user.content", "redacted")
    _store(app, other, "user.content", "redacted")
    batch = Batch(app)
    app.on_rights_event(UpstreamEvent(1, "ObjectionRecorded", str(uuid.uuid4()), {
        "subject_ref": objector, "purpose": "model-training", "request_id": "r-1"}), batch)
    app.save(*batch.aggregates.values())
    result = app.sweep(T0 + 31 * DAY)
    assert result["expired"] == 2 and result["aggregated"] == 1
    assert result["excluded_by_objection"] == 1


def test_an_erased_subject_schedules_close_even_when_records_arrive_late(retention) -> None:
    app, vault = retention
    subject = "sr_" + "6" * 32
    _store(app, subject, "user.content", "original")
    assert app.forget_subject(subject, "erase-1", T0 + DAY) == 1
    _store(app, subject, "system.operations", "metadata",  # received before the erasure:
           collected=None)                               # shredded, the vault has no facts
    assert app.sweep(T0 + 400 * DAY)["expired"] == 0 and vault.purged == []
    assert {s["state"] for s in app.list_schedules(subject)} == {"erased"}


def test_schedules_survive_a_restart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
    keys = FileKeySource(settings.key_dir)
    fake = FakeVault()
    app = RetentionApplication(settings, keys, fake.read, fake.aggregate, fake.purge, fake.record_facts)
    app.fake = fake
    _store(app, "sr_" + "7" * 32, "user.content", "original")
    app.close()
    again = RetentionApplication(settings, keys, fake.read, fake.aggregate, fake.purge, fake.record_facts)
    assert again.sweep(T0 + 31 * DAY)["expired"] == 1
    again.close()


def test_holds_extend_only_what_the_policy_lets_them_extend(retention) -> None:
    app, vault = retention
    subject = "sr_" + "8" * 32
    content = _store(app, subject, "user.content", "original")
    meta = _store(app, subject, "system.operations", "metadata")
    with pytest.raises(Exception) as exc:  # an investigation keeps technical metadata only
        app.place_hold("h-c", "", "", "user.content", "security_investigation", "")
    assert getattr(exc.value, "reason", "") == "HOLD_HAS_NO_EFFECT"
    app.place_hold("h-s", subject, "", "", "security_investigation", "case-9")
    assert app.sweep(T0 + 31 * DAY)["expired"] == 1 and vault.purged == [content]  # content: no hold
    assert app.sweep(T0 + 91 * DAY)["held"] == 1 and meta not in vault.purged


def test_the_retention_clock_starts_when_the_data_was_collected(retention) -> None:
    app, vault = retention
    rid = _store(app, "sr_" + "9" * 32, "user.content", "original", "i-old", collected=T0)
    assert app.sweep(T0 + 31 * DAY)["expired"] == 1 and vault.purged == [rid]


def test_holds_are_listed_with_reason_and_state(retention) -> None:
    app, _ = retention
    app.place_hold("h-1", "", "", "system.operations", "security_investigation", "case-1")
    app.place_hold("h-2", "sr_" + "a" * 32, "", "", "litigation", "case-2")
    app.release_hold("h-1")
    assert [h["hold_id"] for h in app.list_holds()] == ["h-2"]
    assert {h["hold_id"]: h["active"] for h in app.list_holds(True)} == {"h-1": False, "h-2": True}
