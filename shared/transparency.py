"""Verifiable logs: each service signs RFC 9162 Merkle tree heads over its own event log.

Leaves.  Leaf ``i`` (0-based) is the event at position ``i + 1``, encoded by
:func:`shared.proofcheck.leaf_data` over (position, originator id, version, topic, *stored*
bytes). The stored bytes are the event as encrypted at rest, so crypto-shredding, which destroys
keys and never rewrites events, never invalidates a tree.

Service side (:class:`TransparencyLog`).  A thread in the service process checks the log every
second; when it grew, it appends the new leaves, extends a persisted :class:`MerkleLog` frontier
and signs a tree head with the service's Ed25519 key (key source ``audit/<service>.ed25519``; the
public key is published as ``audit/<service>.pub``, hex). ``GetSignedTreeHead`` also signs on
demand. Files, under ``<data dir>/<service>/transparency/`` (outside the event store):

* ``leaves.bin``: the signed leaf hashes, 32 bytes each, append-only (serves proofs);
* ``heads.jsonl``: every signed tree head, one JSON line each, append-only (kept history);
* ``state.json``: the frontier and the latest head (replaced atomically).

Before signing, the signer checks that new events are gap-free and decrypt (AES-GCM) with the
service's event cipher: a forged row is never signed (an alarm is logged instead).

Auditor side (:func:`verify_log`).  Streams the events from ReadEvents (or any source),
recomputes leaves into a MerkleLog (memory O(log n)), compares the root when it reaches the
signed size, and, from a checkpoint, first checks the new head is consistent with the old one.
It trusts only signatures and its own checkpoint: the files above and the event store are the
operator's and may be attacker-controlled. On a mismatch it locates the first bad position with
the service's leaf hashes, after checking those against the signed root.

Threat model (attacker with write access to the data dir, not to the key source):

* detected, with the position: an edited, deleted, reordered or inserted event among the signed
  ones; a truncated log; a forged event anywhere (it does not decrypt); a signed head or its
  history rewritten (a checkpoint's head must be consistent with the new one);
* detected without an exact position: when the leaf file was altered too (the range is named);
* not detected: events appended *before* the service signs them that are valid ciphertexts
  (replays of other stored bytes under a new id/version), and a rollback of the whole data dir
  to a consistent earlier state when the auditor has no checkpoint newer than it (keep
  checkpoints); an attacker holding the signing key (it lives in the key source) can sign
  anything.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared import merkle
from shared.app import UNDECODABLE
from shared.proofcheck import event_leaf_hash, leaf_data, log_id, public_key

log = logging.getLogger("lethe")

HASH = merkle.HASH_SIZE
PAGE = 2000
CHECKPOINT_FORMAT = "lethe.audit-checkpoint/v1"
__all__ = ["TransparencyLog", "verify_log", "ensure_signing_key", "published_keys", "leaf_data",
           "Problem", "Outcome", "UndecodableEvent", "CHECKPOINT_FORMAT", "LocalSource"]


def ensure_signing_key(keys: Any, service: str) -> Ed25519PrivateKey:
    """The service's Ed25519 audit key (created on first use); publishes ``audit/<service>.pub``."""
    seed = keys.get_or_create(f"audit/{service}.ed25519", 32)
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    pub = sk.public_key().public_bytes_raw().hex() + "\n"
    name = f"audit/{service}.pub"
    if not keys.exists(name) or keys.get(name).decode("ascii") != pub:
        keys.put(name, pub.encode("ascii"))
    return sk


