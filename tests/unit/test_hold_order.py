"""Legal holds as one model: every covering hold counts, whatever the order they were placed in.

Each hold reason of the policy file carries its legal basis and the categories it may preserve;
retention answers "what blocks this erasure" with every blocking hold. These tests try to make the
answer depend on placement order, let a litigation hold on content-only data be ignored, and let a
security investigation block more than technical metadata.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from services.retention.application import RetentionApplication
from shared.config import Settings
from shared.keysource import FileKeySource
from shared.policy import load_policy
from tests.unit.test_retention_rules import DAY, T0, _store

SUBJECT = "sr_" + "5" * 32
OTHER = "sr_" + "6" * 32


class Vault:
    """Records what the sweeps purge."""

    def __init__(self) -> None:
        self.purged: list[str] = []

    def purge(self, ids: list[str], request_id: str) -> int:
        self.purged += ids
        return len(ids)


def _app(root: Path) -> tuple[RetentionApplication, Vault]:
    vault = Vault()
    settings = Settings(data_dir=root / "var", key_dir=root / "keys")
    return RetentionApplication(settings, FileKeySource(settings.key_dir), purge=vault.purge), vault


def _subject_with_everything(app: RetentionApplication) -> dict[str, str]:
    records = {"content": _store(app, SUBJECT, "user.content", "original"),
               "metadata": _store(app, SUBJECT, "system.operations", "metadata"),
               "contact": _store(app, SUBJECT, "user.contact", "contact", "ticket-1"),
               "other_metadata": _store(app, OTHER, "system.operations", "metadata")}
    app.resolve_ticket("ticket-1", T0)
    return records


HOLDS: list[tuple[str, dict[str, str], str]] = [
    ("h-category-investigation", {"category": "system.operations"}, "security_investigation"),
    ("h-subject-investigation", {"subject_ref": SUBJECT}, "security_investigation"),
    ("h-record-obligation", {"record_id": "contact"}, "legal_obligation"),
    ("h-subject-litigation", {"subject_ref": SUBJECT}, "litigation"),
]


def _place(app: RetentionApplication, records: dict[str, str], hold: tuple[str, dict[str, str], str]) -> None:
    hold_id, target, reason = hold
    record_id = records[target["record_id"]] if "record_id" in target else ""
    app.place_hold(hold_id, target.get("subject_ref", ""), record_id, target.get("category", ""),
                   reason, "case-1")


def _outcome(app: RetentionApplication, records: dict[str, str], vault: Vault) -> dict[str, Any]:
    names = {rid: name for name, rid in records.items()}
    answer = app.erasure_blockers(SUBJECT)
    schedules = {names[s["record_id"]]: (tuple(s["hold_reasons"]), s["hold_reason"],
                                        s["hold_names_subject"])
                 for s in app.list_schedules(SUBJECT)}
    sweep = app.sweep(T0 + 91 * DAY, "sweep-91")
    return {"blockers": [(b.hold_id, b.categories, b.legal_basis) for b in answer.blockers],
            "preserved": answer.preserved_categories, "erasable": answer.erasable_categories,
            "schedules": schedules, "sweep": sweep,
            "purged": sorted(names[r] for r in vault.purged)}


def test_every_order_of_placing_holds_gives_the_same_outcome(tmp_path: Path) -> None:
    outcomes = []
    for n, order in enumerate(itertools.permutations(HOLDS)):
        app, vault = _app(tmp_path / str(n))
        records = _subject_with_everything(app)
        for hold in order:
            _place(app, records, hold)
        outcomes.append(_outcome(app, records, vault))
        app.close()
    assert len(outcomes) == 24
    assert all(o == outcomes[0] for o in outcomes), "the outcome depends on the order of holds"
    first = outcomes[0]
    # every covering hold counts: the subject's litigation hold keeps content too
    assert first["preserved"] == ("system.operations", "user.contact", "user.content")
    assert first["erasable"] == ()
    assert [b[0] for b in first["blockers"]] == [
        "h-record-obligation", "h-subject-investigation", "h-subject-litigation"]
    assert first["schedules"]["metadata"] == (
        ("litigation", "security_investigation"), "litigation", True)
    # the category hold keeps the other subject's metadata but blocks nobody's erasure
    assert first["schedules"]["content"] == (("litigation",), "litigation", True)
    assert first["sweep"]["expired"] == 0 and first["sweep"]["held"] == 4
    assert first["purged"] == []


@pytest.mark.parametrize("order", [0, 1])
def test_a_category_hold_placed_first_does_not_hide_a_subject_hold(tmp_path: Path, order: int) -> None:
    app, _ = _app(tmp_path)
    records = _subject_with_everything(app)
    pair = [HOLDS[0], HOLDS[1]] if order == 0 else [HOLDS[1], HOLDS[0]]
    for hold in pair:
        _place(app, records, hold)
    answer = app.erasure_blockers(SUBJECT)
    assert [b.hold_id for b in answer.blockers] == ["h-subject-investigation"]
    app.close()


def test_a_litigation_hold_on_content_only_keeps_content_and_blocks_its_erasure(tmp_path: Path) -> None:
    app, vault = _app(tmp_path)
    content = _store(app, SUBJECT, "user.content", "original")
    app.place_hold("lit-1", SUBJECT, "", "", "litigation", "case-2025-cv-1")
    answer = app.erasure_blockers(SUBJECT)
    assert answer.blocked and answer.preserved_categories == ("user.content",)
    assert answer.blockers[0].legal_basis == load_policy().hold_reason("litigation").legal_basis
    assert "17(3)(e)" in answer.blockers[0].legal_basis
    assert answer.erasable_categories == ()
    # kept past its 30 days while the order stands
    assert app.sweep(T0 + 31 * DAY, "s-31") == {"expired": 0, "held": 1, "aggregated": 0,
                                               "excluded_by_objection": 0}
    assert app.sweep(T0 + 400 * DAY, "s-400")["held"] == 1 and vault.purged == []
    # released: anything past its retention expires at the next sweep
    app.release_hold("lit-1")
    assert not app.erasure_blockers(SUBJECT).blocked
    assert app.sweep(T0 + 401 * DAY, "s-401")["expired"] == 1 and vault.purged == [content]


def test_a_court_order_on_a_content_category_keeps_content_without_blocking_erasures(
        tmp_path: Path) -> None:
    app, vault = _app(tmp_path)
    _store(app, SUBJECT, "user.content", "original")
    app.place_hold("order-1", "", "", "user.content", "court_order", "preservation-order-7")
    assert app.sweep(T0 + 31 * DAY)["held"] == 1 and vault.purged == []
    assert not app.erasure_blockers(SUBJECT).blocked  # category-wide: extends retention only


def test_a_security_investigation_blocks_only_technical_metadata(tmp_path: Path) -> None:
    app, vault = _app(tmp_path)
    content = _store(app, SUBJECT, "user.content", "original")
    _store(app, SUBJECT, "system.operations", "metadata")
    app.place_hold("inv-1", SUBJECT, "", "", "security_investigation", "inc-42")
    answer = app.erasure_blockers(SUBJECT)
    assert [(b.hold_id, b.categories, b.records) for b in answer.blockers] == [
        ("inv-1", ("system.operations",), 1)]
    assert answer.preserved_categories == ("system.operations",)
    assert answer.erasable_categories == ("user.content",)
    content_schedule = next(s for s in app.list_schedules(SUBJECT) if s["record_id"] == content)
    assert content_schedule["hold_reason"] == "" and not content_schedule["hold_names_subject"]
    assert app.sweep(T0 + 31 * DAY)["expired"] == 1 and vault.purged == [content]


@pytest.mark.parametrize(("target", "reason"), [
    ({"subject_ref": SUBJECT}, "security_investigation"),   # content only: nothing to keep
    ({"subject_ref": SUBJECT}, "legal_obligation"),          # no contact data
    ({"category": "user.content"}, "legal_obligation"),
    ({"category": "system.operations"}, "legal_obligation"),
    ({"record_id": "content"}, "security_investigation"),
])
def test_a_hold_that_can_keep_nothing_is_refused(tmp_path: Path, target: dict[str, str],
                                                  reason: str) -> None:
    app, _ = _app(tmp_path)
    content = _store(app, SUBJECT, "user.content", "original")
    if "record_id" in target:
        target = {"record_id": content}
    with pytest.raises(Exception) as exc:
        app.place_hold("h", target.get("subject_ref", ""), target.get("record_id", ""),
                       target.get("category", ""), reason, "")
    assert getattr(exc.value, "reason", "") == "HOLD_HAS_NO_EFFECT"
    assert app.list_holds(True) == []


def test_every_hold_reason_names_its_legal_basis_and_what_it_preserves() -> None:
    policy = load_policy()
    assert set(policy.hold_reason_names()) >= {"security_investigation", "legal_obligation",
                                               "litigation", "court_order"}
    for hold in policy.holds:
        assert hold.legal_basis.startswith("GDPR Art. 17(3)(") and "CCPA 1798.105(d)" in hold.legal_basis
        assert hold.preserves and all(policy.rule_for(c) for c in hold.preserves)
    assert policy.hold_reason("security_investigation").preserves == ("system.operations",)
    assert policy.hold_reason("litigation").preservation_order
    assert policy.hold_reason("litigation").preserves_category("user.content")
