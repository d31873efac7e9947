"""Governed disclosure and transfer: every forbidden combination refused and recorded."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from services.vault.application import RecordIn, VaultApplication
from shared.config import Settings
from shared.keysource import FileKeySource

NOW = dt.datetime.now(dt.timezone.utc)
EU_SUBJECT, US_SUBJECT = "sr_" + "e" * 32, "sr_" + "a" * 32


@pytest.fixture()
def vault(tmp_path: Path) -> VaultApplication:
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
    app = VaultApplication(settings, FileKeySource(settings.key_dir), buckets=4)
    app.store([RecordIn(str(uuid.uuid4()), EU_SUBJECT, "user.content", "original", "EU", b"eu", NOW, "i1"),
               RecordIn(str(uuid.uuid4()), US_SUBJECT, "user.content", "original", "US", b"us", NOW, "i2")])
    app.register_recipient("court-eu", "Court", "legal_authority", "EU")
    app.register_recipient("host-us-expired", "Old host", "infrastructure_provider", "US",
                           "SCCs", "Decision 2010/87/EU", "2020-01-01")
    app.register_recipient("host-us-nomech", "Host", "infrastructure_provider", "US")
    yield app
    app.close()


@pytest.mark.parametrize("recipient,purpose,kind,subject,reason", [
    ("unknown-co", "hosting", "personal", EU_SUBJECT, "RECIPIENT_UNREGISTERED"),
    ("analytics-eu", "service_analytics", "personal", EU_SUBJECT, "AGGREGATES_ONLY"),
    ("analytics-eu", "data_sale", "aggregate", "", "SALE_FORBIDDEN"),
    ("court-eu", "marketing", "personal", EU_SUBJECT, "PURPOSE_NOT_ALLOWED"),
    ("host-us-nomech", "hosting", "personal", EU_SUBJECT, "TRANSFER_MECHANISM_MISSING"),
    ("host-us-expired", "hosting", "personal", EU_SUBJECT, "TRANSFER_MECHANISM_EXPIRED"),
])
def test_forbidden_releases_are_refused_and_recorded(vault, recipient, purpose, kind, subject,
                                                     reason) -> None:
    released, why, records = vault.disclose(f"d-{reason}", recipient, purpose, kind, subject)
    assert (released, why, records) == (False, reason, [])
    events = [e for e in vault.read_events() if e.event_type == "DisclosureRefused"]
    assert events[-1].attributes["reason"] == reason
    assert events[-1].attributes["recipient_id"] == recipient


def test_allowed_releases_are_recorded_with_recipient_purpose_and_mechanism(vault) -> None:
    released, _, records = vault.disclose("d-ok", "court-eu", "legal_compliance", "personal", EU_SUBJECT)
    assert released and [r.content for r in records] == [b"eu"]
    ok, _, count = vault.transfer("t-ok", "gcp-us-east1", "hosting", EU_SUBJECT)
    assert ok and count == 1
    agg, _, nothing = vault.disclose("d-agg", "analytics-eu", "service_analytics", "aggregate")
    assert agg and nothing == []
    kinds = {e.event_type: e.attributes for e in vault.read_events()}
    assert kinds["DataTransferred"]["mechanism"].startswith("adequacy:")
    assert kinds["DataTransferred"]["to_region"] == "US"
    assert kinds["DataDisclosed"]["recipient_id"] in ("court-eu", "analytics-eu")


def test_same_region_needs_no_transfer_mechanism(vault) -> None:
    ok, _, count = vault.transfer("t-us", "host-us-nomech", "hosting", US_SUBJECT)
    assert ok and count == 1


def test_erasure_notifies_recipients_that_received_the_data(vault) -> None:
    vault.disclose("d-1", "court-eu", "legal_compliance", "personal", EU_SUBJECT)
    *_, notified = vault.shred_subject(EU_SUBJECT, "erase-1")
    assert notified == ["court-eu"]


def test_a_retry_gets_the_first_decision(vault) -> None:
    first = vault.disclose("d-1", "court-eu", "legal_compliance", "personal", EU_SUBJECT)
    again = vault.disclose("d-1", "court-eu", "legal_compliance", "personal", EU_SUBJECT)
    assert first[:2] == again[:2] == (True, "")
    assert [r.content for r in again[2]] == [r.content for r in first[2]]
    refused = vault.disclose("d-2", "nobody", "hosting", "personal", EU_SUBJECT)
    assert vault.disclose("d-2", "nobody", "hosting", "personal", EU_SUBJECT) == refused
    decisions = [e for e in vault.read_events()
                 if e.event_type in ("DataDisclosed", "DisclosureRefused")]
    assert len(decisions) == 2
