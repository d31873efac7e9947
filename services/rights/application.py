"""Rights use cases: receive, verify and carry out access, erasure and objection requests.

Erasure is a process manager (GDPR Art. 17) whose progress is its own events:

1. ask retention what blocks the erasure (``ListErasureBlockers``, one question to the owner of
   holds): no blocker, shred everything; blockers that preserve every live category, deny citing
   their legal bases; otherwise a partial erasure (``ErasurePartial``): shred all but the
   preserved categories now;
2. shred through the vault (``ShredSubject``, idempotent by request id), unless the vault's log
   shows that nothing was stored for the subject since an earlier erasure's shred;
3. learn that the shred happened by following the vault's log (``SubjectShredded`` with this
   request id): the shred is the vault's fact, never restated here; retention closes the
   subject's schedules by following the same log;
4. one closing shred (:func:`final_shred_id`): whatever reached the vault between the first
   shred and now is covered; the vault destroys nothing when nothing arrived. Its ``erased_at``
   is the request's ``closed_at``: everything received before it is erased;
5. overwrite and delete the subject's access exports under ``<data dir>/exports/``
   (:mod:`services.rights.exports`); 6. fulfil.

The held part of a partial erasure waits for retention's log: on ``HoldReleased`` rights asks
again, and when nothing blocks any more it shreds the held generations (:func:`held_shred_id`).

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
    final_shred_id,
    held_shred_id,
)
from services.rights.exports import delete_subject_exports
from shared.app import LetheApplication, event_attributes, event_type
from shared.config import Settings
from shared.crypto import subject_ref
from shared.errors import FailedPrecondition, LetheError, NotFound, Unavailable, require
from shared.follower import Batch, Follower, UpstreamEvent
from shared.ids import stable_id
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

    def shred_subject(self, subject_ref: str, request_id: str, keep: tuple[str, ...] = (),
                      through_generation: int = 0) -> None:
        """Ask the vault to crypto-shred the subject but the ``keep`` categories (up to
        ``through_generation`` when > 0); the outcome is read from the vault's log."""

    def erasure_blockers(self, subject_ref: str) -> dict[str, Any]:
        """Retention's answer: ``blockers`` (dicts: hold_id, reason, legal_basis, reference,
        categories, records), ``preserved`` and ``erasable`` (category lists)."""

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
    preserved_categories: tuple[str, ...] = ()  # kept under legal hold (a partial erasure)
    held_pending: bool = False  # the preserved part is still waiting for its holds' release

    def overdue(self, now: dt.datetime) -> bool:
        """True when still open after its deadline."""
        return self.state in OPEN_STATES and now > self.due_at


def _view(r: DataSubjectRequest) -> RequestView:
    return RequestView(r.request_id, r.kind, r.state, r.subject_ref, r.law, r.received_at,
                       r.due_at, r.closed_at, r.reason, r.purpose, r.duplicate_of, r.exports_files,
                       tuple(r.preserved_categories), r.held_pending)


