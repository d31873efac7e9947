"""Idempotent retries at the RPC boundary, as AIP-155 says: a request id names one request.

Every state-changing RPC of ``lethe.v1`` carries a ``request_id``. The first call with an id binds
that id, per (caller identity, method), to a digest of the request (:func:`request_digest`); a
later call with the same id and the same request is a retry, one with another request is refused
with ALREADY_EXISTS and reason ``REQUEST_ID_REUSED`` (the caller must pick a new id; the server
records the refusal), never answered with the first answer. The binding holds whether the first
call succeeded or not, so a corrected request needs a new id.

Retries of most methods get the first successful response, stored as bytes and returned without
running the call again (errors are not stored: a retry after an outage must run). Responses that
carry personal data are never stored here (:data:`PERSONAL_DATA_RESPONSES`; their RPCs are
idempotent in the application), but their request ids are bound to digests all the same. Entries
older than :data:`KEEP_DAYS` days are dropped at start-up; a response stored before digests
existed is bound to the first request that asks for it after the upgrade.

Bindings and first responses of concurrent calls are written by group commit
(:class:`shared.concurrency.Coalescer`): one transaction, so one fsync, for all the writes that
arrive while the previous one commits; each call goes on once its own write is durable.

Methods whose effect is idempotent in the application (:data:`APPLICATION_IDEMPOTENT`: running
the same request twice has the effect of running it once) bind *with* their first response, in
one commit after the call, instead of one commit before and one after: the id is first claimed
in memory (:meth:`IdempotencyStore.claim`), so concurrent calls with one id run one at a time:
the first runs the call, and each later one then reads the binding (the same request gets the
first answer, another is refused). A retry
after a crash between the call's effect and that commit runs the call again, which the
application makes harmless. One limit: replicas sharing one PostgreSQL store do not share
claims, so two *concurrent* first uses of one id with different requests on two replicas both
run; the later commit is refused (``REQUEST_ID_REUSED``) although its effect stays (for
``Ingest``: its interactions stay queued under their content-derived ids).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from google.protobuf.message import Message

from shared.concurrency import Coalescer
from shared.errors import LetheError
from shared.gen.lethe.v1 import anonymization_pb2, ingestion_pb2, retention_pb2, rights_pb2, vault_pb2
from shared.store import SqlStore

KEEP_DAYS = 7
# Responses with decrypted content or secrets: idempotent in the application, never cached.
PERSONAL_DATA_RESPONSES = frozenset({
    "lethe.v1.VaultService/Disclose", "lethe.v1.RightsService/SubmitRequest",
    "lethe.v1.VaultService/OpenSessions", "lethe.v1.VaultService/ExportSubject"})
# Methods whose ``request_id`` names an existing request to read, not this call.
NOT_IDEMPOTENCY_KEYS = frozenset({"lethe.v1.RightsService/GetRequest"})
# Running the same request twice has the effect of running it once (Ingest: interaction ids
# derive from the content, and a queued or stored interaction is not queued again).
APPLICATION_IDEMPOTENT = frozenset({"lethe.v1.IngestionService/Ingest"})
_KEY = "caller=? AND method=? AND request_id=?"


class RequestIdReused(LetheError):
    """The request id already names another request (ALREADY_EXISTS, ``REQUEST_ID_REUSED``)."""

    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "REQUEST_ID_REUSED"

    def __init__(self, message: str = "request_id was already used for another request; "
                                      "use a new id") -> None:
        super().__init__(message)


def request_id_methods() -> frozenset[str]:
    """Full names (``pkg.Service/Method``) of unary RPCs whose ``request_id`` is an idempotency key."""
    names = set()
    for module in (anonymization_pb2, ingestion_pb2, retention_pb2, rights_pb2, vault_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                if (not method.client_streaming and not method.server_streaming
                        and "request_id" in method.input_type.fields_by_name):
                    names.add(f"{service.full_name}/{method.name}")
    return frozenset(names - NOT_IDEMPOTENCY_KEYS)


def idempotent_methods() -> frozenset[str]:
    """The methods whose first response is stored and replayed (no personal data in it)."""
    return request_id_methods() - PERSONAL_DATA_RESPONSES


def request_digest(request: Message) -> str:
    """SHA-256 (hex) of the request's deterministic serialization with ``request_id`` cleared."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("request_id")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


