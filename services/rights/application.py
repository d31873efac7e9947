"""Rights use cases: receive, verify and carry out access, erasure and objection requests.

Erasure is a process manager (GDPR Art. 17) whose progress is its own events:

1. ask retention what blocks the erasure (a legal hold naming the subject: deny, citing it);
2. shred through the vault (``ShredSubject``, idempotent by request id), unless the vault's log
   shows that nothing was stored for the subject since an earlier erasure's shred;
3. learn that the shred happened by following the vault's log (``SubjectShredded`` with this
   request id): the shred is the vault's fact, never restated here; retention closes the
   subject's schedules by following the same log;
4. overwrite and delete the subject's access exports under ``<data dir>/exports/``
   (:mod:`services.rights.exports`); 5. fulfil.

:meth:`RightsApplication.resume` re-runs every open erasure from the step it reached, so a crash
or an outage of a downstream service delays it but never loses it. One subject, one open
erasure: a second request while one is open is recorded as its duplicate and ends with its
outcome. The access export (GDPR Art. 15, portable JSON per Art. 20) is built on demand and
never stored by this service.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.application import AggregateNotFoundError

from services.rights.domain import (
    OPEN_STATES,
    DataSubjectRequest,
    Reveal,
    SubjectErasures,
    check_submission,
)
from services.rights.exports import delete_subject_exports
from shared.app import LetheApplication, event_attributes, event_type
from shared.config import Settings
from shared.crypto import subject_ref
from shared.errors import FailedPrecondition, LetheError, NotFound, Unavailable, require
from shared.follower import Batch, Follower, UpstreamEvent
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

    def shred_subject(self, subject_ref: str, request_id: str) -> None:
        """Ask the vault to crypto-shred the subject; the outcome is read from the vault's log."""

    def list_schedules(self, subject_ref: str) -> list[dict[str, Any]]:
        """Schedules: record_id, category, purposes, stored_at, due_at, state, rule, hold_reason."""


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
    duplicate_of: str = ""
    exports_deleted: int = 0

    def overdue(self, now: dt.datetime) -> bool:
        """True when still open after its deadline."""
        return self.state in OPEN_STATES and now > self.due_at


def _view(r: DataSubjectRequest) -> RequestView:
    return RequestView(r.request_id, r.kind, r.state, r.subject_ref, r.law, r.received_at,
                       r.due_at, r.closed_at, r.reason, r.purpose, r.duplicate_of, r.exports_files)