def published_keys(keys: Any, services: Iterable[str]) -> dict[str, str]:
    """Service -> hex public audit key, for the services whose key was published."""
    return {s: keys.get(f"audit/{s}.pub").decode("ascii").strip() for s in services
            if keys.exists(f"audit/{s}.pub")}


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class TransparencyLog:
    """The signer and proof server of one service's log (see the module docstring).

    ``extend()`` signs what is new; ``start()`` runs it every ``interval`` seconds in a daemon
    thread. Proof methods read ``leaves.bin`` (never the event store) and serve only signed sizes.
    """

    def __init__(self, app: Any, keys: Any, directory: Path | None = None,
                 interval: float = 1.0) -> None:
        self.app, self.service, self.interval = app, app.service, interval
        self.dir = Path(directory or app.settings.service_dir(self.service) / "transparency")
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.key = ensure_signing_key(keys, self.service)
        self.leaves_path, self.heads_path = self.dir / "leaves.bin", self.dir / "heads.jsonl"
        self.state_path = self.dir / "state.json"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._alarm = ""
        self.tree, self.head = merkle.MerkleLog(), None
        if self.state_path.exists():
            state = json.loads(self.state_path.read_text())
            self.tree, self.head = merkle.MerkleLog.from_dict(state["frontier"]), state["head"]
        size = self.tree.size * HASH
        with open(self.leaves_path, "ab") as fh:  # drop leaves written before a crash, unsigned
            if fh.tell() > size:
                fh.truncate(size)
            elif fh.tell() < size:
                log.error("audit: %s holds fewer leaves than signed; proofs will fail",
                          self.leaves_path.name)
        if self.head is None:
            self._sign()

    # -------------------------------------------------------------- signing
    def _sign(self) -> dict[str, Any]:
        head = merkle.sign_tree_head(self.key, log_id(self.service), self.tree.size,
                                     self.tree.root(), int(time.time() * 1000))
        with open(self.heads_path, "ab") as fh:
            fh.write(json.dumps(head, sort_keys=True).encode() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        _write_atomic(self.state_path, json.dumps(
            {"frontier": self.tree.to_dict(), "head": head}).encode())
        self.head = head
        return head

    def _refuse(self, reason: str) -> None:
        if reason != self._alarm:
            log.error("audit: not signing past position %d: %s", self.tree.size, reason)
            self._alarm = reason

    def extend(self) -> dict[str, Any]:
        """Sign the events recorded since the last head (if any); return the latest head."""
        with self._lock:
            grown = False
            while True:
                notes = self.app.recorder.select_notifications(
                    start=self.tree.size, limit=PAGE, inclusive_of_start=False)
                batch = []
                for note in notes:
                    position = self.tree.size + len(batch) + 1
                    if note.id != position:
                        self._refuse(f"event {position} is missing")
                        break
                    try:
                        self.app.mapper.to_domain_event(note)
                    except Exception:  # noqa: BLE001 - a row the service never wrote
                        self._refuse(f"event {position} does not decrypt/decode (forged?)")
                        break
                    batch.append(merkle.leaf_hash(leaf_data(
                        note.id, str(note.originator_id), note.originator_version,
                        note.topic, note.state)))
                if batch:
                    with open(self.leaves_path, "ab") as fh:
                        fh.write(b"".join(batch))
                        fh.flush()
                        os.fsync(fh.fileno())
                    for h in batch:
                        self.tree.append_leaf_hash(h)
                    grown = True
                if len(batch) < PAGE:
                    break
            if grown:
                self._sign()
            return self.head

    def start(self) -> TransparencyLog:
        """Sign in a daemon thread every ``interval`` seconds while the log grows."""
        def run() -> None:
            while not self._stop.wait(self.interval):
                try:
                    if self.app.max_position() > self.tree.size:
                        self.extend()
                except Exception as exc:  # noqa: BLE001 - keep signing; store may be closing
                    log.warning("audit: signing failed: %s", type(exc).__name__)
        threading.Thread(target=run, name=f"audit-{self.service}", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop the signing thread."""
        self._stop.set()

    # -------------------------------------------------------------- proofs
    def signed_size(self) -> int:
        """Size of the latest signed head."""
        return int(self.head["tree_size"]) if self.head else 0

    def kept_head(self, tree_size: int) -> dict[str, Any] | None:
        """The kept head of exactly ``tree_size`` (the latest such), or None."""
        found = None
        with open(self.heads_path, "rb") as fh:
            for line in fh:
                head = json.loads(line)
                if head["tree_size"] == tree_size:
                    found = head
        return found

    def fetch(self, start: int, end: int) -> list[bytes]:
        """Signed leaf hashes ``[start, end)`` (0-based) from ``leaves.bin``."""
        with open(self.leaves_path, "rb") as fh:
            fh.seek(start * HASH)
            data = fh.read((end - start) * HASH)
        return [data[i:i + HASH] for i in range(0, len(data), HASH)]

    def _size(self, tree_size: int) -> int:
        signed = self.signed_size()
        size = tree_size or signed
        if not 0 <= size <= signed:
            raise ValueError(f"tree size {size} is not signed yet (latest {signed})")
        return size

    def inclusion(self, position: int, tree_size: int = 0) -> tuple[int, bytes, list[bytes]]:
        """``(tree_size, leaf_hash, audit_path)`` for the event at ``position`` (from 1)."""
        size = self._size(tree_size)
        if not 1 <= position <= size:
            raise ValueError(f"position {position} is not in the signed tree of size {size}")
        return size, self.fetch(position - 1, position)[0], merkle.inclusion_proof(
            self.fetch, position - 1, size)

    def consistency(self, first: int, second: int = 0) -> tuple[int, list[bytes]]:
        """``(second_size, proof)`` that the tree of size ``first`` is a prefix of ``second``."""
        size = self._size(second)
        return size, merkle.consistency_proof(self.fetch, first, size)

    def leaf_hashes(self, after: int, limit: int = 0) -> Iterator[tuple[int, bytes]]:
        """``(first_position, concatenated hashes)`` runs of signed leaves after ``after``."""
        end = self.signed_size() if not limit else min(self.signed_size(), after + limit)
        for a in range(max(0, after), end, merkle.CHUNK):
            b = min(a + merkle.CHUNK, end)
            yield a + 1, b"".join(self.fetch(a, b))


# ------------------------------------------------------------------ auditor side
class UndecodableEvent(Exception):
    """Raised by an event source when the next event cannot be read (fails to decrypt/decode)."""


class LogSource(Protocol):
    """What :func:`verify_log` needs from a service: its events and the proofs it serves."""

    def events(self, after: int) -> Iterator[Any]:
        """Events with position > ``after``, in order; raises UndecodableEvent on a bad one."""

    def consistency(self, first: int, second: int) -> list[bytes]:
        """The served consistency proof between two tree sizes."""

    def leaf_hashes(self, after: int, limit: int) -> Iterator[bytes]:
        """The served leaf hashes after ``after`` (up to ``limit``), one by one."""


@dataclass(frozen=True)
class Problem:
    """The first problem found in a log: kind, position (0 = the log as a whole), message."""

    kind: str
    position: int
    message: str


@dataclass
class Outcome:
    """Result of verifying one log: ``problem`` None means intact up to ``head``."""

    service: str
    problem: Problem | None
    events: int
    head: dict[str, Any]
    checkpoint: dict[str, Any] | None = None
    unsigned: int = 0


def _first_problem(events: Iterator[Any], expected: int,
                   signed: Iterator[bytes] | None = None,
                   on_leaf: Callable[[bytes], None] | None = None,
                   stop: int = 0) -> tuple[Problem | None, int]:
    """Walk events from position ``expected``; return (first problem or None, next position).

    Compares each leaf with ``signed`` when given; calls ``on_leaf`` with each leaf hash; stops
    after position ``stop`` when non-zero.
    """
    try:
        for ev in events:
            if ev.position != expected:
                kind = "EVENT_MISSING" if ev.position > expected else "EVENT_OUT_OF_ORDER"
                return Problem(kind, expected, f"next event has position {ev.position}"), expected
            leaf = event_leaf_hash(ev)
            if signed is not None and leaf != next(signed, None):
                return Problem("EVENT_ALTERED", expected, "differs from the event signed at "
                               "this position (edited, reordered or inserted)"), expected
            if on_leaf:
                on_leaf(leaf)
            expected += 1
            if stop and expected > stop:
                break
    except UndecodableEvent:
        return Problem("EVENT_UNDECODABLE", expected, "stored bytes do not decrypt/decode "
                       "(edited or forged)"), expected
    return None, expected


def _locate(source: LogSource, base: merkle.MerkleLog, head: dict[str, Any],
            upto: int) -> Problem:
    """First bad position in ``(base.size, upto]``, knowing leaves ``[0, base.size)`` are good.

    Trusts the served leaf hashes only if, appended to ``base``, they give the signed root.
    """
    lo, size = base.size, int(head["tree_size"])
    check = merkle.MerkleLog.from_dict(base.to_dict())
    for h in source.leaf_hashes(lo, size - lo):
        check.append_leaf_hash(h)
    if check.size != size or check.root() != bytes.fromhex(head["root_hash"]):
        return Problem("LOG_ALTERED", lo + 1, f"an event in positions {lo + 1}..{upto} differs "
                       "from the signed log (the served leaf hashes are altered too)")
    signed = iter(source.leaf_hashes(lo, size - lo))
    problem, at = _first_problem(source.events(lo), lo + 1, signed=signed, stop=upto)
    return problem or Problem("LOG_TRUNCATED", at, f"log ends before signed size {size}")


def verify_log(service: str, key_hex: str, head: dict[str, Any], source: LogSource,
               checkpoint: dict[str, Any] | None = None) -> Outcome:
    """Verify one service's log against its signed ``head`` (and a previous checkpoint).

    Streams the events once (memory O(log n)): checks positions, recomputes leaves and the root
    at the signed size. From a checkpoint ``{"head", "frontier", "last_leaf"}`` it checks the new
    head is consistent with the checkpoint's, that the checkpoint's last event is unchanged (else
    it verifies from scratch to locate the problem) and reads only the events after it; edits
    of earlier events are then not re-checked (use no checkpoint, or ``--full``, for that). Returns the first
    problem, if any, and when intact the new checkpoint (head + frontier at the head's size).
    Events after the signed size are read and decoded but not yet signed (``unsigned``).
    """
    size = int(head.get("tree_size", -1))
    out = Outcome(service, None, 0, head)
    if head.get("log_id") != log_id(service) or not merkle.verify_tree_head(
            public_key(key_hex), head):
        out.problem = Problem("HEAD_SIGNATURE_INVALID", 0, "tree head not signed by the "
                              "service's published key")
        return out
    tree = merkle.MerkleLog()
    if checkpoint:
        old, tree = checkpoint["head"], merkle.MerkleLog.from_dict(checkpoint["frontier"])
        m = int(old["tree_size"])
        if size < m:
            out.problem = Problem("LOG_TRUNCATED", size + 1, f"signed size {size} is below the "
                                  f"checkpoint's {m}")
            return out
        if not merkle.verify_consistency(m, size, bytes.fromhex(old["root_hash"]),
                                         bytes.fromhex(head["root_hash"]),
                                         source.consistency(m, size)):
            out.problem = Problem("HISTORY_REWRITTEN", m, f"signed head {size} is not "
                                  f"consistent with the checkpoint's head {m}")
            return out
    good = merkle.MerkleLog.from_dict(tree.to_dict())  # leaves known authentic
    root = bytes.fromhex(head["root_hash"])
    mismatch = False
    last = checkpoint.get("last_leaf", "") if checkpoint else ""
    events = source.events(tree.size)
    if checkpoint and tree.size:
        # Anchor: the checkpoint's last event must still be there, unchanged; if not (a
        # rollback or truncation below the checkpoint), verify from scratch to locate it.
        events = source.events(tree.size - 1)
        try:
            anchor = next(events, None)
        except UndecodableEvent:
            anchor = None
        if anchor is None or anchor.position != tree.size or event_leaf_hash(anchor).hex() != last:
            out = verify_log(service, key_hex, head, source)
            out.problem = out.problem or Problem("HISTORY_REWRITTEN", tree.size, "the "
                                                 "checkpoint's last event changed")
            out.checkpoint = None
            return out

    def on_leaf(leaf: bytes) -> None:
        nonlocal good, mismatch, last
        tree.append_leaf_hash(leaf)
        if tree.size == size:
            if tree.root() == root:
                good, last = merkle.MerkleLog.from_dict(tree.to_dict()), leaf.hex()
            else:
                mismatch = True
                raise _Stop

    start = tree.size
    try:
        problem, _ = _first_problem(events, start + 1, on_leaf=on_leaf)
    except _Stop:
        problem = None
    out.events = tree.size - start
    if mismatch:
        out.problem = _locate(source, good, head, size)
    elif problem and tree.size < size:
        # Is everything read so far a prefix of the signed tree? Then the problem is the first.
        if tree.size > good.size and not merkle.verify_consistency(
                tree.size, size, tree.root(), root, source.consistency(tree.size, size)):
            out.problem = _locate(source, good, head, tree.size)
        else:
            out.problem = problem
    elif problem:
        out.problem = problem
    elif tree.size < size:
        if tree.size > good.size and not merkle.verify_consistency(
                tree.size, size, tree.root(), root, source.consistency(tree.size, size)):
            out.problem = _locate(source, good, head, tree.size)
        else:
            out.problem = Problem("LOG_TRUNCATED", tree.size + 1,
                                  f"log ends at {tree.size}, signed size is {size}")
    if out.problem is None:
        out.unsigned = tree.size - size
        out.checkpoint = {"head": head, "frontier": good.to_dict(), "last_leaf": last}
    return out


class _Stop(Exception):
    """Internal: stop streaming (root mismatch at the signed size)."""


class LocalSource:
    """A :class:`LogSource` over an in-process application and its TransparencyLog (tests,
    benchmarks); the CLI uses the same interface over gRPC."""

    def __init__(self, app: Any, tlog: TransparencyLog) -> None:
        self.app, self.tlog = app, tlog

    def events(self, after: int) -> Iterator[Any]:  # noqa: D102
        it = self.app.read_events(after=after, page=PAGE)
        while True:
            try:
                ev = next(it)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - decryption/decoding failure
                raise UndecodableEvent(type(exc).__name__) from None
            if ev.event_type == UNDECODABLE:
                raise UndecodableEvent("stored bytes do not decode")
            yield ev

    def consistency(self, first: int, second: int) -> list[bytes]:  # noqa: D102
        return self.tlog.consistency(first, second)[1]

    def leaf_hashes(self, after: int, limit: int) -> Iterator[bytes]:  # noqa: D102
        for _, run in self.tlog.leaf_hashes(after, limit):
            yield from (run[i:i + HASH] for i in range(0, len(run), HASH))
