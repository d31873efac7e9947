"""Access (GDPR Art. 15, portable JSON per Art. 20; CCPA 1798.110) and the staff's reveal.

The export is built on demand from the vault's decrypted records and retention's schedules and is
never stored by this service. A reveal (the DPO console's look at one subject's data) records
``SubjectDataRevealed`` with who asked and why before anything is returned.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError

from services.rights.domain import OPEN_STATES, DataSubjectRequest, Reveal
from services.rights.views import Downstream, RequestView, now, view
from shared import record_kinds
from shared.errors import require

EXPORT_FORMAT = "lethe.access-export/v1"


class AccessExports:
    """The access use cases of the rights application (a mixin)."""

    downstream: Downstream
    lock: Any
    repository: Any
    policy: Any

    if TYPE_CHECKING:  # provided by the application
        def save(self, *aggregates: Any) -> Any:  # noqa: D102
            ...

        def _get(self, request_id: str) -> DataSubjectRequest:
            ...

        def resolve_subject(self, account_id: str) -> str:  # noqa: D102
            ...

    def _access(self, request: DataSubjectRequest, account_id: str) -> tuple[RequestView, bytes]:
        records = self.downstream.export_subject(request.subject_ref, request.request_id)
        schedules = {s["record_id"]: s for s in self.downstream.list_schedules(request.subject_ref)}
        export = self.build_export(request, account_id, records, schedules)
        with self.lock:
            request = self._get(request.request_id)
            request.record_export(records=len(records),
                                  categories=sorted({r["category"] for r in records}))
            if request.state in OPEN_STATES:
                request.fulfil(closed_at=now())
            self.save(request)
        return view(request), json.dumps(export, indent=2, ensure_ascii=False).encode("utf-8")

    def build_export(self, request: DataSubjectRequest, account_id: str,
                     records: list[dict[str, Any]], schedules: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The Art. 15 export: data, purposes, categories, recipients, retention, transfers, source.

        Format ``lethe.access-export/v1`` (documented in README.md): one entry per interaction
        with its prompt, response, redacted form, technical metadata and contact data, plus the
        record list with each record's category, purposes and deadline.
        """
        interactions: dict[str, dict[str, Any]] = {}
        record_list = []
        for r in records:
            body = json.loads(r["content"].decode("utf-8"))
            schedule = schedules.get(r["record_id"], {})
            entry = interactions.setdefault(r["interaction_id"], {
                "interaction_id": r["interaction_id"], "region": r["region"],
                "received_at": r["received_at"].isoformat()})
            key = record_kinds.by_form(r["form"]).export_key
            entry[key] = body
            rule = self.policy.rule_for(r["category"])
            due = schedule.get("due_at")
            record_list.append({
                "record_id": r["record_id"], "interaction_id": r["interaction_id"],
                "category": r["category"], "form": r["form"], "purposes": list(rule.purposes),
                "stored_at": r["stored_at"].isoformat(),
                "retention": rule.period_text(), "expires_at": due.isoformat() if due else None})
        categories = sorted({r["category"] for r in records})
        regions = sorted({r["region"] for r in records})
        recipients = self.policy.recipients
        return {
            "format": EXPORT_FORMAT,
            "request_id": request.request_id,
            "generated_at": now().isoformat(),
            "law": request.law,
            "controller": self.policy.raw["controller"],
            "data_subject": {"account_id": account_id, "subject_ref": request.subject_ref},
            "source": "provided by the data subject through the AI chat service "
                      "(prompts, responses, support tickets) and technical metadata of those sessions",
            "categories": [{"category": c, "description": self.policy.rule_for(c).description,
                            "purposes": list(self.policy.rule_for(c).purposes),
                            "retention": self.policy.rule_for(c).period_text()} for c in categories],
            "purposes": sorted({p for c in categories for p in self.policy.rule_for(c).purposes}),
            "recipients": [{"id": r["id"], "name": r["name"], "category": r["category"],
                            "region": r["region"]} for r in recipients],
            "transfers": [{"recipient": r["id"], "region": r["region"],
                           "mechanism": r.get("transfer_mechanism"),
                           "legal_reference": r.get("legal_reference"),
                           "valid_until": r.get("valid_until")}
                          for r in recipients if any(r["region"] != g for g in regions)
                          and r.get("transfer_mechanism")],
            "interactions": sorted(interactions.values(), key=lambda e: e["received_at"]),
            "records": record_list,
        }

    def reveal(self, reveal_id: str, account_id: str, caller: str, reason: str) -> bytes:
        """A subject's data for a member of staff (export format); the look is recorded first.

        ``SubjectDataRevealed`` (subject_ref, caller, reason, record count) is saved before the
        data is returned, so every look is in the log. Idempotent by ``reveal_id``.
        Raises InvalidArgument without a reason or with a bad id.
        """
        require(0 < len(reveal_id) <= 128, "request_id must be 1..128 characters",
                "REQUEST_ID_INVALID")
        require(0 < len(reason) <= 500, "reason must be 1..500 characters", "REASON_INVALID")
        ref = self.resolve_subject(account_id)
        records = self.downstream.export_subject(ref, f"reveal:{reveal_id}")
        schedules = {s["record_id"]: s for s in self.downstream.list_schedules(ref)}
        with self.lock:
            try:
                self.repository.get(Reveal.create_id(reveal_id))
            except AggregateNotFoundError:
                self.save(Reveal(reveal_id=reveal_id, subject_ref=ref, caller=caller,
                                 reason=reason, records=len(records), revealed_at=now()))
        shown = DataSubjectRequest(request_id=f"reveal:{reveal_id}", kind="access", subject_ref=ref,
                                   law="gdpr", received_at=now(), due_at=now(), purpose="")
        export = self.build_export(shown, account_id, records, schedules)
        return json.dumps(export, indent=2, ensure_ascii=False).encode("utf-8")