class RightsApplication(LetheApplication):
    """The rights service's application."""

    service = "rights"

    def __init__(self, settings: Settings, keys: FileKeySource, downstream: Downstream,
                 vault_channel: Callable[[], Any],
                 retention_channel: Callable[[], Any] | None = None) -> None:
        """Wire the application; ``vault_channel`` gives a gRPC channel to the vault (its log),
        ``retention_channel`` one to retention (its log: hold releases)."""
        self.request_ids: dict[str, str] = {}  # aggregate id -> request id (projection)
        self.open_erasures: set[str] = set()  # aggregate ids of erasures not yet ended
        self.erasing: dict[str, str] = {}  # subject_ref -> request id of its open (first) erasure
        self._subjects: dict[str, str] = {}  # aggregate id -> subject_ref of open erasures
        self.held_erasures: set[str] = set()  # aggregate ids of partial erasures whose held part waits
        super().__init__(settings, keys)
        self.pepper = keys.get_or_create("pepper")
        self.downstream = downstream
        self.policy = load_policy()
        self.exports_dir = settings.data_dir / "exports"
        self.vault_log = Follower(self, "vault", vault_channel, self.on_vault_event)
        self.retention_log = (Follower(self, "retention", retention_channel, self.on_retention_event)
                              if retention_channel else None)
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
        elif kind == "ErasurePartial":
            self.held_erasures.add(aggregate_id)
        elif kind == "HeldPartErased":
            self.held_erasures.discard(aggregate_id)
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
            erasures.shred_seen(request_id=a["request_id"], vault_position=event.position,
                                generation=int(a.get("generation") or 0),
                                erased_at=str(a.get("erased_at") or ""),
                                kept_categories=list(a.get("kept_categories") or []))
            batch.add(erasures)
        elif event.event_type == "RecordStored" and a.get("subject_ref"):
            erasures = batch.get(SubjectErasures.create_id(a["subject_ref"]))
            if erasures is not None and erasures.clean:
                erasures.store_seen(vault_position=event.position)
                batch.add(erasures)

    def on_retention_event(self, event: UpstreamEvent, batch: Batch) -> None:
        """On the release of a hold that blocks a partial erasure's held part, note it; after the
        last one the erasure asks retention again (which holds block is retention's answer, never
        derived here from its log)."""
        if event.event_type != "HoldReleased":
            return
        for aggregate_id in sorted(self.held_erasures):
            request = batch.get(DataSubjectRequest.create_id(self.request_ids[aggregate_id]))
            if request is None or not request.held_pending:
                continue
            for hold_id in request.blocking_holds:
                if str(stable_id("hold", hold_id)) == event.originator_id:  # retention's Hold id
                    request.note_hold_released(retention_position=event.position, hold_id=hold_id)
                    batch.add(request)

    def follow_retention(self) -> None:
        """Read retention's log up to its end; raises Unavailable when it cannot be read."""
        if self.retention_log is None:
            return
        try:
            while self.retention_log.poll_once():
                pass
        except Exception as exc:  # noqa: BLE001 - gRPC or transport errors: the held part waits
            raise Unavailable("retention's log cannot be read", "RETENTION_LOG_UNAVAILABLE") from exc

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
        ended = self._resume_held()
        if not self.open_erasures:
            return ended
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
            except Exception as exc:  # noqa: BLE001 - gRPC, transport or store errors: next pass
                log.warning("erasure %s waits: %s", request.request_id,
                            getattr(exc, "reason", type(exc).__name__))
        return ended

    def _erase(self, request: DataSubjectRequest) -> int:
        """One step pass over an open erasure; returns 1 when it ended, else 0."""
        if request.duplicate_of:
            return self._end_duplicate(request)
        rid, ref = request.request_id, request.subject_ref
        if not request.shred_observed:
            erasures = self._erasures(ref)
            if erasures is None or rid not in erasures.shred_requests:
                if not request.held_pending:
                    request = self._decide(request)
                    if request.state not in OPEN_STATES:
                        return 1
                keep = tuple(request.preserved_categories)
                if erasures is not None and erasures.clean and not keep:
                    with self.lock:
                        request = self._get(rid)
                        request.record_nothing_new(previous_request_id=erasures.last_request_id)
                        self.save(request)
                elif not self._shred(ref, rid, keep):
                    return 0  # recorded by the vault but not yet readable: next pass
        final = final_shred_id(rid)
        if not self._shred(ref, final, tuple(request.preserved_categories)):
            return 0
        if not request.exports_deleted:
            files = delete_subject_exports(self.exports_dir, ref)
            with self.lock:
                request = self._get(rid)
                request.record_exports_deleted(files=files)
                self.save(request)
        erasures = self._erasures(ref)
        with self.lock:
            request = self._get(rid)
            if request.state in OPEN_STATES:
                request.fulfil(closed_at=(erasures.cutoff(final) if erasures else None) or _now())
                self.save(request)
        return 1

    def _shred(self, subject_ref: str, shred_id: str, keep: tuple[str, ...],
               through_generation: int = 0) -> bool:
        """Have the vault shred (idempotent by ``shred_id``) unless its log already shows it;
        returns True once the vault's ``SubjectShredded`` for ``shred_id`` was seen."""
        erasures = self._erasures(subject_ref)
        if erasures is not None and shred_id in erasures.shred_requests:
            return True
        self.downstream.shred_subject(subject_ref, shred_id, keep, through_generation)
        self.follow_vault()
        erasures = self._erasures(subject_ref)
        return erasures is not None and shred_id in erasures.shred_requests

    def _decide(self, request: DataSubjectRequest) -> DataSubjectRequest:
        """Ask retention what blocks the erasure and record the answer's consequence: nothing
        (full erasure), a denial naming the exemptions (every live category preserved), or
        ``ErasurePartial`` (the preserved categories wait for their holds)."""
        answer = self.downstream.erasure_blockers(request.subject_ref)
        blockers = answer["blockers"]
        if not blockers:
            return request
        exemptions = sorted({b["legal_basis"] for b in blockers})
        reasons = sorted({b["reason"] for b in blockers})
        with self.lock:
            request = self._get(request.request_id)
            if not answer["erasable"]:
                request.deny(reason=f"legal hold: {', '.join(reasons)}",
                             exemption="; ".join(exemptions), closed_at=_now())
            else:
                request.record_partial(preserved_categories=list(answer["preserved"]),
                                       erasable_categories=list(answer["erasable"]),
                                       hold_ids=[b["hold_id"] for b in blockers],
                                       exemptions=exemptions)
            self.save(request)
        return request

    def _resume_held(self) -> int:
        """Carry forward the held parts of partial erasures after a hold release; returns how many
        were erased now. Each asks retention again; when nothing blocks any more the held
        generations are shredded (``held_shred_id``), later use of the account left alone."""
        if not self.held_erasures:
            return 0
        try:
            self.follow_retention()
        except LetheError as exc:
            log.warning("held erasures wait: %s", exc.reason)
        with self.lock:
            waiting = [self._get(self.request_ids[a]) for a in sorted(self.held_erasures)]
        done = 0
        for request in waiting:
            if not request.recheck or request.state in OPEN_STATES:
                continue
            try:
                done += self._erase_held(request)
            except Exception as exc:  # noqa: BLE001 - gRPC, transport or store errors: next pass
                log.warning("held part of %s waits: %s", request.request_id,
                            getattr(exc, "reason", type(exc).__name__))
        return done

    def _erase_held(self, request: DataSubjectRequest) -> int:
        rid, ref = request.request_id, request.subject_ref
        shred_id = held_shred_id(rid)
        erasures = self._erasures(ref)
        if erasures is None or shred_id not in erasures.shred_requests:
            answer = self.downstream.erasure_blockers(ref)
            if answer["blockers"]:
                with self.lock:
                    request = self._get(rid)
                    request.record_still_blocked(preserved_categories=list(answer["preserved"]),
                                                 hold_ids=[b["hold_id"] for b in answer["blockers"]])
                    self.save(request)
                return 0
            shreds = erasures.shreds if erasures else {}
            through = max(int(shreds.get(r, {}).get("generation") or 0)  # type: ignore[call-overload]
                          for r in (rid, final_shred_id(rid)))
            if not self._shred(ref, shred_id, (), through):
                return 0
        with self.lock:
            request = self._get(rid)
            request.record_held_erased(shred_request_id=shred_id)
            self.save(request)
        return 1

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
