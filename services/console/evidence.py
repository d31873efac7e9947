"""A request's evidence: its events in the rights service's log, each with its stored bytes and an
RFC 9162 inclusion proof under the latest signed tree head (``lethe.audit-proof/v1``, the format
``lethe audit prove`` writes and ``python -m shared.proofcheck`` checks offline). Reads only the
rights service's log, so it works while other services are down."""

from __future__ import annotations

import base64
from typing import Any

from shared import audit as audit_mod
from shared.gen.lethe.v1 import events_pb2
from shared.ids import stable_id
from shared.proofcheck import PROOF_FORMAT
from shared.transparency import published_keys


def request_evidence(backend: Any, request_id: str) -> dict[str, Any]:
    """The proof document of one data-subject request; LookupError when it has no events."""
    aggregate = str(stable_id("dsr", request_id))
    stub = backend.logs("rights")
    head = audit_mod.head_dict(stub.GetSignedTreeHead(events_pb2.GetSignedTreeHeadRequest(), timeout=60).head)
    events = []
    for r in stub.ReadEvents(events_pb2.ReadEventsRequest(), timeout=600):
        ev = r.event
        if ev.originator_id != aggregate or ev.position > head["tree_size"]:
            continue  # another aggregate, or appended after the head was signed
        proof = stub.GetInclusionProof(events_pb2.GetInclusionProofRequest(
            position=ev.position, tree_size=head["tree_size"]), timeout=60)
        events.append({**audit_mod._entry("rights", ev).as_dict(), "version": ev.originator_version,
                       "topic": ev.topic, "stored_state": base64.b64encode(ev.stored_state).decode(),
                       "tree_size": proof.tree_size, "inclusion_proof": [h.hex() for h in proof.audit_path]})
    if not events:
        raise LookupError("no signed events for this request yet")
    keys = published_keys(backend.keys, ["rights"])
    return {"format": PROOF_FORMAT, "subject": {"record": aggregate}, "public_keys": keys,
            "tree_heads": {"rights": head}, "events": events}
