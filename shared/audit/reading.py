"""Reading the logs for the audit: the services' over gRPC, the gateway's from its own store.

``read_logs`` streams every service's log over ``ReadEvents`` (retention first catches up with
the logs it follows). ``integrity`` checks each service's log against its signed tree heads
(:func:`shared.transparency.verify_log`: streamed, from scratch or from the auditor's checkpoint
file, ``lethe.audit-checkpoint/v1``) and keeps the logs it read whole for the invariants.
``gateway_log`` reads the gateway's event log (``<data dir>/gateway/events.db``, or the
gateway's PostgreSQL schema) when this machine holds it: the gateway keeps no signed tree heads,
so its events are checked by the invariants only, never for integrity.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc

from shared.app import UNDECODABLE, LetheApplication
from shared.audit.model import Entry, Violation, entry_of
from shared.clients import Peers
from shared.config import SERVICES, Settings
from shared.gen.lethe.v1 import events_pb2, events_pb2_grpc, retention_pb2, retention_pb2_grpc
from shared.keysource import FileKeySource
from shared.merkle import HASH_SIZE
from shared.transparency import CHECKPOINT_FORMAT, Outcome, Problem, UndecodableEvent, verify_log

GATEWAY = "gateway"


def _catch_up(peers: Peers, attempts: int = 8) -> None:
    """Let retention follow the vault's and rights' logs to their end before they are compared.

    A service that is (re)starting answers UNAVAILABLE: retried with backoff for about 20 s.
    """
    stub = retention_pb2_grpc.RetentionServiceStub(peers.channel("retention"))
    for attempt in range(attempts):
        try:
            stub.ListSchedules(retention_pb2.ListSchedulesRequest(subject_ref=""), timeout=60)
            return
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or attempt == attempts - 1:
                raise
            time.sleep(min(0.5 * 2 ** attempt, 4.0))


def read_logs(peers: Peers) -> dict[str, list[Entry]]:
    """Every service's log, in order (retention first catches up with the vault's log)."""
    _catch_up(peers)
    logs: dict[str, list[Entry]] = {}
    for service in SERVICES:
        stub = events_pb2_grpc.EventLogServiceStub(peers.channel(service))
        logs[service] = [entry_of(service, r.event)
                         for r in stub.ReadEvents(events_pb2.ReadEventsRequest(), timeout=600)]
    return logs


class _GatewayStore(LetheApplication):
    """The gateway's event store, opened to be read (events decode by their recorded topics).

    ``name`` is the gateway application's (``services/gateway/record.py`` ``GatewayLog``): on
    PostgreSQL the events table is named after it (``gatewaylog_events``).
    """

    name = "GatewayLog"
    service = GATEWAY


def _gateway_store_present(settings: Settings) -> bool:
    if settings.persistence != "postgres":
        return (settings.data_dir / GATEWAY / "events.db").is_file()
    import psycopg

    pg = settings.postgres
    with psycopg.connect(host=pg.get("POSTGRES_HOST"), port=pg.get("POSTGRES_PORT"),
                         dbname=pg.get("POSTGRES_DBNAME"), user=pg.get("POSTGRES_USER"),
                         password=pg.get("POSTGRES_PASSWORD") or None) as db:
        table = f'"{settings.schema(GATEWAY)}".{_GatewayStore.name.lower()}_events'
        return db.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None


def gateway_log(settings: Settings, keys: FileKeySource) -> list[Entry] | None:
    """The gateway's log in order, or None when this machine holds no gateway store or not its
    event-cipher key (``event-cipher/gateway``). An event that does not decrypt is kept as an
    entry of type ``Undecodable`` (the ``EVENT_UNDECODABLE`` invariant reports it)."""
    if not keys.exists(f"event-cipher/{GATEWAY}") or not _gateway_store_present(settings):
        return None
    store = _GatewayStore(settings, keys)
    try:
        return [Entry(GATEWAY, ev.position, ev.event_type, ev.originator_id, ev.originator_version,
                      ev.recorded_at, json.loads(ev.attributes_json()))
                for ev in store.read_events()]
    finally:
        store.close()


# ------------------------------------------------------------------ integrity (verifiable logs)
def head_dict(h: Any) -> dict[str, Any]:
    """A SignedTreeHead message as the JSON form shared/merkle.py signs and verifies."""
    return {"log_id": h.log_id, "tree_size": h.tree_size, "timestamp_ms": h.timestamp_ms,
            "root_hash": h.root_hash.hex(), "signature": base64.b64encode(h.signature).decode()}


class GrpcSource:
    """A shared.transparency LogSource over a service's EventLogService.

    ``collect`` (a list) receives every streamed event as an Entry for the invariants.
    """

    def __init__(self, service: str, stub: Any, collect: list[Entry] | None = None) -> None:
        self.service, self.stub, self.collect = service, stub, collect

    def events(self, after: int) -> Iterator[Any]:  # noqa: D102
        stream = self.stub.ReadEvents(events_pb2.ReadEventsRequest(after_position=after),
                                      timeout=3600)
        try:
            for r in stream:
                if r.event.event_type == UNDECODABLE:
                    raise UndecodableEvent(self.service)
                if self.collect is not None:
                    self.collect.append(entry_of(self.service, r.event))
                yield r.event
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.INTERNAL:  # a service down is not a tamper
                raise
            raise UndecodableEvent(self.service) from None
        finally:
            stream.cancel()

    def consistency(self, first: int, second: int) -> list[bytes]:  # noqa: D102
        return list(self.stub.GetConsistencyProof(events_pb2.GetConsistencyProofRequest(
            first_size=first, second_size=second), timeout=600).proof)

    def leaf_hashes(self, after: int, limit: int) -> Iterator[bytes]:  # noqa: D102
        for r in self.stub.ReadLeafHashes(events_pb2.ReadLeafHashesRequest(
                after_position=after, limit=limit), timeout=3600):
            yield from (r.hashes[i:i + HASH_SIZE] for i in range(0, len(r.hashes), HASH_SIZE))


def load_checkpoint(path: Path | None) -> dict[str, Any]:
    """The auditor's checkpoint file (``{}`` when absent): per service, key, head and frontier."""
    if path is None or not path.exists():
        return {}
    doc = json.loads(path.read_text())
    if doc.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a {CHECKPOINT_FORMAT} file")
    return doc["services"]