class RightsApplication(LetheApplication):
    """The rights service's application."""

    service = "rights"

    def __init__(self, settings: Settings, keys: FileKeySource, downstream: Downstream,
                 vault_channel: Callable[[], Any]) -> None:
        """Wire the application; ``vault_channel`` gives a gRPC channel to the vault (its log)."""
        self.request_ids: dict[str, str] = {}  # aggregate id -> request id (projection)
        self.open_erasures: set[str] = set()  # aggregate ids of erasures not yet ended
        self.erasing: dict[str, str] = {}  # subject_ref -> request id of its open (first) erasure
        self._subjects: dict[str, str] = {}  # aggregate id -> subject_ref of open erasures
        super().__init__(settings, keys)
        self.pepper = keys.get_or_create("pepper")
        self.downstream = downstream
        self.policy = load_policy()
        self.exports_dir = settings.data_dir / "exports"
        self.vault_log = Follower(self, "vault", vault_channel, self.on_vault_event)
        self.on_erasure_submitted: Callable[[], None] = lambda: None
        self.rebuild_projections()

    def on_recorded(self, event: Any) -> None:  # noqa: D102
        kind, aggregate_id = event_type(event), str(event.originator_id)
        if kind == "RequestReceived":
            attrs = event_attributes(event)
            self.request_ids[aggregate_id] = attrs["request_id"]
            if attrs["kind"] == "erasure":
                self.open_erasures.add(aggregate_id)
                self._subjects[aggregate_id] = attrs["subject_ref"]
                self.erasing.setdefault(attrs["subject_ref"], attrs["request_id"])
        elif kind == "DuplicateRecognised":
            ref = self._subjects.get(aggregate_id, "")
            if self.erasing.get(ref) == self.request_ids.get(aggregate_id):
                self.erasing[ref] = event_attributes(event)["of_request_id"]
        elif kind in ("RequestFulfilled", "RequestDenied"):
            self.open_erasures.discard(aggregate_id)
            ref = self._subjects.pop(aggregate_id, "")
            if ref and self.erasing.get(ref) == self.request_ids.get(aggregate_id):
                del self.erasing[ref]

    # ---- following the vault's log ----
    def on_vault_event(self, event: UpstreamEvent, batch: Batch) -> None:
        """Note the vault's shreds, and stores of a subject after its last shred."""
        a = event.attributes
        if event.event_type == "SubjectShredded":
            erasures = batch.get(SubjectErasures.create_id(a["subject_ref"]))
            if erasures is None:
                erasures = SubjectErasures(subject_ref=a["subject_ref"])
            erasures.shred_seen(request_id=a["request_id"], vault_position=event.position)
            batch.add(erasures)
        elif event.event_type == "RecordStored" and a.get("subject_ref"):
            erasures = batch.get(SubjectErasures.create_id(a["subject_ref"]))
            if erasures is not None and erasures.clean:
                erasures.store_seen(vault_position=event.position)
                batch.add(erasures)

    def follow_vault(self) -> None:
        """Read the vault's log up to its end; raises Unavailable when the vault cannot be read."""
        try:
            while self.vault_log.poll_once():
                pass
        except Exception as exc:  # noqa: BLE001 - gRPC or transport errors: the erasure waits
            raise Unavailable("the vault's log cannot be read", "VAULT_LOG_UNAVAILABLE") from exc

    def _erasures(self, subject_ref: str) -> SubjectErasures | None:
        try:
            return self.repository.get(SubjectErasures.create_id(subject_ref))
        except AggregateNotFoundError:
            return None

    def _get(self, request_id: str) -> DataSubjectRequest:
        try:
            return self.repository.get(DataSubjectRequest.create_id(request_id))
        except AggregateNotFoundError:
            raise NotFound("no such request", "REQUEST_NOT_FOUND") from None

    def resolve_subject(self, account_id: str) -> str:
        """The account's ``subject_ref`` (HMAC-SHA256 under the pepper, which stays here).

        Callers (the operator's CLI) name subjects through this, never by holding the pepper.
        Raises InvalidArgument on an empty or over-long account id.
        """
        require(0 < len(account_id) <= 256, "account_id is missing or too long",
                "ACCOUNT_ID_INVALID")
        return subject_ref(self.pepper, account_id)

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
        ref = self.resolve_subject(account_id)
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
                open_one = self.erasing.get(ref) if kind == "erasure" else None
                if open_one:  # one subject, one open erasure (docs/design.md §4.8)
                    request.recognise_duplicate(of_request_id=open_one)
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
        """Carry every open erasure forward; returns how many ended now.

        Each step is idempotent downstream (keyed by the request id), and each completed step
        is an event here or in the vault's log, so a crash at any point resumes at the right step.
        Duplicates come last, so they end in the same pass as the request they follow.
        """
        if not self.open_erasures:
            return 0
        ended = 0
        open_ids = sorted(self.request_ids[a] for a in list(self.open_erasures))
        try:
            self.follow_vault()
        except LetheError as exc:
            log.warning("open erasures wait: %s", exc.reason)
        with self.lock:
            requests = [self._get(r) for r in open_ids]
        for request in sorted(requests, key=lambda r: (bool(r.duplicate_of), r.request_id)):
            try:
                ended += self._erase(request)
            except (LetheError, OSError) as exc:
                log.warning("erasure %s waits: %s", request.request_id,
                            getattr(exc, "reason", type(exc).__name__))
        return ended

    def _erase(self, request: DataSubjectRequest) -> int:
        """One step pass over an open erasure; returns 1 when it ended, else 0."""
        if request.duplicate_of:
            return self._end_duplicate(request)
        if not request.shred_observed:
            erasures = self._erasures(request.subject_ref)
            if erasures is None or request.request_id not in erasures.shred_requests:
                blocking = self.check_not_held(request)
                if blocking:
                    return 1
                if erasures is not None and erasures.clean:
                    with self.lock:
                        request = self._get(request.request_id)
                        request.record_nothing_new(previous_request_id=erasures.last_request_id)
                        self.save(request)
                else:
                    self.downstream.shred_subject(request.subject_ref, request.request_id)
                    self.follow_vault()
                    erasures = self._erasures(request.subject_ref)
                    if erasures is None or request.request_id not in erasures.shred_requests:
                        return 0  # recorded by the vault but not yet readable: next pass
        if not request.exports_deleted:
            files = delete_subject_exports(self.exports_dir, request.subject_ref)
            with self.lock:
                request = self._get(request.request_id)
                request.record_exports_deleted(files=files)
                self.save(request)
        with self.lock:
            request = self._get(request.request_id)
            if request.state in OPEN_STATES:
                request.fulfil(closed_at=_now())
                self.save(request)
        return 1

    def check_not_held(self, request: DataSubjectRequest) -> bool:
        """Deny the request when a legal hold naming the subject or a record of it is active.

        A category-wide hold only extends retention (crypto-shredding removes the subject's
        share). Returns True when the request was denied, naming the exemption (GDPR Art. 17(3)).
        """
        held = sorted({s["hold_reason"] for s in self.downstream.list_schedules(request.subject_ref)
                       if s.get("hold_reason") and s.get("hold_names_subject")
                       and s["state"] == "scheduled"})
        if not held:
            return False
        with self.lock:
            request = self._get(request.request_id)
            request.deny(reason=f"legal hold: {', '.join(held)}",
                         exemption="; ".join(self.policy.hold_reason(h).legal_basis for h in held), closed_at=_now())
            self.save(request)
        return True

    def _end_duplicate(self, request: DataSubjectRequest) -> int:
        """End a duplicate with the outcome of the request it duplicates, once that one ended."""
        with self.lock:
            first = self._get(request.duplicate_of)
            if first.state in OPEN_STATES:
                return 0
            request = self._get(request.request_id)
            if request.state not in OPEN_STATES:
                return 0
            if first.state == "fulfilled":
                request.fulfil(closed_at=_now())
            else:
                request.deny(reason=f"duplicate of {first.request_id}: {first.reason}",
                             exemption="", closed_at=_now())
            self.save(request)
        return 1

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
                                 reason=reason, records=len(records), revealed_at=_now()))
        view = DataSubjectRequest(request_id=f"reveal:{reveal_id}", kind="access", subject_ref=ref,
                                  law="gdpr", received_at=_now(), due_at=_now(), purpose="")
        export = self.build_export(view, account_id, records, schedules)
        return json.dumps(export, indent=2, ensure_ascii=False).encode("utf-8")

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
