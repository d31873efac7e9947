"""Ingestion use case: validate, pseudonymize, strip network identifiers, anonymize, store, record.

One batch runs: validation (bad items rejected with a reason, the rest go on) -> subject_ref by
keyed HMAC -> duplicate check by interaction id (derived from the content, so retries change
nothing) -> vault sessions -> anonymization (batch) -> vault store (original, redacted, metadata,
contact) -> ``InteractionIngested`` events. The account id, full IP and user agent string exist
only in memory during the call.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from eventsourcing.persistence import RecordConflictError

from services.ingestion.coalescer import Coalescer
from services.ingestion.domain import (
    IngestedInteraction,
    InteractionIn,
    network_prefix,
    user_agent_family,
    validate,
)
from shared.app import LetheApplication
from shared.config import Settings
from shared.crypto import keyed_digest, subject_ref
from shared.errors import LetheError
from shared.ids import stable_id
from shared.keysource import FileKeySource
from shared.limits import MAX_BATCH_ITEMS, MAX_VAULT_ITEMS, chunks, text_bytes
from shared.telemetry import meter, tracer

STORED, DUPLICATE, REJECTED, ERASED = "stored", "duplicate", "rejected", "erased"
INTERACTIONS = meter().create_counter("lethe.ingest.interactions", unit="1",
                                      description="Interactions ingested, by outcome")
BATCH_SECONDS = meter().create_histogram("lethe.ingest.batch.duration", unit="s",
                                         description="Time to run one ingest batch")


@dataclass(frozen=True)
class VaultRecordIn:
    """A record for the vault (plaintext content)."""

    record_id: str
    subject_ref: str
    category: str
    form: str
    region: str
    content: bytes
    received_at: dt.datetime
    interaction_id: str
    occurred_at: dt.datetime | None = None


class Pipeline(Protocol):
    """The downstream calls ingestion makes (gRPC in production, in-process in unit tests)."""

    def open_sessions(self, items: list[tuple[str, str, dt.datetime]]) -> list[tuple[str, bytes] | None]:
        """Session (id, pseudonym key) per (subject_ref, hint, received_at); None if erased."""

    def anonymize(self, texts: list[str], keys: list[bytes]) -> list[tuple[str, list[str]]]:
        """(redacted text, entity types found) per text."""

    def store(self, records: list[VaultRecordIn]) -> list[str]:
        """"stored", "duplicate" or "erased" per record."""


@dataclass(frozen=True)
class IngestResult:
    """Outcome of one item: status, reason (UPPER_SNAKE), message, interaction id, entity count."""

    status: str
    reason: str = ""
    message: str = ""
    interaction_id: str = ""
    entities_redacted: int = 0


class IngestionApplication(LetheApplication):
    """The ingestion service's application."""

    service = "ingestion"

    def __init__(self, settings: Settings, keys: FileKeySource, pipeline: Pipeline) -> None:
        super().__init__(settings, keys)
        self.pepper = keys.get_or_create("pepper")
        self.pipeline = pipeline
        self.coalescer: Coalescer[InteractionIn, IngestResult] = Coalescer(self._ingest_traced)

    def interaction_id(self, item: InteractionIn) -> uuid.UUID:
        """Stable id from a keyed digest of the interaction's natural key."""
        when = item.occurred_at.isoformat() if item.occurred_at else ""
        digest = keyed_digest(self.pepper, "interaction", item.account_id, item.session_hint,
                              when, item.kind, item.prompt, item.response, item.contact)
        return stable_id("interaction", digest)

    def ingest(self, items: list[InteractionIn]) -> list[IngestResult]:
        """Run a batch through the pipeline; one result per item, in order.

        Raises Unavailable (from the pipeline) when a downstream service is down: then nothing
        of the batch is recorded here and a retry is safe. Small batches of concurrent callers
        are run together (see :mod:`services.ingestion.coalescer`).
        """
        if len(items) < 32:
            return self.coalescer.submit(items)
        return self._ingest_traced(items)

    def _ingest_traced(self, items: list[InteractionIn]) -> list[IngestResult]:
        with tracer().start_as_current_span("lethe.ingest.batch") as span:
            started = time.perf_counter()
            results = self._ingest(items)
            counts = Counter(r.status for r in results)
            for status, n in counts.items():
                INTERACTIONS.add(n, {"lethe.outcome": status})
                span.set_attribute(f"lethe.ingest.{status}", n)
            span.set_attribute("lethe.ingest.interactions", len(items))
            BATCH_SECONDS.record(time.perf_counter() - started)
            return results

    def _ingest(self, items: list[InteractionIn]) -> list[IngestResult]:
        now = dt.datetime.now(dt.timezone.utc)
        results: list[IngestResult | None] = [None] * len(items)
        work: list[tuple[int, InteractionIn, str, uuid.UUID]] = []
        for i, item in enumerate(items):
            try:
                validate(item, now)
            except LetheError as exc:
                results[i] = IngestResult(REJECTED, exc.reason, exc.message)
                continue
            iid = self.interaction_id(item)
            if iid in self.repository:
                results[i] = IngestResult(DUPLICATE, interaction_id=str(iid))
                continue
            work.append((i, item, subject_ref(self.pepper, item.account_id), iid))
        if work:
            self._process(work, now, results)
        return [r or IngestResult(REJECTED, "INTERNAL", "not processed") for r in results]

    def _anonymize(self, texts: list[str], keys: list[bytes]) -> list[tuple[str, list[str]]]:
        """Anonymize in calls that fit the anonymization service's limits (count and bytes)."""
        pairs = list(zip(texts, keys, strict=True))
        results: list[tuple[str, list[str]]] = []
        for run in chunks(pairs, MAX_BATCH_ITEMS, size=lambda p: text_bytes(p[0])):
            results += self.pipeline.anonymize([t for t, _ in run], [k for _, k in run])
        return results

    def _store(self, records: list[VaultRecordIn]) -> list[str]:
        """Store in calls that fit the vault's limits; an interaction's records share a call."""
        groups: dict[str, list[VaultRecordIn]] = {}
        for r in records:
            groups.setdefault(r.interaction_id, []).append(r)
        outcomes: dict[str, str] = {}
        for run in chunks(list(groups.values()), MAX_VAULT_ITEMS // 4,
                          size=lambda g: sum(len(r.content) for r in g)):
            flat = [r for group in run for r in group]
            outcomes.update(zip([r.record_id for r in flat], self.pipeline.store(flat), strict=True))
        return [outcomes[r.record_id] for r in records]

    def _process(self, work: list[tuple[int, InteractionIn, str, uuid.UUID]], now: dt.datetime,
                 results: list[IngestResult | None]) -> None:
        wanted = [(ref, item.session_hint or "default", now) for _, item, ref, _ in work]
        sessions = [s for run in chunks(wanted, MAX_VAULT_ITEMS) for s in self.pipeline.open_sessions(run)]
        live = [(w, s) for w, s in zip(work, sessions, strict=True) if s is not None]
        for (i, _, _, iid), session in zip(work, sessions, strict=True):
            if session is None:
                results[i] = IngestResult(ERASED, interaction_id=str(iid))
        texts, keys = [], []
        for (_, item, _, _), (_, key) in live:
            texts += [item.prompt, item.response]
            keys += [key, key]
        redacted = self._anonymize(texts, keys)
        records: list[VaultRecordIn] = []
        per_item: list[tuple[int, list[str], Counter[str]]] = []
        for n, ((i, item, ref, iid), (session_id, _)) in enumerate(live):
            (prompt, p_types), (response, r_types) = redacted[2 * n], redacted[2 * n + 1]
            counts = Counter(p_types + r_types)
            metadata = {"session_id": session_id, "network_prefix":
                        network_prefix(item.client_ip) if item.client_ip else "",
                        "user_agent_family": user_agent_family(item.user_agent),
                        "occurred_at": item.occurred_at.isoformat() if item.occurred_at else "",
                        "received_at": now.isoformat(), "region": item.region, "kind": item.kind,
                        "prompt_chars": len(item.prompt), "response_chars": len(item.response)}
            parts = [("user.content", "original", {"prompt": item.prompt, "response": item.response}),
                     ("user.content", "redacted", {"prompt": prompt, "response": response}),
                     ("system.operations", "metadata", metadata)]
            if item.contact:
                parts.append(("user.contact", "contact", {"contact": item.contact}))
            ids = []
            for category, form, body in parts:
                rid = str(stable_id("record", str(iid), form))
                ids.append(rid)
                records.append(VaultRecordIn(rid, ref, category, form, item.region,
                                             json.dumps(body, ensure_ascii=False).encode("utf-8"),
                                             now, str(iid), item.occurred_at))
            per_item.append((i, ids, counts))
        outcomes = dict(zip([r.record_id for r in records], self._store(records), strict=True))
        ingested = []
        for (i, ids, counts), (_, item, ref, iid) in zip(per_item, [w for w, _ in live], strict=True):
            states = {outcomes[r] for r in ids}
            total = sum(counts.values())
            if ERASED in states:
                results[i] = IngestResult(ERASED, interaction_id=str(iid))
                continue
            status = STORED if STORED in states else DUPLICATE
            results[i] = IngestResult(status, interaction_id=str(iid), entities_redacted=total)
            # Recorded even when the vault had everything already (a retry after a crash).
            ingested.append(IngestedInteraction(
                interaction_id=iid, subject_ref=ref, kind=item.kind, region=item.region,
                received_at=now, record_ids=ids, entities_redacted=dict(counts)))
        with self.lock:
            fresh = [a for a in ingested if a.id not in self.repository]
            try:
                self.save(*fresh)
            except RecordConflictError:  # another replica recorded some of them meanwhile
                for aggregate in fresh:
                    if aggregate.id not in self.repository:
                        self.save(aggregate)
