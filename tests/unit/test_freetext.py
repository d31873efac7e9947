"""Free-text operator fields that land in immutable events refuse personal data (Faker-generated)."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from faker import Faker

from services.retention.servicer import RetentionServicer
from services.rights.servicer import RightsServicer
from services.vault.servicer import VaultServicer
from shared.errors import InvalidArgument
from shared.freetext import check_id, check_text, personal_data_found
from shared.gen.lethe.v1 import retention_pb2, rights_pb2, vault_pb2

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_BR", "ja_JP"]


def _people(n: int = 60) -> list[tuple[str, str, str]]:
    fake = Faker(LOCALES)
    fake.seed_instance(20261202)
    return [(fake.name(), fake.email(), fake.phone_number()) for _ in range(n)]


PEOPLE = _people()
TEMPLATES = ["complaint by {name}, {email}, {phone}", "complaint by {name}", "{name} asked for it",
             "contact {email}", "call back on {phone}", "caller {phone}"]


class NoApp:
    """An application that must never be reached: the check comes first."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} was called with personal data in a free-text field")


def _entry_points(value: str) -> dict[str, Callable[[], Any]]:
    retention, rights, vault = RetentionServicer(NoApp()), RightsServicer(NoApp()), VaultServicer(NoApp())
    return {
        "hold reference": lambda: retention.PlaceHold(retention_pb2.PlaceHoldRequest(
            request_id="hold-1", target=retention_pb2.HoldTarget(category="system.operations"),
            reason="security_investigation", reference=value), None),
        "extension reason": lambda: rights.ExtendRequest(rights_pb2.ExtendRequestRequest(
            request_id="req-1", reason=value), None),
        "objection purpose": lambda: rights.SubmitRequest(rights_pb2.SubmitRequestRequest(
            request_id="obj-1", kind=rights_pb2.REQUEST_KIND_OBJECTION, account_id="acct-1",
            purpose=value), None),
        "recipient name": lambda: vault.RegisterRecipient(vault_pb2.RegisterRecipientRequest(
            request_id="r-1", recipient=vault_pb2.Recipient(
                recipient_id="acme", name=value, category="infrastructure", region="EU")), None),
        "recipient legal reference": lambda: vault.RegisterRecipient(vault_pb2.RegisterRecipientRequest(
            request_id="r-1", recipient=vault_pb2.Recipient(
                recipient_id="acme", name="Acme", category="infrastructure", region="EU",
                legal_reference=value)), None),
        "disclosure purpose": lambda: vault.Disclose(vault_pb2.DiscloseRequest(
            request_id="d-1", recipient_id="acme", purpose=value,
            data_kind=vault_pb2.DATA_KIND_AGGREGATE), None),
        "transfer purpose": lambda: vault.Transfer(vault_pb2.TransferRequest(
            request_id="t-1", recipient_id="acme", purpose=value, subject_ref="sr_" + "0" * 32), None),
    }


@pytest.mark.parametrize("template", TEMPLATES)
def test_generated_personal_data_is_found_in_every_template(template: str) -> None:
    for name, email, phone in PEOPLE:
        value = template.format(name=name, email=email, phone=phone)
        assert personal_data_found(value), value


@pytest.mark.parametrize("field", list(_entry_points("x")))
def test_every_entry_point_refuses_personal_data_before_anything_is_recorded(field: str) -> None:
    for n, (name, email, phone) in enumerate(PEOPLE[:20]):
        value = TEMPLATES[n % len(TEMPLATES)].format(name=name, email=email, phone=phone)
        with pytest.raises(InvalidArgument) as caught:
            _entry_points(value)[field]()
        assert caught.value.reason in ("FREE_TEXT_HAS_PERSONAL_DATA", "FREE_TEXT_NOT_AN_ID"), value
        for part in (name, email, phone):
            assert part not in caught.value.message  # the refusal never echoes the value


@pytest.mark.parametrize("value", ["model-training", "legal_compliance", "CASE-2026-0042",
                                   "ticket:4711/appeal", "hosting", ""])
def test_id_shaped_values_pass(value: str) -> None:
    check_id("reference", value)


@pytest.mark.parametrize("value", ["Complexity and number of requests", "Cloud hosting (EU)",
                                   "Commission Implementing Decision (EU) 2023/1795",
                                   "adequacy:EU-US Data Privacy Framework", "Acme Hosting GmbH",
                                   "Data Protection Authority inquiry, answer due 2026-12-31",
                                   "Art. 12(3) GDPR: many requests this month"])
def test_ordinary_reasons_and_names_pass(value: str) -> None:
    check_text("reason", value)


@pytest.mark.parametrize("value", ["complaint by someone", "a b", "x" * 129, "+4915112345678",
                                   "015112345678", "jane.doe@example.com"])
def test_ids_are_letters_digits_and_separators_without_long_numbers(value: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_id("reference", value)
    assert caught.value.reason in ("FREE_TEXT_NOT_AN_ID", "FREE_TEXT_HAS_PERSONAL_DATA")


def test_texts_are_one_short_line() -> None:
    for value in ("x" * 201, "line one\nline two"):
        with pytest.raises(InvalidArgument):
            check_text("reason", value)
