"""Vault release use cases: the recipient registry and governed disclosures and transfers.

Mixed into :class:`services.vault.application.VaultApplication` (which provides ``policy``,
``recipient_ids``, ``lock``, ``repository``, ``save`` and the record reads of
:class:`services.vault.records.RecordUseCases`). Every decision is recorded before data leaves.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from services.vault.domain import check_subject_ref
from services.vault.records import RecordOut
from services.vault.registry import (
    Recipient,
    ReleaseDecision,
    check_recipient_id,
    check_recipient_mechanism,
    check_release,
)
from shared.errors import FailedPrecondition, InvalidArgument, require

REGION = re.compile(r"^[A-Z]{2,8}$")


class ReleaseUseCases:
    """Registers recipients and decides disclosures and transfers by the registry's rules."""

    policy: Any
    recipient_ids: set[str]
    lock: Any
    repository: Any
    save: Any
    db: Any
    _SELECT: str

    def _register_policy_recipients(self) -> None:
        """Seed the registry with the policy file's recipients (once; later changes go over gRPC)."""
        for entry in self.policy.recipients:
            if entry["id"] not in self.recipient_ids:
                self.register_recipient(entry["id"], entry["name"], entry["category"],
                                        entry["region"], entry.get("transfer_mechanism", ""),
                                        entry.get("legal_reference", ""), entry.get("valid_until", ""))

    def _recipient(self, recipient_id: str) -> Recipient | None:
        try:
            return self.repository.get(Recipient.create_id(recipient_id))
        except AggregateNotFoundError:
            return None

    def register_recipient(self, recipient_id: str, name: str, category: str, region: str,
                           transfer_mechanism: str = "", legal_reference: str = "",
                           valid_until: str = "") -> dict[str, Any]:
        """Register or update a recipient; raises InvalidArgument on a bad id, category or date."""
        check_recipient_id(recipient_id)
        categories = {c["category"] for c in self.policy.recipient_categories}
        require(category in categories, "unknown recipient category", "CATEGORY_INVALID")
        require(bool(REGION.match(region)), "region must be 2-8 upper-case letters, e.g. EU",
                "REGION_INVALID")
        check_recipient_mechanism(self.policy.transfers, region, transfer_mechanism, legal_reference)
        if valid_until:
            try:
                dt.date.fromisoformat(valid_until)
            except ValueError:
                raise InvalidArgument("valid_until must be an ISO date", "VALID_UNTIL_INVALID") from None
        with self.lock:
            recipient = self._recipient(recipient_id)
            facts = dict(name=name, category=category, region=region,
                         transfer_mechanism=transfer_mechanism, legal_reference=legal_reference,
                         valid_until=valid_until)
            if recipient is None:
                recipient = Recipient(recipient_id=recipient_id, **facts)
            elif recipient.as_dict() != {**facts, "recipient_id": recipient_id, "active": True}:
                recipient.update(**facts)
            self.save(recipient)
            return recipient.as_dict()

    def list_recipients(self) -> list[dict[str, Any]]:
        """The registry, sorted by id."""
        with self.lock:
            found = [self._recipient(r) for r in sorted(self.recipient_ids)]
        return [r.as_dict() for r in found if r is not None]

    def _decide(self, action: str, request_id: str, recipient_id: str, purpose: str,
                data_kind: str, subject_ref: str, categories: list[str]) -> tuple[bool, str, list[RecordOut]]:
        require(bool(request_id), "request_id is required", "REQUEST_ID_MISSING")
        check_recipient_id(recipient_id)
        require(0 < len(purpose) <= 64, "purpose must be 1..64 characters", "PURPOSE_INVALID")
        require(data_kind in ("personal", "aggregate"), "data_kind is required", "DATA_KIND_INVALID")
        if data_kind == "personal":
            check_subject_ref(subject_ref)
        with self.lock:
            try:
                decision = self.repository.get(ReleaseDecision.create_id(request_id))
            except AggregateNotFoundError:
                decision = None
            if decision is not None:  # a retry gets the first decision (and the same records)
                if decision.action != action:
                    raise FailedPrecondition("request_id already used", "REQUEST_ID_REUSED")
                state, reason, ids = decision.outcome
                if state != "released":
                    return False, reason, []
                return True, "", self.read(ids, f"{action}:{recipient_id}", request_id) if ids else []
            recipient = self._recipient(recipient_id)
            rows = []
            if data_kind == "personal":
                rows = self.db.execute(self._SELECT + "r.subject_ref=? ORDER BY r.received_at, r.record_id",
                                       (subject_ref,))
                if categories:
                    rows = [r for r in rows if r[3] in categories]
            regions = {r[5] for r in rows}
            rules = {c["category"]: c for c in self.policy.recipient_categories}
            reason = check_release(recipient, rules, purpose, data_kind, regions,
                                   dt.datetime.now(dt.timezone.utc).date())
            decision = ReleaseDecision(request_id=request_id, action=action)
            if reason:
                decision.refused(request_id=request_id, recipient_id=recipient_id, purpose=purpose,
                                 data_kind=data_kind, subject_ref=subject_ref, reason=reason)
                self.save(decision)
                return False, reason, []
            ids = [r[0] for r in rows]
            mechanism = recipient.transfer_mechanism if any(g != recipient.region for g in regions) else ""
            if action == "transfer":
                decision.transferred(request_id=request_id, recipient_id=recipient_id,
                                     purpose=purpose, subject_ref=subject_ref, record_ids=ids,
                                     from_regions=sorted(regions), to_region=recipient.region,
                                     mechanism=mechanism, legal_reference=recipient.legal_reference)
            else:
                decision.disclosed(request_id=request_id, recipient_id=recipient_id,
                                   purpose=purpose, data_kind=data_kind, subject_ref=subject_ref,
                                   record_ids=ids, mechanism=mechanism)
            self.save(decision)  # fail closed: no event, no release
            return True, "", self._decrypt(rows, f"{action}:{recipient_id}", request_id)

    def disclose(self, request_id: str, recipient_id: str, purpose: str, data_kind: str,
                 subject_ref: str = "", categories: list[str] | None = None) -> tuple[bool, str, list[RecordOut]]:
        """Release data to a registered recipient if the registry allows it.

        Returns (released, refusal reason, decrypted records for personal data). The decision is
        recorded before any data is returned. Raises InvalidArgument on malformed input and
        FailedPrecondition when ``request_id`` was already decided.
        """
        return self._decide("disclose", request_id, recipient_id, purpose, data_kind, subject_ref,
                            categories or [])

    def transfer(self, request_id: str, recipient_id: str, purpose: str,
                 subject_ref: str) -> tuple[bool, str, int]:
        """Move a subject's personal data to a recipient's region under a valid mechanism.

        Returns (released, refusal reason, number of records); recorded either way.
        """
        released, reason, records = self._decide("transfer", request_id, recipient_id, purpose,
                                                 "personal", subject_ref, [])
        return released, reason, len(records)
