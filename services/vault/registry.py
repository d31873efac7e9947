"""Governed disclosure and transfer: the recipient registry and its release rules.

Privacy policy: data is shared only with registered categories of third parties (infrastructure
providers, analytics services that get aggregated non-personal data only, legal and compliance
authorities when legally compelled); nothing is ever sold; personal data leaving its region for a
third country needs a mechanism of the closed vocabulary of :mod:`shared.transfers` that applies
to the destination (GDPR Chapter V: an adequacy decision listed in the policy file, Art. 45, with
its scope, e.g. DPF-certified US organisations only; SCCs, Decision 2021/914, or BCRs, Art. 46-47,
with their documents; an Art. 49 derogation by name) and is valid on the day of the transfer.
The mechanism is checked when the recipient is registered (:func:`check_recipient_mechanism`) and
again at every release (:func:`check_release`).

:func:`check_release` returns None when a release is allowed, else an UPPER_SNAKE refusal reason.
Every decision, release or refusal, is an event; a release whose event cannot be written does not
happen (the vault records first, then returns data: fail closed).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.errors import InvalidArgument
from shared.ids import stable_id
from shared.policy import load_policy
from shared.transfers import TransferLaw, check_mechanism, check_valid_on

RECIPIENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
SALE = re.compile(r"sale|sell|broker|advertis", re.IGNORECASE)


def check_recipient_id(value: str) -> None:
    """Raise InvalidArgument unless the id is 1-64 lower-case letters, digits or dashes."""
    if not RECIPIENT_ID.match(value):
        raise InvalidArgument("recipient_id must be lower-case letters, digits and dashes",
                              "RECIPIENT_ID_INVALID")


def check_recipient_mechanism(law: TransferLaw, region: str, mechanism: str,
                              legal_reference: str) -> None:
    """Raise InvalidArgument (reason from :func:`shared.transfers.check_mechanism`) when a given
    mechanism does not apply to ``region``. An empty mechanism is accepted: such a recipient
    receives only aggregates or data of its own region (checked at release)."""
    if not mechanism:
        return
    reason = check_mechanism(law, region, mechanism, legal_reference)
    if reason:
        raise InvalidArgument("the transfer mechanism does not apply to the recipient's region",
                              reason)


class Recipient(Aggregate):
    """A registered third-party recipient (id from its recipient id)."""

    @staticmethod
    def create_id(recipient_id: str, **_: object) -> uuid.UUID:
        """Stable id from the recipient id."""
        return stable_id("recipient", recipient_id)

    @event("RecipientRegistered")
    def __init__(self, recipient_id: str, name: str, category: str, region: str,
                 transfer_mechanism: str, legal_reference: str, valid_until: str) -> None:
        self.recipient_id = recipient_id
        self._set(name, category, region, transfer_mechanism, legal_reference, valid_until)
        self.active = True

    def _set(self, name: str, category: str, region: str, transfer_mechanism: str,
             legal_reference: str, valid_until: str) -> None:
        self.name, self.category, self.region = name, category, region
        self.transfer_mechanism, self.legal_reference = transfer_mechanism, legal_reference
        self.valid_until = valid_until

    @event("RecipientUpdated")
    def update(self, name: str, category: str, region: str, transfer_mechanism: str,
               legal_reference: str, valid_until: str) -> None:
        """Change the registered facts (recorded, never silently)."""
        self._set(name, category, region, transfer_mechanism, legal_reference, valid_until)
        self.active = True

    def as_dict(self) -> dict[str, Any]:
        """The registry entry."""
        return {"recipient_id": self.recipient_id, "name": self.name, "category": self.category,
                "region": self.region, "transfer_mechanism": self.transfer_mechanism,
                "legal_reference": self.legal_reference, "valid_until": self.valid_until,
                "active": self.active}


class ReleaseDecision(Aggregate):
    """One disclosure or transfer decision (id from its request id: a retry changes nothing)."""

    @staticmethod
    def create_id(request_id: str, **_: object) -> uuid.UUID:
        """Stable id from the request id."""
        return stable_id("release", request_id)

    @event("DataDisclosed")
    def disclosed(self, request_id: str, recipient_id: str, purpose: str, data_kind: str,
                  subject_ref: str, record_ids: list[str], mechanism: str) -> None:
        """Data was released to the recipient (recorded before the data leaves the vault)."""
        self.outcome = ("released", "", list(record_ids))

    @event("DataTransferred")
    def transferred(self, request_id: str, recipient_id: str, purpose: str, subject_ref: str,
                    record_ids: list[str], from_regions: list[str], to_region: str,
                    mechanism: str, legal_reference: str) -> None:
        """Personal data moved to another region under ``mechanism``."""
        self.outcome = ("released", "", list(record_ids))

    @event("DisclosureRefused")
    def refused(self, request_id: str, recipient_id: str, purpose: str, data_kind: str,
                subject_ref: str, reason: str) -> None:
        """The registry did not allow the release."""
        self.outcome = ("refused", reason, [])

    @event("DecisionOpened")
    def __init__(self, request_id: str, action: str) -> None:
        self.request_id = request_id
        self.action = action
        self.outcome: tuple[str, str, list[str]] = ("open", "", [])


def check_release(recipient: Recipient | None, category_rules: dict[str, dict[str, Any]],
                  purpose: str, data_kind: str, origin_regions: set[str],
                  today: dt.date, transfers: TransferLaw | None = None) -> str | None:
    """None when the registry allows the release, else the refusal reason.

    Args:
        category_rules: recipient category -> {"purposes": [...], "data": "personal"|"aggregate_only"}.
        data_kind: "personal" or "aggregate".
        origin_regions: regions the personal data comes from (empty for aggregates).
        transfers: adequacy list and EEA regions (default: the loaded policy's).
    """
    if SALE.search(purpose):
        return "SALE_FORBIDDEN"
    if recipient is None:
        return "RECIPIENT_UNREGISTERED"
    if not recipient.active:
        return "RECIPIENT_REVOKED"
    rule = category_rules.get(recipient.category)
    if rule is None:
        return "RECIPIENT_CATEGORY_UNKNOWN"
    if purpose not in rule["purposes"]:
        return "PURPOSE_NOT_ALLOWED"
    if data_kind == "personal" and rule["data"] != "personal":
        return "AGGREGATES_ONLY"
    if data_kind == "personal" and any(r != recipient.region for r in origin_regions):
        law = transfers or load_policy().transfers
        return (check_mechanism(law, recipient.region, recipient.transfer_mechanism,
                                recipient.legal_reference)
                or check_valid_on(recipient.valid_until, today))
    return None
