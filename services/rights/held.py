"""The held part of a partial erasure (GDPR Art. 17(3), CCPA 1798.105(d)): what legal holds kept
is erased once they are released.

Rights follows retention's log (``HoldReleased``) and notes the release of each hold that blocks a
partial erasure; after the last one it asks retention again (which holds block is retention's
answer, never derived here from its log), and when nothing blocks any more it has the vault shred
the held generations (:func:`held_shred_id`), leaving later use of the account alone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from services.rights.domain import OPEN_STATES, DataSubjectRequest, final_shred_id, held_shred_id
from services.rights.views import Downstream
from shared.errors import LetheError, Unavailable
from shared.follower import Batch, Follower, UpstreamEvent
from shared.ids import stable_id

log = logging.getLogger("lethe.rights")


class HeldPartProcess:
    """The held-part steps of the rights application (a mixin, like
    :class:`services.rights.erasure.ErasureProcess`, which calls :meth:`_resume_held`)."""

    downstream: Downstream
    lock: Any
    request_ids: dict[str, str]
    held_erasures: set[str]
    retention_log: Follower | None

    if TYPE_CHECKING:  # provided by the application and the other mixins
        def save(self, *aggregates: Any) -> Any:  # noqa: D102 - provided by the application
            ...

        def _get(self, request_id: str) -> DataSubjectRequest:  # provided by the application
            ...

        def _erasures(self, subject_ref: str) -> Any:  # provided by ErasureProcess
            ...

        def _shred(self, subject_ref: str, shred_id: str, keep: tuple[str, ...],
                   through_generation: int = 0) -> bool:  # provided by ErasureProcess
            ...

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

