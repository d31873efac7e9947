"""Standalone checker for ``lethe audit prove`` documents: no services, no keys but public ones.

Usage::

    python -m shared.proofcheck PROOF.json [--keys KEYS.json]

``KEYS.json`` maps service name -> hex Ed25519 public key (what ``lethe audit keys --json``
prints; get it from the operator once, out of band, and keep it). Without ``--keys`` the keys
embedded in the document are used, which only proves the document is self-consistent. Exit 0
when every check passes, 1 otherwise (each problem on stderr).

What a valid document proves, for each listed event: an event with exactly these stored bytes
(``stored_state``, encrypted with the service's event cipher), this aggregate id, version and
topic (hence event name) sits at this position of the service's log, under a tree head the
service signed. What it does not prove: that the document lists *every* event of the record or
subject (inclusion proofs cannot show absence; ``lethe audit verify`` checks whole logs), nor
that ``attributes`` (the operator's decoding of the encrypted bytes) are faithful; anyone with
the service's event cipher key can check the latter.

The leaf of an event (also used by the services when they sign) is :func:`leaf_data`.
The checker itself is :func:`check_proof`.
"""

from __future__ import annotations

import argparse
import base64
import json
import struct
import sys
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from shared import merkle

PROOF_FORMAT = "lethe.audit-proof/v1"
LEAF_DOMAIN = b"lethe-leaf-v1\x00"


def leaf_data(position: int, originator_id: str, originator_version: int, topic: str,
              stored_state: bytes) -> bytes:
    """Canonical leaf bytes of one event (hashed as an RFC 9162 leaf).

    Big-endian, length-prefixed so no two events encode alike::

        b"lethe-leaf-v1\\0" || u64 position || u16 len(id) || id (UTF-8)
        || u64 originator_version || u16 len(topic) || topic (UTF-8)
        || u32 len(stored_state) || stored_state

    The position makes reordering, deletion and insertion change leaves; ``stored_state`` is the
    encrypted event as stored, so crypto-shredding (which never rewrites events) keeps it valid.
    """
    oid, top = originator_id.encode("utf-8"), topic.encode("utf-8")
    return b"".join((LEAF_DOMAIN, struct.pack(">QH", position, len(oid)), oid,
                     struct.pack(">QH", originator_version, len(top)), top,
                     struct.pack(">I", len(stored_state)), stored_state))


def event_leaf_hash(event: Any) -> bytes:
    """Leaf hash of anything with ``position, originator_id, originator_version, topic,
    stored_state`` attributes (a LoggedEvent, a LogEvent message)."""
    return merkle.leaf_hash(leaf_data(event.position, event.originator_id,
                                      event.originator_version, event.topic, event.stored_state))


def log_id(service: str) -> str:
    """The log id a service signs its tree heads with."""
    return f"lethe/{service}"


def public_key(hex_key: str) -> Ed25519PublicKey:
    """An Ed25519 public key from 64 hex characters."""
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(hex_key))


def check_proof(doc: dict[str, Any], keys: dict[str, str] | None = None) -> list[str]:
    """Check a ``lethe.audit-proof/v1`` document; returns problems (empty list = valid).

    Checks: each service's tree head is signed by that service's key (``keys`` if given, else
    the document's) for log id ``lethe/<service>``; each event's leaf, recomputed from its
    fields, is included at ``position - 1`` in that head (RFC 9162 inclusion proof); each event's
    name is the class name in its (hashed) topic; for a record proof, each event belongs to it.
    """
    problems: list[str] = []
    if doc.get("format") != PROOF_FORMAT:
        return [f"not a {PROOF_FORMAT} document"]
    keys = keys or doc.get("public_keys", {})
    heads: dict[str, dict[str, Any]] = {}
    for service, head in doc.get("tree_heads", {}).items():
        try:
            ok = merkle.verify_tree_head(public_key(keys[service]), head)
        except (KeyError, ValueError):
            ok = False
        if not ok or head.get("log_id") != log_id(service):
            problems.append(f"{service}: tree head not validly signed by the service's key")
        else:
            heads[service] = head
    record = doc.get("subject", {}).get("record")
    for i, ev in enumerate(doc.get("events", [])):
        where = f"event {i} ({ev.get('service')}@{ev.get('position')})"
        head = heads.get(ev.get("service"))
        if head is None:
            problems.append(f"{where}: no valid tree head for its service")
            continue
        try:
            leaf = merkle.leaf_hash(leaf_data(
                int(ev["position"]), ev["id"], int(ev["version"]), ev["topic"],
                base64.b64decode(ev["stored_state"], validate=True)))
            proof = [bytes.fromhex(h) for h in ev["inclusion_proof"]]
            ok = merkle.verify_inclusion(leaf, int(ev["position"]) - 1, head["tree_size"], proof,
                                         bytes.fromhex(head["root_hash"]))
        except (KeyError, TypeError, ValueError, struct.error) as exc:
            problems.append(f"{where}: malformed ({type(exc).__name__})")
            continue
        if not ok:
            problems.append(f"{where}: not included in the signed tree (altered or forged)")
        if ev.get("event") != ev["topic"].rsplit(":", 1)[-1].split(".")[-1]:
            problems.append(f"{where}: event name does not match its signed topic")
        if record and ev["id"] != record:
            problems.append(f"{where}: belongs to {ev['id']}, not to record {record}")
    if not doc.get("events"):
        problems.append("the document lists no events")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m shared.proofcheck FILE [--keys KEYS.json]``."""
    parser = argparse.ArgumentParser(prog="python -m shared.proofcheck",
                                     description="Check a `lethe audit prove` document offline.")
    parser.add_argument("file", help="the proof document (JSON)")
    parser.add_argument("--keys", help="JSON {service: hex Ed25519 public key} you trust")
    args = parser.parse_args(argv)
    with open(args.file, encoding="utf-8") as fh:
        doc = json.load(fh)
    keys = None
    if args.keys:
        with open(args.keys, encoding="utf-8") as fh:
            keys = json.load(fh)
    problems = check_proof(doc, keys)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    services = sorted({e["service"] for e in doc["events"]})
    origin = "the given keys" if keys else "the document's own keys (pass --keys to pin them)"
    print(f"ok: {len(doc['events'])} events in {len(services)} logs ({', '.join(services)}) "
          f"included in signed tree heads, checked with {origin}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
