"""Idempotent retries at the RPC boundary: a retry with the same ``request_id`` gets the first answer.

Every state-changing RPC of ``lethe.v1`` carries a ``request_id`` (AIP-155). The first successful
response is stored per (caller identity, method, request_id) in the service's own store, and a
retry returns those bytes without running the call again. Errors are not stored (a retry after
an outage must run). Responses that carry personal data are never stored here (their RPCs are
idempotent in the application instead): see :data:`PERSONAL_DATA_RESPONSES`. Entries older than
:data:`KEEP_DAYS` days are dropped at start-up.
"""

from __future__ import annotations

import datetime as dt

from shared.gen.lethe.v1 import anonymization_pb2, ingestion_pb2, retention_pb2, rights_pb2, vault_pb2
from shared.store import SqlStore

KEEP_DAYS = 7
# Responses with decrypted content or secrets: idempotent in the application, never cached.
PERSONAL_DATA_RESPONSES = frozenset({
    "lethe.v1.VaultService/Disclose", "lethe.v1.RightsService/SubmitRequest",
    "lethe.v1.VaultService/OpenSessions"})


def idempotent_methods() -> frozenset[str]:
    """Full names (``pkg.Service/Method``) of unary RPCs whose request has a ``request_id``."""
    names = set()
    for module in (anonymization_pb2, ingestion_pb2, retention_pb2, rights_pb2, vault_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                if (not method.client_streaming and not method.server_streaming
                        and "request_id" in method.input_type.fields_by_name):
                    names.add(f"{service.full_name}/{method.name}")
    return frozenset(names - PERSONAL_DATA_RESPONSES - {
        "lethe.v1.VaultService/ExportSubject", "lethe.v1.RightsService/GetRequest"})


class IdempotencyStore:
    """First responses by (caller, method, request_id), as serialized protobuf bytes."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.methods = idempotent_methods()
        store.execute(f"""CREATE TABLE IF NOT EXISTS idempotency (
            caller TEXT NOT NULL, method TEXT NOT NULL, request_id TEXT NOT NULL,
            response {store.blob} NOT NULL, created_at TEXT NOT NULL,
            PRIMARY KEY (caller, method, request_id))""")
        cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=KEEP_DAYS)
        store.execute("DELETE FROM idempotency WHERE created_at < ?", (cutoff.isoformat(),))

    def get(self, caller: str, method: str, request_id: str) -> bytes | None:
        """The stored first response, or None."""
        rows = self.store.execute("SELECT response FROM idempotency WHERE caller=? AND method=? "
                                  "AND request_id=?", (caller, method, request_id))
        return bytes(rows[0][0]) if rows else None

    def put(self, caller: str, method: str, request_id: str, response: bytes) -> None:
        """Store the first response (a concurrent duplicate keeps the earlier one)."""
        if self.get(caller, method, request_id) is None:
            try:
                self.store.execute("INSERT INTO idempotency VALUES (?, ?, ?, ?, ?)", (
                    caller, method, request_id, response,
                    dt.datetime.now(dt.timezone.utc).isoformat()))
            except Exception:  # noqa: BLE001 - a concurrent retry stored it first
                pass