class IdempotencyStore:
    """Request-id bindings (caller, method, request_id) -> digest, and first responses as bytes."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.bound = request_id_methods()
        self.methods = idempotent_methods()
        store.execute(f"""CREATE TABLE IF NOT EXISTS idempotency (
            caller TEXT NOT NULL, method TEXT NOT NULL, request_id TEXT NOT NULL,
            response {store.blob} NOT NULL, created_at TEXT NOT NULL,
            PRIMARY KEY (caller, method, request_id))""")
        store.execute("""CREATE TABLE IF NOT EXISTS request_digests (
            caller TEXT NOT NULL, method TEXT NOT NULL, request_id TEXT NOT NULL,
            digest TEXT NOT NULL, created_at TEXT NOT NULL,
            PRIMARY KEY (caller, method, request_id))""")
        cutoff = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=KEEP_DAYS)).isoformat()
        store.execute("DELETE FROM idempotency WHERE created_at < ?", (cutoff,))
        store.execute("DELETE FROM request_digests WHERE created_at < ?", (cutoff,))
        self.deferred = APPLICATION_IDEMPOTENT & self.methods
        self._writes: Coalescer[tuple[str, tuple[Any, ...]], Any] = Coalescer(self._write, 256)
        self._claims: dict[tuple[str, str, str], threading.Event] = {}
        self._claims_lock = threading.Lock()

    def bind(self, caller: str, method: str, request_id: str, digest: str) -> None:
        """Bind the id to the digest on first use; raises RequestIdReused when bound to another."""
        key = (caller, method, request_id)
        rows = self.store.read(f"SELECT digest FROM request_digests WHERE {_KEY}", key)
        bound = rows[0][0] if rows else self._writes.submit([
            ("bind", (*key, digest, dt.datetime.now(dt.timezone.utc).isoformat()))])[0]
        if bound != digest:
            raise RequestIdReused()

    def get(self, caller: str, method: str, request_id: str) -> bytes | None:
        """The stored first response, or None."""
        rows = self.store.read(f"SELECT response FROM idempotency WHERE {_KEY}",
                                  (caller, method, request_id))
        return bytes(rows[0][0]) if rows else None

    def put(self, caller: str, method: str, request_id: str, response: bytes) -> None:
        """Store the first response (a concurrent duplicate keeps the earlier one)."""
        self._writes.submit([("put", (caller, method, request_id, response,
                                      dt.datetime.now(dt.timezone.utc).isoformat()))])

    @contextmanager
    def claim(self, caller: str, method: str, request_id: str) -> Iterator[None]:
        """Hold the id in this process for the duration of one call.

        A concurrent call with the same id waits until the holder is done, whatever its digest,
        then reads the binding by :meth:`lookup`. (Refusing another digest at once would be wrong
        when the holder is itself a refused latecomer: a retry of the bound request, waiting
        behind it, would then be refused.) Claims are memory only: the durable binding is
        :meth:`record`'s.
        """
        key = (caller, method, request_id)
        while True:
            with self._claims_lock:
                held = self._claims.get(key)
                if held is None:
                    done = threading.Event()
                    self._claims[key] = done
                    break
            held.wait()
        try:
            yield
        finally:
            with self._claims_lock:
                del self._claims[key]
            done.set()

    def lookup(self, caller: str, method: str, request_id: str) -> tuple[str | None, bytes | None]:
        """(digest bound or None, first response or None), in one read."""
        key = (caller, method, request_id)
        ((digest, response),) = self.store.read(
            f"SELECT (SELECT digest FROM request_digests WHERE {_KEY}), "
            f"(SELECT response FROM idempotency WHERE {_KEY})", key + key)
        return digest, None if response is None else bytes(response)

    def record(self, caller: str, method: str, request_id: str, digest: str,
               response: bytes | None) -> tuple[str, bytes | None]:
        """Bind the id and store the first response (None: bind only) in one group commit; returns
        (the digest now bound, the first response now stored), which an earlier writer may have
        set (then this call's are not written)."""
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        return self._writes.submit([("record", (caller, method, request_id, digest, response, now))])[0]

    def _write(self, writes: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """Run the writes of one group in one transaction, in bulk (a few statements per group, not
        per write: on PostgreSQL each is a round trip); per write, the digest now bound (bind),
        None (put) or (digest, first response) (record). Within a group the earlier write of a key
        wins, as if they had run one after the other."""
        puts = [row for kind, row in writes if kind == "put"]
        binding = [row[:4] + row[-1:] if kind == "record" else row
                   for kind, row in writes if kind != "put"]  # (caller, method, id, digest, time)
        with self.store.transaction() as tx:
            if puts:
                tx.executemany("INSERT INTO idempotency VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", puts)
            if binding:
                tx.executemany("INSERT INTO request_digests VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                               binding)
            bound = _by_key(tx, "digest", "request_digests", [r[:3] for r in binding])
            records = [row for kind, row in writes if kind == "record"]
            answers = [(*r[:3], r[4], r[5]) for r in records if r[4] is not None and bound[r[:3]] == r[3]]
            if answers:
                tx.executemany("INSERT INTO idempotency VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                               answers)
            first = _by_key(tx, "response", "idempotency", [r[:3] for r in records])
        return [None if kind == "put" else bound[row[:3]] if kind == "bind"
                else (bound[row[:3]], bytes(first[row[:3]]) if row[:3] in first else None)
                for kind, row in writes]


def _by_key(tx: SqlStore, column: str, table: str,
            keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], Any]:
    """``column`` of ``table`` for each (caller, method, request_id) present, in one query."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    where = " OR ".join(f"({_KEY})" for _ in keys)
    rows = tx.execute(f"SELECT caller, method, request_id, {column} FROM {table} WHERE {where}",
                      [v for k in keys for v in k])
    return {(r[0], r[1], r[2]): r[3] for r in rows}
