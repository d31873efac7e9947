"""Erasure (GDPR Art. 17, CCPA 1798.105) as a process manager whose progress is its own events.

1. ask retention what blocks the erasure (``ListErasureBlockers``, one question to the owner of
   holds): no blocker, shred everything; blockers that preserve every live category, deny citing
   their legal bases; otherwise a partial erasure (``ErasurePartial``): shred all but the
   preserved categories now;
2. record the intent (``ErasureShredOrdered``: from here on staff can no longer deny it), then
   shred through the vault (``ShredSubject``, idempotent by request id), unless the vault's log
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

:meth:`ErasureProcess.resume` re-runs every open erasure from the step it reached, so a crash or
an outage of a downstream service delays it but never loses it. Duplicates (a second erasure of
a subject while one is open) end with the outcome of the request they duplicate.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError

from services.rights.domain import OPEN_STATES, DataSubjectRequest, SubjectErasures, final_shred_id
from services.rights.exports import delete_subject_exports
from services.rights.views import Downstream, now
from shared.errors import LetheError, Unavailable
from shared.follower import Batch, Follower, UpstreamEvent

log = logging.getLogger("lethe.rights")


class ErasureProcess:
    """The erasure steps of :class:`services.rights.application.RightsApplication` (a mixin:
    the application provides the store, the lock, the projections and the followers)."""

    downstream: Downstream
    lock: Any
    repository: Any
    exports_dir: Any
    request_ids: dict[str, str]
    open_erasures: set[str]
    vault_log: Follower

    if TYPE_CHECKING:  # provided by the application and the other mixins
        def save(self, *aggregates: Any) -> Any:  # noqa: D102 - provided by the application
            ...

        def _get(self, request_id: str) -> DataSubjectRequest:  # provided by the application
            ...

        def _resume_held(self) -> int:  # provided by HeldPartProcess
            ...

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

    # ---- the steps ----
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
                if not self._order_shred(rid):
                    return 1  # denied by staff meanwhile
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
                request.fulfil(closed_at=(erasures.cutoff(final) if erasures else None) or now())
                self.save(request)
        return 1

    def _order_shred(self, request_id: str) -> bool:
        """Record the intent to shred once (False when the request was closed meanwhile)."""
        with self.lock:
            request = self._get(request_id)
            if request.state not in OPEN_STATES:
                return False
            if not request.shred_ordered:
                request.order_shred()
                self.save(request)
        return True

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
            if request.state not in OPEN_STATES:
                return request  # denied by staff meanwhile
            if not answer["erasable"]:
                request.deny(reason=f"legal hold: {', '.join(reasons)}",
                             exemption="; ".join(exemptions), closed_at=now())
            else:
                request.record_partial(preserved_categories=list(answer["preserved"]),
                                       erasable_categories=list(answer["erasable"]),
                                       hold_ids=[b["hold_id"] for b in blockers],
                                       exemptions=exemptions)
            self.save(request)
        return request

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
                request.fulfil(closed_at=now())
            else:
                request.deny(reason=f"duplicate of {first.request_id}: {first.reason}",
                             exemption="", closed_at=now())
            self.save(request)
        return 1
