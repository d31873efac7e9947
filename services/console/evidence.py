"""A request's evidence: its events in the rights service's log, each with its stored bytes and an
RFC 9162 inclusion proof under the latest signed tree head (``lethe.audit-proof/v1``, the format
``lethe audit prove`` writes and ``python -m shared.proofcheck`` checks offline). Reads only the
rights service's log, so it works while other services are down, and only the request's own
events: the rights service names their positions (``GetRequest`` ``log_positions``), so the cost
is a few reads per event whatever the size of the log."""

from __future__ import annotations

import base64
from typing import Any

from shared import audit as audit_mod
from shared.gen.lethe.v1 import events_pb2, rights_pb2
from shared.ids import stable_id
from shared.proofcheck import PROOF_FORMAT
from shared.transparency import published_keys


def request_evidence(backend: Any, request_id: str) -> dict[str, Any]:
    """The proof document of one data-subject request; LookupError when it has no signed events.

    Raises grpc.RpcError when a call fails (NOT_FOUND for an unknown request).
    """
    aggregate = str(stable_id("dsr", request_id))
    request = backend.rights.GetRequest(rights_pb2.GetRequestRequest(request_id=request_id),
                                        timeout=60).request
    stub = backend.logs("rights")
    head = audit_mod.head_dict(stub.GetSignedTreeHead(events_pb2.GetSignedTreeHeadRequest(), timeout=60).head)
    events = []
    for position in request.log_positions:
        if position > head["tree_size"]:
            break  # appended after the head was signed
        ev = next(iter(stub.ReadEvents(events_pb2.ReadEventsRequest(
            after_position=position - 1, limit=1), timeout=60))).event
        if ev.originator_id != aggregate or ev.position != position:
            raise LookupError("the rights log does not hold this request's event where it says")
        proof = stub.GetInclusionProof(events_pb2.GetInclusionProofRequest(
            position=ev.position, tree_size=head["tree_size"]), timeout=60)
        events.append({**audit_mod.entry_of("rights", ev).as_dict(), "version": ev.originator_version,
                       "topic": ev.topic, "stored_state": base64.b64encode(ev.stored_state).decode(),
                       "tree_size": proof.tree_size, "inclusion_proof": [h.hex() for h in proof.audit_path]})
    if not events:
        raise LookupError("no signed events for this request yet")
    keys = published_keys(backend.keys, ["rights"])
    return {"format": PROOF_FORMAT, "subject": {"record": aggregate}, "public_keys": keys,
            "tree_heads": {"rights": head}, "events": events}
