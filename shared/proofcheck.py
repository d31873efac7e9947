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

Checkpoints.  Each service also publishes its latest tree head as a C2SP checkpoint
(https://c2sp.org/tlog-checkpoint) in the C2SP signed-note format (https://c2sp.org/signed-note),
so that standard transparency-log tools and witnesses can check it::

    <origin>\n<tree size, decimal>\n<base64 of the 32-byte root hash>\n
    \n
    \u2014 <key name> <base64(4-byte key hash || 64-byte Ed25519 signature)>\n

The key name is the origin; the key hash is the first 4 bytes of
``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)``; the signature covers the body
(the text up to and including its last newline, before the blank line). :func:`open_checkpoint`
verifies one; :func:`verifier_key` gives the standard ``<name>+<hash>+<base64(0x01 || key)>``
verifier key string. ``python -m shared.proofcheck --note CHECKPOINT --vkey VKEY`` checks one
offline.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import struct
import sys
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared import merkle

PROOF_FORMAT = "lethe.audit-proof/v1"
LEAF_DOMAIN = b"lethe-leaf-v1\x00"
SIG_PREFIX = "\u2014 "  # an em dash and a space start every signature line
ED25519_ALG = b"\x01"  # the signed-note signature type of Ed25519
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """Raised when a signed note or checkpoint is malformed or not validly signed.

    ``reason`` is UPPER_SNAKE: NOTE_MALFORMED, NOTE_UNSIGNED (no signature by the expected key),
    NOTE_SIGNATURE_INVALID, CHECKPOINT_MALFORMED, CHECKPOINT_ORIGIN_MISMATCH.
    """

    def __init__(self, reason: str, message: str) -> None:  # noqa: D107
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: the log's origin, its size and its 32-byte root hash."""

    origin: str
    size: int
    root_hash: bytes


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


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_hash(name: str, public_key_bytes: bytes) -> bytes:
    """The 4-byte signed-note key hash of an Ed25519 key:
    ``SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4]``."""
    if len(public_key_bytes) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519_ALG + public_key_bytes).digest()[:4]


def verifier_key(name: str, public_key_bytes: bytes) -> str:
    """The standard verifier key string ``<name>+<8 hex key hash>+<base64(0x01 || key)>``."""
    if not _valid_name(name):
        raise ValueError("a key name is non-empty, without spaces or '+'")
    return (f"{name}+{key_hash(name, public_key_bytes).hex()}+"
            f"{base64.b64encode(ED25519_ALG + public_key_bytes).decode('ascii')}")


