"""Verifiable logs: each service signs RFC 9162 Merkle tree heads over its own event log.

Leaves.  Leaf ``i`` (0-based) is the event at position ``i + 1``, encoded by
:func:`shared.proofcheck.leaf_data` over (position, originator id, version, topic, *stored*
bytes). The stored bytes are the event as encrypted at rest, so crypto-shredding, which destroys
keys and never rewrites events, never invalidates a tree.

Service side (:class:`TransparencyLog`).  A thread in the service process checks the log every
second; when it grew, it appends the new leaves, extends the persisted :class:`MerkleLog` frontier
and signs a tree head with the service's Ed25519 key (key source ``audit/<service>.ed25519``; the
public key is published as ``audit/<service>.pub``, hex), and a C2SP checkpoint (a signed note,
:mod:`shared.proofcheck`) of the same size and root, origin ``Settings.origin(service)``.
``GetSignedTreeHead`` and ``GetCheckpoint`` also sign on demand. All of it lives in the service's
own store (:func:`shared.store.open_store`, ``transparency``: a SQLite file under the data dir, or
the service's PostgreSQL schema), so it survives restarts of pods whose data dir is an emptyDir:

* ``audit_leaves``: the signed leaf hashes, one row per position (serves proofs);
* ``audit_heads``: every signed tree head with its checkpoint note (kept history);
* ``audit_tree``: one row, the frontier and the latest head.

One tree per log whatever the number of replicas: :meth:`TransparencyLog.extend` runs in one
transaction that first locks the ``audit_tree`` row (a row lock on PostgreSQL, the write lock on
SQLite), then reads the frontier, appends the leaves after it and signs; a second replica waits and
then continues from the first one's frontier. Leaves and head commit together, so a head is never
signed without all its leaves, and a crash in between leaves nothing. Heads kept by older versions
in files (``<data dir>/<service>/transparency/heads.jsonl``, ``leaves.bin``, ``state.json``) are
imported once at start-up (heads whose signature checks; leaves only if they give the signed
root), and the files renamed ``*.migrated``.

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
from shared.proofcheck import checkpoint_text, event_leaf_hash, leaf_data, log_id, public_key, sign_note
from shared.store import SqlStore, open_store

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


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS audit_leaves (position BIGINT PRIMARY KEY, leaf_hash {blob} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_heads (tree_size BIGINT NOT NULL, timestamp_ms BIGINT NOT NULL, "
    "head TEXT NOT NULL, note TEXT NOT NULL, PRIMARY KEY (tree_size, timestamp_ms))",
    "CREATE TABLE IF NOT EXISTS audit_tree (name TEXT PRIMARY KEY, frontier TEXT NOT NULL, "
    "head TEXT NOT NULL)",
)
_LEGACY = ("heads.jsonl", "leaves.bin", "state.json")


class TransparencyLog:
    """The signer and proof server of one service's log (see the module docstring).

    ``extend()`` signs what is new; ``start()`` runs it every ``interval`` seconds in a daemon
    thread. Proof methods read ``audit_leaves`` (never the event store) and serve only signed
    sizes. ``store`` defaults to the service's ``transparency`` store; ``directory`` is where
    file-based heads of older versions are looked for (default
    ``<data dir>/<service>/transparency``).
    """

    def __init__(self, app: Any, keys: Any, directory: Path | None = None,
                 interval: float = 1.0, store: SqlStore | None = None) -> None:
        self.app, self.service, self.interval = app, app.service, interval
        self.store = store or open_store(app.settings, self.service, "transparency")
        self.origin = app.settings.origin(self.service)
        self.key = ensure_signing_key(keys, self.service)
        self.legacy_dir = Path(directory or app.settings.data_dir / self.service / "transparency")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._alarm = ""
        self._size = 0
        for statement in _SCHEMA:
            self.store.execute(statement.format(blob=self.store.blob))
        self.store.execute("INSERT INTO audit_tree (name, frontier, head) VALUES ('log', ?, '') "
                           "ON CONFLICT (name) DO NOTHING", (json.dumps(merkle.MerkleLog().to_dict()),))
        migrated = False
        with self._lock, self.store.transaction() as tx:
            tree, head = self._locked_state(tx)
            if head is None and (self.legacy_dir / "heads.jsonl").exists():
                tree, head = self._migrate(tx)
                migrated = True
            if head is None:
                self._sign(tx, tree)
        if migrated:
            for name in _LEGACY:
                if (self.legacy_dir / name).exists():
                    os.replace(self.legacy_dir / name, self.legacy_dir / f"{name}.migrated")

    # -------------------------------------------------------------- state
    def _locked_state(self, tx: SqlStore) -> tuple[merkle.MerkleLog, dict[str, Any] | None]:
        """Lock the tree row (until the transaction ends) and read the frontier and latest head."""
        tx.execute("UPDATE audit_tree SET head = head WHERE name = 'log'")
        frontier, head = tx.execute("SELECT frontier, head FROM audit_tree WHERE name = 'log'")[0]
        tree = merkle.MerkleLog.from_dict(json.loads(frontier))
        self._size = tree.size
        return tree, json.loads(head) if head else None

    @property
    def head(self) -> dict[str, Any] | None:
        """The latest signed head (whichever replica signed it), or None before the first."""
        rows = self.store.execute("SELECT head FROM audit_tree WHERE name = 'log'")
        return json.loads(rows[0][0]) if rows and rows[0][0] else None

    def _migrate(self, tx: SqlStore) -> tuple[merkle.MerkleLog, dict[str, Any] | None]:
        """Import file-based heads (signature checked) and, if they give the signed root, leaves."""
        pub, kept = self.key.public_key(), []
        for line in (self.legacy_dir / "heads.jsonl").read_text().splitlines():
            try:
                head = json.loads(line)
            except ValueError:
                continue
            if head.get("log_id") == log_id(self.service) and merkle.verify_tree_head(pub, head):
                kept.append(head)
        for head in kept:
            self._keep(tx, head)
        tree, latest = merkle.MerkleLog(), None
        try:
            state = json.loads((self.legacy_dir / "state.json").read_text())
            frontier = merkle.MerkleLog.from_dict(state["frontier"])
            data = (self.legacy_dir / "leaves.bin").read_bytes()[:frontier.size * HASH]
            leaves = [data[i:i + HASH] for i in range(0, len(data), HASH)]
            candidate = merkle.MerkleLog()
            for h in leaves:
                candidate.append_leaf_hash(h)
            match = [h for h in kept if h["tree_size"] == candidate.size
                     and h["root_hash"] == candidate.root().hex()]
            if candidate.size == frontier.size and match:
                tx.executemany("INSERT INTO audit_leaves (position, leaf_hash) VALUES (?, ?)",
                               [(i + 1, h) for i, h in enumerate(leaves)])
                tree, latest = candidate, match[-1]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        if latest is None:
            log.error("audit: file-based leaves do not give a kept head; re-signing from the "
                      "events (heads kept: %d)", len(kept))
            return tree, None
        tx.execute("UPDATE audit_tree SET frontier = ?, head = ? WHERE name = 'log'",
                   (json.dumps(tree.to_dict()), json.dumps(latest, sort_keys=True)))
        self._size = tree.size
        log.info("audit: imported %d file-based heads and %d leaves", len(kept), tree.size)
        return tree, latest

    # -------------------------------------------------------------- signing
    def _note(self, head: dict[str, Any]) -> str:
        return sign_note(checkpoint_text(self.origin, int(head["tree_size"]),
                                         bytes.fromhex(head["root_hash"])), self.origin, self.key)

    def _keep(self, tx: SqlStore, head: dict[str, Any]) -> None:
        tx.execute("INSERT INTO audit_heads (tree_size, timestamp_ms, head, note) VALUES (?, ?, ?, ?)"
                   " ON CONFLICT (tree_size, timestamp_ms) DO NOTHING",
                   (head["tree_size"], head["timestamp_ms"], json.dumps(head, sort_keys=True),
                    self._note(head)))

    def _sign(self, tx: SqlStore, tree: merkle.MerkleLog) -> dict[str, Any]:
        head = merkle.sign_tree_head(self.key, log_id(self.service), tree.size,
                                     tree.root(), int(time.time() * 1000))
        self._keep(tx, head)
        tx.execute("UPDATE audit_tree SET frontier = ?, head = ? WHERE name = 'log'",
                   (json.dumps(tree.to_dict()), json.dumps(head, sort_keys=True)))
        self._size = tree.size
        return head

    def _refuse(self, reason: str, position: int) -> None:
        if reason != self._alarm:
            log.error("audit: not signing past position %d: %s", position, reason)
            self._alarm = reason

    def _new_leaves(self, start: int) -> list[bytes]:
        """Leaf hashes of the events after ``start`` (up to PAGE), stopping at a gap or forgery."""
        batch: list[bytes] = []
        for note in self.app.recorder.select_notifications(
                start=start, limit=PAGE, inclusive_of_start=False):
            position = start + len(batch) + 1
            if note.id != position:
                self._refuse(f"event {position} is missing", start + len(batch))
                break
            try:
                self.app.mapper.to_domain_event(note)
            except Exception:  # noqa: BLE001 - a row the service never wrote
                self._refuse(f"event {position} does not decrypt/decode (forged?)",
                             start + len(batch))
                break
            batch.append(merkle.leaf_hash(leaf_data(
                note.id, str(note.originator_id), note.originator_version, note.topic,
                note.state)))
        return batch

    def extend(self) -> dict[str, Any]:
        """Sign the events recorded since the last head (if any); return the latest head."""
        head = self.head
        if head is not None and self.app.max_position() <= int(head["tree_size"]):
            self._size = int(head["tree_size"])
            return head
        with self._lock, self.store.transaction() as tx:
            tree, head = self._locked_state(tx)
            grown = False
            while True:
                batch = self._new_leaves(tree.size)
                if batch:
                    tx.executemany("INSERT INTO audit_leaves (position, leaf_hash) VALUES (?, ?)",
                                   [(tree.size + i + 1, h) for i, h in enumerate(batch)])
                    for h in batch:
                        tree.append_leaf_hash(h)
                    grown = True
                if len(batch) < PAGE:
                    break
            if grown or head is None:
                head = self._sign(tx, tree)
            return head

    def checkpoint(self) -> str:
        """The C2SP checkpoint (signed note) of the latest head, signing new events first."""
        head = self.extend()
        rows = self.store.execute("SELECT note FROM audit_heads WHERE tree_size = ? AND "
                                  "timestamp_ms = ?", (head["tree_size"], head["timestamp_ms"]))
        return rows[0][0] if rows else self._note(head)

    def start(self) -> TransparencyLog:
        """Sign in a daemon thread every ``interval`` seconds while the log grows."""
        def run() -> None:
            while not self._stop.wait(self.interval):
                try:
                    if self.app.max_position() > self._size:
                        self.extend()
                except Exception as exc:  # noqa: BLE001 - keep signing while the store is open
                    if getattr(self.app, "closed", False):
                        return  # the application closed its stores: nothing left to sign
                    log.warning("audit: signing failed: %s", type(exc).__name__)
        threading.Thread(target=run, name=f"audit-{self.service}", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop the signing thread."""
        self._stop.set()

    # -------------------------------------------------------------- proofs
    def signed_size(self) -> int:
        """Size of the latest signed head."""
        head = self.head
        return int(head["tree_size"]) if head else 0

    def heads(self) -> list[dict[str, Any]]:
        """Every kept head, oldest first."""
        return [json.loads(h) for (h,) in self.store.execute(
            "SELECT head FROM audit_heads ORDER BY tree_size, timestamp_ms")]

    def kept_head(self, tree_size: int) -> dict[str, Any] | None:
        """The kept head of exactly ``tree_size`` (the latest such), or None."""
        rows = self.store.execute("SELECT head FROM audit_heads WHERE tree_size = ? "
                                  "ORDER BY timestamp_ms DESC LIMIT 1", (tree_size,))
        return json.loads(rows[0][0]) if rows else None

    def fetch(self, start: int, end: int) -> list[bytes]:
        """Signed leaf hashes ``[start, end)`` (0-based) from ``audit_leaves``."""
        return [bytes(h) for (h,) in self.store.execute(
            "SELECT leaf_hash FROM audit_leaves WHERE position > ? AND position <= ? "
            "ORDER BY position", (start, end))]

    def _checked_size(self, tree_size: int) -> int:
        signed = self.signed_size()
        size = tree_size or signed
        if not 0 <= size <= signed:
            raise ValueError(f"tree size {size} is not signed yet (latest {signed})")
        return size

    def inclusion(self, position: int, tree_size: int = 0) -> tuple[int, bytes, list[bytes]]:
        """``(tree_size, leaf_hash, audit_path)`` for the event at ``position`` (from 1)."""
        size = self._checked_size(tree_size)
        if not 1 <= position <= size:
            raise ValueError(f"position {position} is not in the signed tree of size {size}")
        return size, self.fetch(position - 1, position)[0], merkle.inclusion_proof(
            self.fetch, position - 1, size)

    def consistency(self, first: int, second: int = 0) -> tuple[int, list[bytes]]:
        """``(second_size, proof)`` that the tree of size ``first`` is a prefix of ``second``."""
        size = self._checked_size(second)
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