def save_checkpoint(path: Path, services: dict[str, Any]) -> None:
    """Write the checkpoint atomically (mode 0600)."""
    doc = {"format": CHECKPOINT_FORMAT,
           "written_at": dt.datetime.now(dt.timezone.utc).isoformat(), "services": services}
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(doc, indent=1))
    os.replace(tmp, path)


def integrity(peers: Peers, keys: dict[str, str], checkpoint: dict[str, Any],
              full: bool = False) -> tuple[dict[str, Outcome], dict[str, list[Entry]]]:
    """Verify each service's log against its signed head (and the checkpoint's, if any).

    ``keys``: service -> hex public key trusted by the auditor. With a checkpoint entry for a
    service, only events after it are streamed (unless ``full``), and the new head must be
    consistent with the checkpoint's. Returns the outcomes and the logs read whole (services
    verified from scratch), as Entries for the invariants.
    """
    _catch_up(peers)
    outcomes: dict[str, Outcome] = {}
    logs: dict[str, list[Entry]] = {}
    for service in SERVICES:
        stub = events_pb2_grpc.EventLogServiceStub(peers.channel(service))
        head = head_dict(stub.GetSignedTreeHead(events_pb2.GetSignedTreeHeadRequest(),
                                                timeout=600).head)
        cp = checkpoint.get(service)
        key = keys.get(service, "")
        if cp and cp.get("public_key") != key:
            outcomes[service] = Outcome(service, Problem(
                "KEY_CHANGED", 0, "the service's public key differs from the checkpoint's"), 0, head)
            continue
        collect: list[Entry] | None = [] if (full or not cp) else None
        out = verify_log(service, key, head, GrpcSource(service, stub, collect),
                         None if full else cp)
        if full and cp and out.problem is None:  # from scratch, still consistent with the checkpoint
            again = verify_log(service, key, head, GrpcSource(service, stub), cp)
            out.problem = again.problem
        if out.checkpoint:
            out.checkpoint["public_key"] = key
        outcomes[service] = out
        if collect is not None and out.problem is None:
            logs[service] = collect
    return outcomes, logs


def integrity_violations(outcomes: dict[str, Outcome]) -> list[Violation]:
    """The first problem of each service's log, as violations."""
    return [Violation(o.problem.kind, s, o.problem.position, o.problem.message)
            for s, o in outcomes.items() if o.problem]
