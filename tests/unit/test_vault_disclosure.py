"""Governed disclosure and transfer: every forbidden combination refused and recorded."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from services.vault.application import RecordIn, VaultApplication
from shared.config import Settings
from shared.errors import InvalidArgument
from shared.keysource import FileKeySource
from shared.policy import load_policy
from shared.transfers import DEROGATIONS, check_mechanism

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
                           "scc", "SCCs of 2019-05-01 (generated ref)", "2020-01-01")
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


# ---- transfer mechanisms as law (GDPR Art. 44-49) ----
LAW = load_policy().transfers
MECHANISMS = (["", "none", "SCCs", "adequacy", "adequacy:dpf_certified", "adequacy:pipeda_commercial",
               "adequacy:EU-US Data Privacy Framework", "scc", "bcr", "scc:2021/914"]
              + [f"derogation:{d}" for d in DEROGATIONS] + ["derogation:convenience"])
REGIONS = ["EU", "US", "CA", "JP", "GB", "CH", "KR", "EPO", "CN", "IN", "RU", "BR", "AU"]
ADEQUATE = {"AD", "AR", "FO", "GG", "IL", "IM", "JP", "JE", "NZ", "KR", "CH", "GB", "UY", "EPO"}
SCOPED = {"US": "adequacy:dpf_certified", "CA": "adequacy:pipeda_commercial"}


def expected(region: str, mechanism: str, document: str) -> bool:
    """What the law says, written independently of shared/transfers.py."""
    if region == "EU":
        return True
    kind, _, qualifier = mechanism.partition(":")
    if kind == "adequacy":
        return (region in ADEQUATE and not qualifier) or SCOPED.get(region) == mechanism
    if mechanism in ("scc", "bcr"):
        return bool(document)
    if kind == "derogation" and qualifier in DEROGATIONS:
        return region not in ADEQUATE  # Art. 49 only absent adequacy (US/CA: uncertified ones)
    return False


def test_the_adequacy_list_is_the_commissions() -> None:
    assert set(LAW.adequacy) == ADEQUATE | set(SCOPED) | {"AD", "AR", "FO", "GG", "IL", "IM", "JE",
                                                           "NZ", "UY"}
    assert LAW.adequacy["US"].reference == "Commission Implementing Decision (EU) 2023/1795"
    assert LAW.adequacy["US"].condition == "dpf_certified"


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("document", ["", "SCC module 1, generated ref 42"])
def test_every_mechanism_and_destination_pair_is_decided_by_the_law(region, mechanism, document) -> None:
    got = check_mechanism(LAW, region, mechanism, document)
    assert (got is None) == expected(region, mechanism, document), got


@pytest.mark.parametrize("region", ["US", "CN", "JP", "CA", "IN"])
@pytest.mark.parametrize("mechanism", ["none", "adequacy", "adequacy:dpf_certified", "scc",
                                       "derogation:explicit_consent", "adequacy:Atlantis"])
def test_registration_and_release_follow_the_same_law(vault, region, mechanism) -> None:
    document = "signed clauses, generated ref 7"
    rid = f"host-{region.lower()}-{abs(hash(mechanism)) % 10**6}"
    lawful = expected(region, mechanism, document)
    try:
        vault.register_recipient(rid, "Host", "infrastructure_provider", region, mechanism, document)
    except InvalidArgument as exc:
        assert not lawful and exc.reason == check_mechanism(LAW, region, mechanism, document)
        released, why, _ = vault.transfer(f"t-{rid}", rid, "hosting", EU_SUBJECT)
        assert (released, why) == (False, "RECIPIENT_UNREGISTERED")
        return
    assert lawful
    released, why, count = vault.transfer(f"t-{rid}", rid, "hosting", EU_SUBJECT)
    assert released and count == 1, why


def test_a_mechanism_that_stops_applying_is_refused_at_release(vault) -> None:
    """A recipient registered lawfully whose decision is withdrawn, or whose document expired."""
    from services.vault import registry
    recipient = vault._recipient("gcp-us-east1")
    withdrawn = type(LAW)(LAW.eea_regions, {k: v for k, v in LAW.adequacy.items() if k != "US"})
    today = NOW.date()
    assert registry.check_release(recipient, {"infrastructure_provider": {
        "purposes": ["hosting"], "data": "personal"}}, "hosting", "personal", {"EU"}, today,
        withdrawn) == "ADEQUACY_NOT_GRANTED"
    vault.register_recipient("host-jp", "Host", "infrastructure_provider", "JP", "adequacy", "",
                             (today + dt.timedelta(days=1)).isoformat())
    assert vault.transfer("t-jp-1", "host-jp", "hosting", EU_SUBJECT)[0]
    rules = {c["category"]: c for c in vault.policy.recipient_categories}
    later = vault._recipient("host-jp")
    assert registry.check_release(later, rules, "hosting", "personal", {"EU"},
                                  today + dt.timedelta(days=2)) == "TRANSFER_MECHANISM_EXPIRED"
