"""A lifecycle as evidence: the merged timeline of the logs, and the offline proof document.

``timeline`` merges the logs into one history in time order (optionally of one subject's
aggregates); ``prove`` builds the ``lethe.audit-proof/v1`` document that
``python -m shared.proofcheck`` checks offline (RFC 9162 inclusion proofs under signed heads).
"""

from __future__ import annotations

import base64
from collections import defaultdict
from typing import Any

from shared.audit.model import Entry
from shared.audit.reading import GATEWAY, head_dict, read_logs
from shared.clients import Peers
from shared.config import SERVICES
from shared.gen.lethe.v1 import events_pb2, events_pb2_grpc
from shared.proofcheck import PROOF_FORMAT

_ORDER = (*SERVICES, GATEWAY)  # ties in time: the services' order, the gateway last


def _when(e: Entry) -> tuple[Any, int, int]:
    """Sort key: time (undated events carry the epoch, so they open the timeline), then the
    services' order (ingestion before vault before retention...), then the log position."""
    return (e.recorded_at, _ORDER.index(e.service) if e.service in _ORDER else len(_ORDER),
            e.position)


def timeline(logs: dict[str, list[Entry]], subject_ref: str | None = None) -> list[Entry]:
    """All events in time order; with ``subject_ref``, only those of that subject's aggregates.
    Undated events (see :data:`shared.audit.model.EPOCH`) come first, each log's in its order."""
    entries = [e for log in logs.values() for e in log]
    if subject_ref:
        ids = {e.originator_id for e in entries if e.attributes.get("subject_ref") == subject_ref}
        entries = [e for e in entries if e.originator_id in ids]
    return sorted(entries, key=_when)


def prove(peers: Peers, keys: dict[str, str], record: str | None = None,
          subject: str | None = None) -> dict[str, Any]:
    """The ``lethe.audit-proof/v1`` document of a record's or a subject's lifecycle.

    Every event of the record (aggregates with that id) or of the subject (aggregates that
    carry its ``subject_ref``), in time order, each with its stored bytes and an RFC 9162
    inclusion proof against its service's signed tree head. Checked offline by
    ``python -m shared.proofcheck``. Names the subject by ``subject_ref`` only. Raises
    LookupError when no event matches.
    """
    logs = read_logs(peers)
    if record:
        entries = sorted((e for log in logs.values() for e in log if e.originator_id == record),
                         key=_when)
    else:
        entries = timeline(logs, subject)
    if not entries:
        raise LookupError("no events for this record or subject")
    wanted: dict[str, set[int]] = defaultdict(set)
    for e in entries:
        wanted[e.service].add(e.position)
    heads, raw = {}, {}
    for service, positions in wanted.items():
        stub = events_pb2_grpc.EventLogServiceStub(peers.channel(service))
        heads[service] = head_dict(stub.GetSignedTreeHead(
            events_pb2.GetSignedTreeHeadRequest(), timeout=600).head)
        for r in stub.ReadEvents(events_pb2.ReadEventsRequest(
                after_position=min(positions) - 1, limit=max(positions) - min(positions) + 1),
                timeout=600):
            if r.event.position in positions:
                raw[(service, r.event.position)] = r.event
    events = []
    for e in entries:
        head, ev = heads[e.service], raw[(e.service, e.position)]
        if e.position > head["tree_size"]:
            continue  # appended after the head was signed: cannot be proven yet
        stub = events_pb2_grpc.EventLogServiceStub(peers.channel(e.service))
        proof = stub.GetInclusionProof(events_pb2.GetInclusionProofRequest(
            position=e.position, tree_size=head["tree_size"]), timeout=600)
        events.append({**e.as_dict(), "version": ev.originator_version, "topic": ev.topic,
                       "stored_state": base64.b64encode(ev.stored_state).decode(),
                       "tree_size": proof.tree_size,
                       "inclusion_proof": [h.hex() for h in proof.audit_path]})
    return {"format": PROOF_FORMAT,
            "subject": {"record": record} if record else {"subject_ref": subject},
            "public_keys": {s: keys[s] for s in heads if s in keys},
            "tree_heads": heads, "events": events}
