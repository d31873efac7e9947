"""The de-identification worker: a thread of the ingestion process that drains the queue.

:meth:`DeidentificationWorker.drain` takes the oldest queued items, asks the vault for their
sessions again (``received_at`` is the acknowledgement's time, so an erasure since then answers
"erased" and the item is dropped unread), opens them, de-identifies them
(:meth:`IngestionApplication.deidentify`: vault store, then ``InteractionIngested``) and only then
removes them from the queue: a crash anywhere replays the run, which stores and records nothing
twice. An item the vault or anonymization refuses for good is parked, not retried forever.

The thread drains at start-up whatever an earlier run acknowledged and did not finish (and drops
parked items of subjects erased meanwhile), then whenever ``ingest`` queues something
(``app.queued``), else every ``idle_s`` seconds. When a downstream service is unavailable it waits
(0.2 s doubling to 5 s) and tries again. It logs outcomes and error kinds only.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter

from services.ingestion.application import IngestionApplication
from services.ingestion.deidentify import ERASED, DownstreamRefused, Outcome, Work
from services.ingestion.pending import PendingEntry
from shared.crypto import DecryptionError
from shared.telemetry import meter, tracer

QUEUE_BATCH = 64  # interactions de-identified per run
PARKED = "parked"
log = logging.getLogger("lethe.ingestion")
DRAINED = meter().create_counter("lethe.ingest.deidentified", unit="1",
                                 description="Queued interactions de-identified, by outcome")


class DeidentificationWorker:
    """``start()`` / ``stop()`` a thread around :meth:`drain`."""

    def __init__(self, app: IngestionApplication, batch: int = QUEUE_BATCH,
                 idle_s: float = 1.0) -> None:
        self.app = app
        self.batch = batch
        self.idle_s = idle_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lethe-deidentify", daemon=True)

    def start(self) -> DeidentificationWorker:
        """Start the thread (it resumes what is queued first)."""
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the run in flight; what is still queued stays queued."""
        self._stop.set()
        self.app.queued.set()
        self._thread.join(timeout_s)

    def drain(self) -> int:
        """De-identify up to ``batch`` of the oldest queued items; returns how many were taken.

        Raises what the pipeline raises (e.g. Unavailable); then the items stay queued.
        """
        entries = self.app.queue.oldest(self.batch)
        if not entries:
            return 0
        with tracer().start_as_current_span("lethe.ingest.drain") as span:
            span.set_attribute("lethe.ingest.interactions", len(entries))
            self._drain(entries)
        return len(entries)

    def _drain(self, entries: list[PendingEntry]) -> None:
        sessions = self.app.sessions([(e.subject_ref, e.session_hint, e.received_at) for e in entries])
        work, dropped = [], 0
        for entry, session in zip(entries, sessions, strict=True):
            iid = uuid.UUID(entry.interaction_id)
            if session is None or iid in self.app.repository:
                dropped += session is None
                continue
            try:
                payload = entry.open(session[1])
            except DecryptionError:  # a session re-created after an erasure: the old key is gone
                dropped += 1
                continue
            work.append(Work(iid, entry.subject_ref, entry.received_at, *session, payload))
        try:
            outcomes = self.app.deidentify(work)
        except DownstreamRefused:  # one of them is refused for good: find it, let the others go
            outcomes = [self._alone(w) for w in work]
        parked = {str(w.interaction_id) for w, o in zip(work, outcomes, strict=True) if o.status == PARKED}
        self.app.queue.remove([e.interaction_id for e in entries if e.interaction_id not in parked])
        DRAINED.add(dropped, {"lethe.outcome": ERASED})
        for status, n in Counter(o.status for o in outcomes).items():
            DRAINED.add(n, {"lethe.outcome": status})

    def _alone(self, w: Work) -> Outcome:
        try:
            return self.app.deidentify([w])[0]
        except DownstreamRefused as exc:
            log.warning("a queued interaction was refused downstream (%s); parked", exc.reason)
            self.app.queue.park(str(w.interaction_id), exc.reason)
            return Outcome(PARKED, [], 0)

    def drop_erased_parked(self) -> int:
        """Remove parked entries whose subject was erased since; returns how many."""
        entries = self.app.queue.parked_entries()
        sessions = self.app.sessions([(e.subject_ref, e.session_hint, e.received_at) for e in entries])
        gone = [e.interaction_id for e, s in zip(entries, sessions, strict=True) if s is None]
        self.app.queue.remove(gone)
        return len(gone)

    def _run(self) -> None:
        backoff = 0.2
        drained_since_scrub, parked_checked = False, False
        while not self._stop.is_set():
            try:
                if not parked_checked:
                    self.drop_erased_parked()
                    parked_checked = True
                if self.drain():
                    backoff, drained_since_scrub = 0.2, True
                    continue
                if drained_since_scrub:  # idle: overwrite the removed rows' old WAL frames
                    self.app.queue.scrub()
                    drained_since_scrub = False
                self.app.queued.wait(self.idle_s)
                self.app.queued.clear()
            except Exception as exc:  # noqa: BLE001 - the queue keeps the items; try again later
                log.warning("de-identification paused (%s); retrying", type(exc).__name__)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
