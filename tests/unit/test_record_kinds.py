"""The record kinds are checked against the policy at load: a policy file that leaves a kind's
category without a retention rule fails loudly, naming the kind, whichever rule is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared import record_kinds
from shared.policy import DEFAULT_POLICY, PolicyError, load_policy
from shared.record_kinds import CONTACT, KINDS, METADATA, ORIGINAL, REDACTED


def _policy_text_without(rule: str) -> str:
    """The bundled policy file with the ``[[retention]]`` block of ``rule`` left out."""
    out, skipping = [], False
    lines = DEFAULT_POLICY.read_text().splitlines()
    for n, line in enumerate(lines):
        if line == "[[retention]]":
            skipping = lines[n + 1] == f'rule = "{rule}"'
        elif line.startswith("[") or line.startswith("# ----"):
            skipping = False
        if not skipping:
            out.append(line)
    assert len(out) < len(lines), f"no retention rule {rule} in the bundled policy"
    return "\n".join(out) + "\n"


def test_every_kind_of_the_bundled_policy_has_a_retention_rule() -> None:
    policy = load_policy()
    rules = {kind.name: policy.rule_for(kind.category).rule for kind in KINDS}
    assert rules == {"original": "content", "redacted": "content", "metadata": "technical_metadata",
                     "contact": "voluntary_personal_data"}


@pytest.mark.parametrize("rule", [r.rule for r in load_policy().rules])
def test_a_policy_without_the_rule_of_a_kinds_category_fails_at_load_naming_the_kind(
        rule: str, tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(_policy_text_without(rule))
    orphaned = [k for k in KINDS if load_policy().rule_for(k.category).rule == rule]
    assert orphaned, "every rule of the bundled policy covers some kind"
    with pytest.raises(PolicyError) as raised:
        load_policy(str(path))
    assert f"record kind {orphaned[0].name!r}" in str(raised.value)
    assert orphaned[0].category in str(raised.value)


def test_a_rule_for_a_parent_category_covers_the_kinds_beneath_it(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    text = _policy_text_without("voluntary_personal_data").replace(
        'categories = ["user.content"]', 'categories = ["user"]')
    path.write_text(text)
    policy = load_policy(str(path))
    assert policy.rule_for(CONTACT.category).rule == "content"


def test_kinds_are_found_by_form_and_by_category_and_form_only() -> None:
    assert [record_kinds.by_form(k.form) for k in KINDS] == list(KINDS)
    with pytest.raises(KeyError, match="'summary'"):
        record_kinds.by_form("summary")
    assert record_kinds.kind_of("user.content", "redacted") is REDACTED
    assert record_kinds.kind_of("user.contact", "original") is None  # a pair no part becomes
    assert record_kinds.kind_of("user.content", "metadata") is None
    assert [k for k in KINDS if k.aggregatable] == [REDACTED]
    assert record_kinds.CATEGORIES == ("user.content", "system.operations", "user.contact")
    assert {ORIGINAL.export_key, REDACTED.export_key, METADATA.export_key, CONTACT.export_key} == {
        "content", "redacted_content", "technical_metadata", "contact_details"}


def test_the_vaults_accepted_categories_and_forms_are_the_kinds() -> None:
    from services.vault.domain import CATEGORIES, FORMS

    assert set(CATEGORIES) == set(record_kinds.CATEGORIES)
    assert set(FORMS) == set(record_kinds.FORMS)
