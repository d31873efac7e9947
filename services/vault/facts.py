"""A record's per-interaction facts, sealed under its DEK, and retention's question about them.

What one record says about its interaction (when it happened and was received, how large it was,
which interaction, which region) is not for the event log, which outlives an erasure: it is
sealed under the DEK of the record's key group (the key the subject's erasure destroys) and kept
twice, in ``RecordStored.facts`` (base64) and in the record store's ``facts`` column, deleted with
the row. Retention asks for collection times through :meth:`FactUseCases.record_facts` (the
``GetRecordFacts`` RPC), answered from the sealed value while the key lives (docs/design.md §4,
guarantee 9).

Byte layout: :func:`shared.crypto.seal` (``0x01 || nonce(12) || ciphertext || tag(16)``) of a
JSON object padded with blanks to a multiple of :data:`FACTS_BYTES`, associated data
``b"facts|" + record_id``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from services.vault.domain import KeyGroups
from services.vault.keys import KeyDestroyed, KeyHierarchy
from shared.crypto import DecryptionError, open_sealed, seal
from shared.store import SqlStore

FACTS_BYTES = 512  # the padded plaintext's length unit: a sealed blob's length tells nothing


@dataclass(frozen=True)
class RecordFacts:
    """What retention needs of a live record: ``received_at`` and ``collected_at`` (UTC; the
    interaction's own time, never later than received_at) and its ``interaction_id``."""

    record_id: str
    received_at: dt.datetime
    collected_at: dt.datetime
    interaction_id: str


def _aad(record_id: str) -> bytes:
    return f"facts|{record_id}".encode()


def seal_facts(dek: bytes, record_id: str, received_at: dt.datetime,
               occurred_at: dt.datetime | None, size_bytes: int, interaction_id: str,
               region: str) -> bytes:
    """Seal a record's facts under ``dek`` (32 bytes; raises ValueError otherwise): JSON
    ``received_at``, ``occurred_at`` (ISO 8601 UTC; never later than received_at, which it
    defaults to), ``size_bytes``, ``interaction_id``, ``region``."""
    occurred = min(occurred_at or received_at, received_at)
    plain = json.dumps({"received_at": received_at.isoformat(), "occurred_at": occurred.isoformat(),
                        "size_bytes": size_bytes, "interaction_id": interaction_id,
                        "region": region}, sort_keys=True).encode()
    padded = plain.ljust(-(-len(plain) // FACTS_BYTES) * FACTS_BYTES)
    return seal(dek, padded, _aad(record_id))


def open_facts(dek: bytes, record_id: str, blob: bytes) -> dict[str, Any]:
    """The JSON object of :func:`seal_facts`; raises DecryptionError on a wrong key, another
    record's blob, or tampering."""
    return dict(json.loads(open_sealed(dek, blob, _aad(record_id))))


class FactUseCases:
    """Answers retention's "when was each record collected?". Mixed into the vault's
    application, which provides ``db``, ``keyring``, ``groups`` and ``lock``."""

    db: SqlStore
    keyring: KeyHierarchy
    groups: KeyGroups
    lock: Any

    def record_facts(self, record_ids: list[str]) -> list[RecordFacts]:
        """Facts of the live records among ``record_ids``, opened from their sealed facts while
        the key lives; erased, purged, unknown and undecryptable records are absent. A record
        stored before sealed facts (no ``facts`` value) answers from its row: collected_at =
        received_at. Records no event (no content is read)."""
        out: list[RecordFacts] = []
        with self.lock:
            for i in range(0, len(record_ids), 500):
                chunk = record_ids[i:i + 500]
                rows = self.db.execute(
                    "SELECT record_id, subject_ref, generation, category, interaction_id, "
                    "received_at, facts FROM records WHERE state IN ('stored','pending') AND "
                    f"record_id IN ({','.join('?' * len(chunk))})", chunk)
                out += [f for f in map(self._facts, rows) if f is not None]
        return out

    def _facts(self, row: tuple[Any, ...]) -> RecordFacts | None:
        rid, subject_ref, generation, category, iid, received, sealed = row
        if sealed is None:
            at = dt.datetime.fromisoformat(received)
            return RecordFacts(rid, at, at, iid)
        try:
            dek = self.keyring.dek(subject_ref, generation, self.groups.of(category))
            facts = open_facts(dek, rid, bytes(sealed))
        except (KeyDestroyed, DecryptionError):
            return None
        return RecordFacts(rid, dt.datetime.fromisoformat(facts["received_at"]),
                           dt.datetime.fromisoformat(facts["occurred_at"]),
                           str(facts["interaction_id"]))
