"""De-identification of accepted interactions: anonymize, store in the vault, say what was stored.

One run takes interactions whose session the vault has opened: anonymization (in calls that fit
its limits) -> vault store of original, redacted, metadata (+ contact) records, each sealed by
the vault under the subject's key group -> one outcome per interaction. Record ids derive from the
interaction id, so a run repeated after a crash stores nothing twice (the vault answers
duplicate). Per-interaction facts (times, sizes, entity counts by type) go into the metadata
record, which the vault encrypts; the caller records only ids in its log.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from services.ingestion.pending import Payload
from shared import record_kinds
from shared.errors import InvalidArgument
from shared.ids import stable_id
from shared.limits import MAX_BATCH_ITEMS, MAX_VAULT_ITEMS, chunks, text_bytes

STORED, DUPLICATE, ERASED = "stored", "duplicate", "erased"
# Interactions per vault Store call: the vault holds its lock for a whole call, and acknowledgements
# wait for that lock (OpenSessions), so the worker stores in small calls (~20 ms each).
STORE_INTERACTIONS = 8


class DownstreamRefused(InvalidArgument):
    """The vault or anonymization refused a call for good (INVALID_ARGUMENT, FAILED_PRECONDITION):
    a retry of the same items fails the same way. Carries the downstream's reason only."""

    def __init__(self, reason: str) -> None:
        super().__init__("a downstream service refused this interaction", reason or "DOWNSTREAM_REFUSED")


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
class Work:
    """One interaction to de-identify, with its open session (id, pseudonym key of 32 bytes)."""

    interaction_id: uuid.UUID
    subject_ref: str
    received_at: dt.datetime
    session_id: str
    session_key: bytes
    payload: Payload


@dataclass(frozen=True)
class Outcome:
    """What became of one interaction: status, the records' ids, entities redacted (total)."""

    status: str
    record_ids: list[str]
    entities_redacted: int


def record_ids(interaction_id: uuid.UUID, with_contact: bool) -> list[str]:
    """The vault record ids of an interaction, in the order original, redacted, metadata, contact."""
    kinds = record_kinds.KINDS if with_contact else record_kinds.KINDS[:3]
    return [str(stable_id("record", str(interaction_id), k.form)) for k in kinds]


class Deidentifier:
    """Runs :class:`Work` through anonymization and the vault (``pipeline``)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def run(self, work: list[Work]) -> list[Outcome]:
        """One outcome per item, in order. Raises what the pipeline raises (e.g. Unavailable):
        then a retry of the same work is safe."""
        texts, keys = [], []
        for w in work:
            texts += [w.payload.prompt, w.payload.response]
            keys += [w.session_key, w.session_key]
        redacted = self._anonymize(texts, keys)
        records: list[VaultRecordIn] = []
        counts: list[Counter[str]] = []
        for n, w in enumerate(work):
            (prompt, p_types), (response, r_types) = redacted[2 * n], redacted[2 * n + 1]
            found = Counter(p_types + r_types)
            counts.append(found)
            records += self._records(w, prompt, response, found)
        outcomes = dict(zip([r.record_id for r in records], self._store(records), strict=True))
        out = []
        for w, found in zip(work, counts, strict=True):
            ids = record_ids(w.interaction_id, bool(w.payload.contact))
            states = {outcomes[r] for r in ids}
            if ERASED in states:
                out.append(Outcome(ERASED, ids, 0))
            else:
                out.append(Outcome(STORED if STORED in states else DUPLICATE, ids,
                                   sum(found.values())))
        return out

    @staticmethod
    def _records(w: Work, prompt: str, response: str, found: Counter[str]) -> list[VaultRecordIn]:
        p = w.payload
        metadata = {"session_id": w.session_id, "network_prefix": p.network_prefix,
                    "user_agent_family": p.user_agent_family,
                    "occurred_at": p.occurred_at.isoformat(), "received_at": w.received_at.isoformat(),
                    "region": p.region, "kind": p.kind, "prompt_chars": len(p.prompt),
                    "response_chars": len(p.response), "entities_redacted": dict(sorted(found.items()))}
        bodies = [(record_kinds.ORIGINAL, {"prompt": p.prompt, "response": p.response}),
                  (record_kinds.REDACTED, {"prompt": prompt, "response": response}),
                  (record_kinds.METADATA, metadata)]
        if p.contact:
            bodies.append((record_kinds.CONTACT, {"contact": p.contact}))
        return [VaultRecordIn(rid, w.subject_ref, kind.category, kind.form, p.region,
                              json.dumps(body, ensure_ascii=False).encode("utf-8"), w.received_at,
                              str(w.interaction_id), p.occurred_at)
                for rid, (kind, body) in zip(record_ids(w.interaction_id, bool(p.contact)), bodies,
                                             strict=True)]

    def _anonymize(self, texts: list[str], keys: list[bytes]) -> list[tuple[str, list[str]]]:
        """Anonymize in calls that fit the anonymization service's limits (count and bytes)."""
        pairs = list(zip(texts, keys, strict=True))
        results: list[tuple[str, list[str]]] = []
        for run in chunks(pairs, MAX_BATCH_ITEMS, size=lambda p: text_bytes(p[0])):
            results += self.pipeline.anonymize([t for t, _ in run], [k for _, k in run])
        return results

    def _store(self, records: list[VaultRecordIn]) -> list[str]:
        """Store in calls of :data:`STORE_INTERACTIONS` interactions (within the vault's limits);
        an interaction's records share a call."""
        groups: dict[str, list[VaultRecordIn]] = {}
        for r in records:
            groups.setdefault(r.interaction_id, []).append(r)
        outcomes: dict[str, str] = {}
        for run in chunks(list(groups.values()), min(STORE_INTERACTIONS, MAX_VAULT_ITEMS // 4),
                          size=lambda g: sum(len(r.content) for r in g)):
            flat = [r for group in run for r in group]
            outcomes.update(zip([r.record_id for r in flat], self.pipeline.store(flat), strict=True))
        return [outcomes[r.record_id] for r in records]