def parse_verifier_key(vkey: str) -> tuple[str, Ed25519PublicKey]:
    """``(name, public key)`` of a verifier key string; raises NoteError when malformed or its
    key hash does not match."""
    try:
        name, hash_hex, b64 = vkey.strip().split("+", 2)  # base64 may hold "+"
        raw = base64.b64decode(b64, validate=True)
        if not _valid_name(name) or len(hash_hex) != 8 or raw[:1] != ED25519_ALG or len(raw) != 33:
            raise ValueError
        if key_hash(name, raw[1:]) != bytes.fromhex(hash_hex):
            raise ValueError
        return name, Ed25519PublicKey.from_public_bytes(raw[1:])
    except (ValueError, binascii.Error):
        raise NoteError("NOTE_MALFORMED", "not an Ed25519 verifier key <name>+<hash>+<key>") from None


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed note of ``text`` (non-empty, ending in a newline, no blank line) by ``name``.

    Returns ``text + "\\n" + "\u2014 <name> <base64(key hash || signature)>\\n"``; raises
    ValueError on a malformed text or name.
    """
    if not text.endswith("\n") or "\n\n" in text or not _valid_name(name):
        raise ValueError("a note text ends in a newline and holds no blank line; "
                         "a key name has no spaces or '+'")
    pub = private_key.public_key().public_bytes_raw()
    sig = key_hash(name, pub) + private_key.sign(text.encode("utf-8"))
    return f"{text}\n{SIG_PREFIX}{name} {base64.b64encode(sig).decode('ascii')}\n"


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """``(text, [(key name, key hash || signature)])`` of a note; NoteError when malformed."""
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("NOTE_MALFORMED", "no blank line before the signatures")
    text, lines = note[:cut + 1], note[cut + 2:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError("NOTE_MALFORMED", "too many signatures")
    sigs = []
    for line in lines:
        try:
            if not line.startswith(SIG_PREFIX):
                raise ValueError
            name, b64 = line[len(SIG_PREFIX):].split(" ")
            raw = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error):
            raise NoteError("NOTE_MALFORMED", "a signature line is malformed") from None
        if not _valid_name(name) or len(raw) < 5:
            raise NoteError("NOTE_MALFORMED", "a signature line is malformed")
        sigs.append((name, raw))
    return text, sigs


def open_note(note: str, vkey: str) -> str:
    """The text of ``note`` once its signature by ``vkey`` (a verifier key string) checks.

    Signatures by other keys are ignored (witness cosignatures, for instance). Raises NoteError:
    NOTE_MALFORMED, NOTE_UNSIGNED (no line by this key's name and hash), NOTE_SIGNATURE_INVALID.
    """
    name, key = parse_verifier_key(vkey)
    text, sigs = _split_note(note)
    wanted = key_hash(name, key.public_bytes_raw())
    for signer, raw in sigs:
        if signer == name and raw[:4] == wanted:
            try:
                key.verify(raw[4:], text.encode("utf-8"))
            except InvalidSignature:
                raise NoteError("NOTE_SIGNATURE_INVALID", f"bad signature by {name}") from None
            return text
    raise NoteError("NOTE_UNSIGNED", f"no signature by {name}")


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    """The C2SP checkpoint body: ``<origin>\\n<size>\\n<base64 root>\\n``."""
    if not origin or "\n" in origin or size < 0 or len(root) != merkle.HASH_SIZE:
        raise ValueError("origin is one non-empty line, size >= 0, root 32 bytes")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode('ascii')}\n"


def open_checkpoint(note: str, vkey: str, origin: str | None = None) -> Checkpoint:
    """Verify a C2SP checkpoint signed by ``vkey``; returns its origin, size and root.

    ``origin`` defaults to the key name. Raises NoteError (see :func:`open_note`, plus
    CHECKPOINT_MALFORMED and CHECKPOINT_ORIGIN_MISMATCH).
    """
    text = open_note(note, vkey)
    lines = text.split("\n")[:-1]
    try:
        size, root = int(lines[1]), base64.b64decode(lines[2], validate=True)
        if not lines[1].isdigit() or str(size) != lines[1] or len(root) != merkle.HASH_SIZE:
            raise ValueError
    except (IndexError, ValueError, binascii.Error):
        raise NoteError("CHECKPOINT_MALFORMED", "expected origin, size and root hash") from None
    expected = origin or vkey.split("+", 1)[0]
    if lines[0] != expected:
        raise NoteError("CHECKPOINT_ORIGIN_MISMATCH", f"origin is not {expected}")
    return Checkpoint(lines[0], size, root)


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


def _main_note(path: str, vkey: str) -> int:
    with open(path, encoding="utf-8") as fh:
        note = fh.read()
    try:
        cp = open_checkpoint(note, vkey)
    except NoteError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"ok: checkpoint of {cp.origin} at size {cp.size}, root {cp.root_hash.hex()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m shared.proofcheck FILE [--keys KEYS.json]``."""
    parser = argparse.ArgumentParser(prog="python -m shared.proofcheck",
                                     description="Check a `lethe audit prove` document offline.")
    parser.add_argument("file", nargs="?", help="the proof document (JSON)")
    parser.add_argument("--keys", help="JSON {service: hex Ed25519 public key} you trust")
    parser.add_argument("--note", help="a C2SP checkpoint (signed note) to check instead")
    parser.add_argument("--vkey", help="with --note: the verifier key <name>+<hash>+<key>")
    args = parser.parse_args(argv)
    if args.note:
        return _main_note(args.note, args.vkey or "")
    if not args.file:
        parser.error("give a proof document, or --note with --vkey")
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
