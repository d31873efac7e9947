"""Rights use cases: receive, verify and carry out access, erasure and objection requests.

Erasure is a process manager whose progress is its own events: shred in the vault, close the
schedules in retention, fulfil. :meth:`RightsApplication.resume` re-runs every open erasure from
the step it reached, so a crash or an outage of a downstream service delays it but never loses it.
The access export (GDPR Art. 15, portable JSON per Art. 20) is built on demand and never stored.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.application import AggregateNotFoundError

from services.rights.domain import HOLD_EXEMPTIONS, OPEN_STATES, DataSubjectRequest, check_submission
from shared.app import LetheApplication, event_attributes, event_type
from shared.config import Settings
from shared.crypto import subject_ref
from shared.errors import FailedPrecondition, LetheError, NotFound, require
from shared.keysource import FileKeySource
from shared.policy import load_policy

log = logging.getLogger("lethe.rights")
EXPORT_FORMAT = "lethe.access-export/v1"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Downstream(Protocol):
    """Calls the rights service makes (gRPC in production)."""

    def export_subject(self, subject_ref: str, request_id: str) -> list[dict[str, Any]]:
        """Decrypted records: record_id, interaction_id, category, form, region, received_at, stored_at, content (bytes)."""

    def shred_subject(self, subject_ref: str, request_id: str) -> tuple[int, int, dt.datetime, list[str]]:
        """(generation, records purged, erased_at, recipients notified)."""

    def list_schedules(self, subject_ref: str) -> list[dict[str, Any]]:
        """Schedules: record_id, category, purposes, stored_at, due_at, state, rule, hold_reason."""

    def forget_subject(self, subject_ref: str, request_id: str, erased_at: dt.datetime) -> int:
        """Number of schedules closed."""


@dataclass(frozen=True)
class RequestView:
    """What callers see of a request."""

    request_id: str
    kind: str
    state: str
    subject_ref: str
    law: str
    received_at: dt.datetime
    due_at: dt.datetime
    closed_at: dt.datetime | None
    reason: str
    purpose: str

    def overdue(self, now: dt.datetime) -> bool:
        """True when still open after its deadline."""
        return self.state in OPEN_STATES and now > self.due_at


def _view(r: DataSubjectRequest) -> RequestView:
    return RequestView(r.request_id, r.kind, r.state, r.subject_ref, r.law, r.received_at,
                       r.due_at, r.closed_at, r.reason, r.purpose)


class RightsApplication(LetheApplication):
    """The rights service's application."""

    service = "rights"

    def __init__(self, settings: Settings, keys: FileKeySource, downstream: Downstream) -> None:
        self.request_ids: dict[str, str] = {}  # aggregate id -> request id (projection)
        self.open_erasures: set[str] = set()  # aggregate ids of erasures not yet ended
        super().__init__(settings, keys)
        self.pepper = keys.get_or_create("pepper")
        self.downstream = downstream
        self.policy = load_policy()
        self.on_erasure_submitted: Callable[[], None] = lambda: None
        self.rebuild_projections()

    def on_recorded(self, event: Any) -> None:  # noqa: D102
        kind, aggregate_id = event_type(event), str(event.originator_id)
        if kind == "RequestReceived":
            attrs = event_attributes(event)
            self.request_ids[aggregate_id] = attrs["request_id"]
            if attrs["kind"] == "erasure":
                self.open_erasures.add(aggregate_id)
        elif kind in ("RequestFulfilled", "RequestDenied"):
            self.open_erasures.discard(aggregate_id)

    def _get(self, request_id: str) -> DataSubjectRequest:
        try:
            return self.repository.get(DataSubjectRequest.create_id(request_id))
        except AggregateNotFoundError:
            raise NotFound("no such request", "REQUEST_NOT_FOUND") from None

    def submit(self, request_id: str, kind: str, account_id: str, law: str = "gdpr",
               purpose: str = "") -> tuple[RequestView, bytes]:
        """Receive a request; returns its view and, for access, the export JSON (UTF-8 bytes).

        Idempotent by ``request_id``. The caller (the operator's front end) has verified the
        requester's identity; that is recorded as the verification method.
        Raises InvalidArgument on bad input; Unavailable when a downstream service is down
        (the request stays open and a retry continues it).
        """
        require(0 < len(request_id) <= 128, "request_id must be 1..128 characters",
                "REQUEST_ID_INVALID")
        require(0 < len(account_id) <= 256, "account_id is missing or too long",
                "ACCOUNT_ID_INVALID")
        law = law or "gdpr"
        check_submission(kind, law, purpose)
        ref = subject_ref(self.pepper, account_id)
        with self.lock:
            try:
                request = self._get(request_id)
            except NotFound:
                now = _now()
                request = DataSubjectRequest(
                    request_id=request_id, kind=kind, subject_ref=ref, law=law, received_at=now,
                    due_at=self.policy.request_due(law, now), purpose=purpose)
                request.verify(method="operator_attested")
                request.start()
                self.save(request)
            if request.subject_ref != ref or request.kind != kind:
                raise FailedPrecondition("request_id already used for another request",
                                         "REQUEST_ID_REUSED")
        if kind == "access":
            return self._access(request, account_id)
        if kind == "objection":
            return self._objection(request), b""
        self.on_erasure_submitted()
        return _view(request), b""

    def _objection(self, request: DataSubjectRequest) -> RequestView:
        with self.lock:
            request = self._get(request.request_id)
            if request.state in OPEN_STATES:
                request.record_objection(subject_ref=request.subject_ref, purpose=request.purpose,
                                         request_id=request.request_id)
                request.fulfil(closed_at=_now())
                self.save(request)
            return _view(request)

    def _access(self, request: DataSubjectRequest, account_id: str) -> tuple[RequestView, bytes]:
        records = self.downstream.export_subject(request.subject_ref, request.request_id)
        schedules = {s["record_id"]: s for s in self.downstream.list_schedules(request.subject_ref)}
        export = self.build_export(request, account_id, records, schedules)
        with self.lock:
            request = self._get(request.request_id)
            request.record_export(records=len(records),
                                  categories=sorted({r["category"] for r in records}))
            if request.state in OPEN_STATES:
                request.fulfil(closed_at=_now())
            self.save(request)
        return _view(request), json.dumps(export, indent=2, ensure_ascii=False).encode("utf-8")

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
            key = {"original": "content", "redacted": "redacted_content",
                   "metadata": "technical_metadata", "contact": "contact_details"}[r["form"]]
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
            "generated_at": _now().isoformat(),
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

    def resume(self) -> int:
        """Carry every open erasure forward; returns how many finished now.

        Each step is idempotent downstream (keyed by the request id), and each completed step
        is an event here, so a crash at any point resumes at the right step.
        """
        finished = 0
        for request_id in sorted(self.request_ids[a] for a in list(self.open_erasures)):
            with self.lock:
                request = self._get(request_id)
            try:
                self._erase(request)
                finished += 1
            except LetheError as exc:
                log.warning("erasure %s waits: %s", request_id, exc.reason)
        return finished

    def _erase(self, request: DataSubjectRequest) -> None:
        if request.shred is None:
            # A hold naming the subject or one of its records wins over erasure; a category-wide
            # hold only extends retention (crypto-shredding then removes the subject's share).
            held = sorted({s["hold_reason"] for s in self.downstream.list_schedules(request.subject_ref)
                           if s.get("hold_reason") and s.get("hold_names_subject")
                           and s["state"] == "scheduled"})
            if held:  # a legal hold wins over erasure: deny, naming the exemption
                with self.lock:
                    request = self._get(request.request_id)
                    request.deny(reason=f"legal hold: {', '.join(held)}",
                                 exemption="; ".join(HOLD_EXEMPTIONS[h] for h in held),
                                 closed_at=_now())
                    self.save(request)
                return
            generation, purged, erased_at, notified = self.downstream.shred_subject(
                request.subject_ref, request.request_id)
            with self.lock:
                request = self._get(request.request_id)
                request.record_shred(generation=generation, records_purged=purged,
                                     erased_at=erased_at, notified_recipients=notified)
                self.save(request)
        if not request.schedules_closed:
            erased_at = dt.datetime.fromisoformat(str(request.shred["erased_at"]))
            closed = self.downstream.forget_subject(request.subject_ref, request.request_id,
                                                    erased_at)
            with self.lock:
                request = self._get(request.request_id)
                request.record_schedules_closed(closed=closed)
                self.save(request)
        with self.lock:
            request = self._get(request.request_id)
            request.fulfil(closed_at=_now())
            self.save(request)

    def extend(self, request_id: str, reason: str) -> RequestView:
        """Extend an open request's deadline once (GDPR Art. 12(3): +2 months; CCPA: +45 days).

        The notice to the requester is recorded with the extension. Raises InvalidArgument without
        a reason, NotFound for an unknown request, FailedPrecondition when closed or already extended.
        """
        require(0 < len(reason) <= 500, "reason must be 1..500 characters", "REASON_INVALID")
        with self.lock:
            request = self._get(request_id)
            request.check_can_extend()
            now = _now()
            request.extend(reason=reason,
                           new_due_at=self.policy.request_due(request.law, request.received_at, True),
                           notice_sent_at=now)
            self.save(request)
            return _view(request)

    def get(self, request_id: str) -> RequestView:
        """A request's view; raises NotFound."""
        with self.lock:
            return _view(self._get(request_id))

    def list(self, include_closed: bool = False) -> list[RequestView]:
        """Requests, overdue first, then by deadline."""
        now = _now()
        with self.lock:
            views = [_view(self._get(r)) for r in self.request_ids.values()]
        views = [v for v in views if include_closed or v.state in OPEN_STATES]
        return sorted(views, key=lambda v: (not v.overdue(now), v.due_at, v.request_id))
