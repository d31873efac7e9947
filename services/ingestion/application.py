"""Ingestion use cases: accept interactions durably, and de-identify what was accepted.

``ingest`` (one batch): validation (bad items rejected with a reason, the rest go on) ->
``subject_ref`` by keyed HMAC -> the vault opens each item's session (its pseudonym key lives
sealed under the subject's key group and dies with the subject's erasure; no session = erased) ->
interaction id, a keyed digest of the content under a key derived from that session key (stable
across retries, unconfirmable once the subject is erased) -> duplicate check -> then, by
``acknowledge``:

* ``durable`` (default): the item is sealed under the session key and queued in one committed
  transaction (:mod:`services.ingestion.pending`); the answer is ``accepted``.
* ``deidentified``: the item is de-identified now (:mod:`services.ingestion.deidentify`); the
  answer is ``stored`` with its entity count.

The worker (:mod:`services.ingestion.worker`) de-identifies what is queued, in the background,
through :meth:`IngestionApplication.deidentify`. Each step is safe to crash
after: a replay stores nothing twice (record ids derive from the interaction id) and records no
event twice. The account id, full IP and user-agent string exist only in memory during ``ingest``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass

from eventsourcing.persistence import RecordConflictError

from services.ingestion.deidentify import (
    ERASED,
    Deidentifier,
    Outcome,
    Pipeline,
    Work,
)
from services.ingestion.domain import (
    IngestedInteraction,
    InteractionIn,
    network_prefix,
    user_agent_family,
    validate,
)
from services.ingestion.pending import Payload, PendingEntry, PendingQueue, derived_key
from shared.app import LetheApplication
from shared.concurrency import Coalescer
from shared.config import Settings
from shared.crypto import keyed_digest, subject_ref
from shared.errors import LetheError
from shared.ids import stable_id
from shared.keysource import FileKeySource
from shared.limits import MAX_VAULT_ITEMS, chunks
from shared.store import open_store
from shared.telemetry import meter, tracer

DUPLICATE, REJECTED, ACCEPTED = "duplicate", "rejected", "accepted"
DURABLE, DEIDENTIFIED = "durable", "deidentified"
INTERACTIONS = meter().create_counter("lethe.ingest.interactions", unit="1",
                                      description="Interactions ingested, by outcome")
BATCH_SECONDS = meter().create_histogram("lethe.ingest.batch.duration", unit="s",
                                         description="Time to run one ingest batch")


@dataclass(frozen=True)
class IngestResult:
    """Outcome of one item: status, reason (UPPER_SNAKE), message, interaction id, entity count."""

    status: str
    reason: str = ""
    message: str = ""
    interaction_id: str = ""
    entities_redacted: int = 0


@dataclass(frozen=True)
class _Accepted:
    index: int
    item: InteractionIn
    subject_ref: str
    hint: str
    session: tuple[str, bytes]
    interaction_id: uuid.UUID


class IngestionApplication(LetheApplication):
    """The ingestion service's application (the worker is started apart, see ``main``)."""

    service = "ingestion"

    def __init__(self, settings: Settings, keys: FileKeySource, pipeline: Pipeline) -> None:
        super().__init__(settings, keys)
        self.pepper = keys.get_or_create("pepper")
        self.pipeline = pipeline
        self.deidentifier = Deidentifier(pipeline)
        self.queue = PendingQueue(open_store(settings, self.service, "pending"))
        self.queued = threading.Event()  # set when something was queued (wakes the worker)
        # Durable: one batch waits for the vault's sessions while the one before it commits.
        self.coalescers = {mode: Coalescer(lambda items, m=mode: self._ingest_traced(items, m),
                                           leaders=2 if mode == DURABLE else 1)
                           for mode in (DURABLE, DEIDENTIFIED)}

    @staticmethod
    def interaction_id(item: InteractionIn, session_key: bytes) -> uuid.UUID:
        """Stable id: HMAC-SHA256 of the natural key under a key derived from the session key."""
        digest = keyed_digest(derived_key(session_key, "interaction-id"), item.account_id,
                              item.session_hint, item.occurred_at.isoformat() if item.occurred_at
                              else "", item.kind, item.prompt, item.response, item.contact)
        return stable_id("interaction", digest)

    def ingest(self, items: list[InteractionIn], acknowledge: str = DURABLE) -> list[IngestResult]:
        """Run a batch; one result per item, in order. An item repeated in the batch comes back
        ``duplicate`` after the first.

        Raises Unavailable (from the pipeline) when a downstream service is down: then nothing
        of the batch was accepted here and a retry is safe. Small batches of concurrent callers
        are run together (:class:`shared.concurrency.Coalescer`).
        """
        if acknowledge not in self.coalescers:
            raise ValueError("acknowledge must be durable or deidentified")
        if len(items) < 32:
            return self.coalescers[acknowledge].submit(items)
        return self._ingest_traced(items, acknowledge)

    def _ingest_traced(self, items: list[InteractionIn], mode: str) -> list[IngestResult]:
        with tracer().start_as_current_span("lethe.ingest.batch") as span:
            started = time.perf_counter()
            results = self._ingest(items, mode)
            for status, n in Counter(r.status for r in results).items():
                INTERACTIONS.add(n, {"lethe.outcome": status})
                span.set_attribute(f"lethe.ingest.{status}", n)
            span.set_attribute("lethe.ingest.interactions", len(items))
            BATCH_SECONDS.record(time.perf_counter() - started)
            return results

    def _ingest(self, items: list[InteractionIn], mode: str) -> list[IngestResult]:
        now = dt.datetime.now(dt.timezone.utc)  # the acknowledgement's time
        results: list[IngestResult | None] = [None] * len(items)
        valid: list[tuple[int, InteractionIn, str, str]] = []
        for i, item in enumerate(items):
            try:
                validate(item, now)
            except LetheError as exc:
                results[i] = IngestResult(REJECTED, exc.reason, exc.message)
                continue
            valid.append((i, item, subject_ref(self.pepper, item.account_id),
                          item.session_hint or "default"))
        sessions = self.sessions([(ref, hint, now) for _, _, ref, hint in valid])
        accepted: list[_Accepted] = []
        seen: set[uuid.UUID] = set()
        for (i, item, ref, hint), session in zip(valid, sessions, strict=True):
            if session is None:
                results[i] = IngestResult(ERASED)
                continue
            iid = self.interaction_id(item, session[1])
            if iid in seen or iid in self.repository:
                results[i] = IngestResult(DUPLICATE, interaction_id=str(iid))
                continue
            seen.add(iid)
            accepted.append(_Accepted(i, item, ref, hint, session, iid))
        if mode == DURABLE:
            self._enqueue(accepted, now)
            for a in accepted:
                results[a.index] = IngestResult(ACCEPTED, interaction_id=str(a.interaction_id))
        else:
            work = [Work(a.interaction_id, a.subject_ref, now, *a.session, _payload(a.item))
                    for a in accepted]
            for a, outcome in zip(accepted, self.deidentify(work), strict=True):
                results[a.index] = IngestResult(outcome.status, interaction_id=str(a.interaction_id),
                                                entities_redacted=outcome.entities_redacted)
            self.queue.remove([str(a.interaction_id) for a in accepted])
        return [r or IngestResult(REJECTED, "INTERNAL", "not processed") for r in results]

    def _enqueue(self, accepted: list[_Accepted], now: dt.datetime) -> None:
        """Queue the items (a retry of a queued item keeps the first entry: the insert skips ids
        already queued, :meth:`PendingQueue.add`)."""
        self.queue.add([PendingEntry.sealed(str(a.interaction_id), a.subject_ref, a.hint, now,
                                            a.session[1], _payload(a.item)) for a in accepted])
        if accepted:
            self.queued.set()

    def sessions(self, wanted: list[tuple[str, str, dt.datetime]]) -> list[tuple[str, bytes] | None]:
        """The vault's session (id, pseudonym key) per (subject_ref, hint, received_at), None
        where the subject was erased after ``received_at``; in calls that fit the vault's limits."""
        return [s for run in chunks(wanted, MAX_VAULT_ITEMS) for s in self.pipeline.open_sessions(run)]

    def deidentify(self, work: list[Work]) -> list[Outcome]:
        """Anonymize and store, then record ``InteractionIngested`` for what the vault holds."""
        if not work:
            return []
        outcomes = self.deidentifier.run(work)
        ingested = [IngestedInteraction(interaction_id=w.interaction_id, subject_ref=w.subject_ref,
                                        record_ids=o.record_ids)
                    for w, o in zip(work, outcomes, strict=True) if o.status != ERASED]
        # Recorded even when the vault had everything already (a replay after a crash).
        with self.lock:
            fresh = [a for a in ingested if a.id not in self.repository]
            try:
                self.save(*fresh)
            except RecordConflictError:  # another replica recorded some of them meanwhile
                for aggregate in fresh:
                    if aggregate.id not in self.repository:
                        self.save(aggregate)
        return outcomes


def _payload(item: InteractionIn) -> Payload:
    """What is kept of an item: network prefix and user-agent family instead of IP and string."""
    assert item.occurred_at is not None  # validated
    return Payload(item.kind, item.region, item.occurred_at, item.prompt, item.response,
                   item.contact, network_prefix(item.client_ip) if item.client_ip else "",
                   user_agent_family(item.user_agent))

