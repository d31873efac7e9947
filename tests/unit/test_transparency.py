"""Verifiable logs (shared.transparency, shared.proofcheck) in-process: a real encrypted SQLite
event store, tampered directly in its ``stored_events`` table, heads and leaves kept in the
service's ``transparency`` store (restarts, file-based heads migrated once, two signers on one
store), and property tests of the verifier.
"""

from __future__ import annotations

import base64
import json
import random
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.domain import Aggregate, event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import merkle
from shared.app import LetheApplication
from shared.config import Settings
from shared.keysource import FileKeySource
from shared.proofcheck import PROOF_FORMAT, check_proof, event_leaf_hash, open_checkpoint, verifier_key
from shared.store import SqlStore
from shared.transparency import LocalSource, TransparencyLog, UndecodableEvent, published_keys, verify_log

N = 40
REPO = Path(__file__).resolve().parents[2]


class Note(Aggregate):
    """A tiny aggregate: one event per note."""

    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text


class NotesApp(LetheApplication):
    """A LetheApplication (AES-GCM store) named like a real service."""

    service = "ingestion"

    def write(self, n: int) -> None:
        for i in range(n):
            self.save(Note(text=f"note {i}"))


@pytest.fixture()
def env(tmp_path: Path) -> SimpleNamespace:
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
    keys = FileKeySource(settings.key_dir)
    app = NotesApp(settings, keys)
    app.write(N)
    tlog = TransparencyLog(app, keys)
    tlog.extend()
    db = settings.data_dir / "ingestion" / "events.db"
    key = published_keys(keys, ["ingestion"])["ingestion"]
    ns = SimpleNamespace(settings=settings, keys=keys, app=app, tlog=tlog, db=db, key=key)
    yield ns
    app.close()


def _verify(env: SimpleNamespace, checkpoint: dict | None = None, tlog: Any = None) -> Any:
    tlog = tlog or env.tlog
    return verify_log("ingestion", env.key, tlog.extend(), LocalSource(env.app, tlog), checkpoint)


def flip_byte(rowid: int, offset: int = 20) -> Any:
    """A tamper step: flip one bit of one byte of a stored event's bytes."""
    def step(con: sqlite3.Connection) -> None:
        (state,) = con.execute("SELECT state FROM stored_events WHERE rowid = ?",
                               (rowid,)).fetchone()
        state = bytearray(state)
        state[offset] ^= 1
        con.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (bytes(state), rowid))
    return step


def _sql(env: SimpleNamespace, *statements: Any) -> None:
    con = sqlite3.connect(env.db)
    with con:
        for s in statements:
            s(con) if callable(s) else con.execute(s)
    con.close()


def test_intact_log_verifies_and_yields_a_checkpoint(env: SimpleNamespace) -> None:
    out = _verify(env)
    assert out.problem is None and out.events == N and out.unsigned == 0
    assert out.checkpoint["head"]["tree_size"] == N
    assert merkle.MerkleLog.from_dict(out.checkpoint["frontier"]).root().hex() == \
        out.head["root_hash"]


def test_public_key_is_published_and_signs_heads(env: SimpleNamespace) -> None:
    assert (env.settings.key_dir / "audit" / "ingestion.pub").read_text().strip() == env.key
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    out = verify_log("ingestion", other, env.tlog.extend(), LocalSource(env.app, env.tlog))
    assert out.problem.kind == "HEAD_SIGNATURE_INVALID"


TAMPERS = {
    "flip_state_byte": ([flip_byte(7)], "EVENT_UNDECODABLE", 7),
    "edit_version": (["UPDATE stored_events SET originator_version = 5 WHERE rowid = 7"],
                     "EVENT_ALTERED", 7),
    "delete": (["DELETE FROM stored_events WHERE rowid = 7"], "EVENT_MISSING", 7),
    "swap": (["UPDATE stored_events SET rowid = -1 WHERE rowid = 5",
              "UPDATE stored_events SET rowid = 5 WHERE rowid = 9",
              "UPDATE stored_events SET rowid = 9 WHERE rowid = -1"], "EVENT_ALTERED", 5),
    "insert_replayed": (["UPDATE stored_events SET rowid = -rowid WHERE rowid > 11",
                         "UPDATE stored_events SET rowid = 1 - rowid WHERE rowid < 0",
                         "INSERT INTO stored_events (rowid, originator_id, originator_version, "
                         "topic, state) SELECT 12, originator_id, 2, topic, state "
                         "FROM stored_events WHERE rowid = 3"], "EVENT_ALTERED", 12),
    "forge_append": ([f"INSERT INTO stored_events (rowid, originator_id, originator_version, "
                      f"topic, state) SELECT {N + 1}, 'f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0', 1, "
                      f"topic, randomblob(80) FROM stored_events WHERE rowid = 1"],
                     "EVENT_UNDECODABLE", N + 1),
    "truncate": ([f"DELETE FROM stored_events WHERE rowid > {N - 3}"], "LOG_TRUNCATED", N - 2),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tamper_is_detected_at_its_position(env: SimpleNamespace, name: str) -> None:
    statements, kind, position = TAMPERS[name]
    _sql(env, *statements)
    env.tlog.extend()  # the service's signer runs after the tamper: it must not sign it away
    out = _verify(env)
    assert (out.problem.kind, out.problem.position) == (kind, position), out.problem


def test_signer_refuses_forged_and_gapped_rows(env: SimpleNamespace) -> None:
    _sql(env, *TAMPERS["forge_append"][0])
    assert env.tlog.extend()["tree_size"] == N
    env.app.write(1)  # a real event after the forged one stays unsigned too
    assert env.tlog.extend()["tree_size"] == N


def test_altered_leaf_table_still_names_the_range(env: SimpleNamespace) -> None:
    _sql(env, *TAMPERS["swap"][0])
    (leaf,) = env.tlog.store.execute("SELECT leaf_hash FROM audit_leaves WHERE position = 5")[0]
    env.tlog.store.execute("UPDATE audit_leaves SET leaf_hash = ? WHERE position = 5",
                           (bytes([leaf[0] ^ 1]) + bytes(leaf[1:]),))
    out = _verify(env)
    assert (out.problem.kind, out.problem.position) == ("LOG_ALTERED", 1)


def test_incremental_from_checkpoint_and_forked_history(env: SimpleNamespace,
                                                        tmp_path: Path) -> None:
    cp = _verify(env).checkpoint
    env.app.write(5)
    out = _verify(env, cp)
    assert out.problem is None and out.events == 5 and out.checkpoint["head"]["tree_size"] == N + 5
    # An attacker with the signing key rewrites event 3 and re-signs everything from scratch.
    _sql(env, *TAMPERS["swap"][0])
    forked = TransparencyLog(env.app, env.keys, store=SqlStore(str(tmp_path / "fork.db")))
    out = _verify(env, cp, tlog=forked)
    assert (out.problem.kind, out.problem.position) == ("HISTORY_REWRITTEN", N)
    assert _verify(env, None, tlog=forked).problem is None  # without a checkpoint: undetectable


def test_truncation_below_checkpoint(env: SimpleNamespace, tmp_path: Path) -> None:
    cp = _verify(env).checkpoint
    _sql(env, f"DELETE FROM stored_events WHERE rowid > {N - 3}")
    out = _verify(env, cp)  # the service's own (honest) head: the anchor event is gone
    assert (out.problem.kind, out.problem.position) == ("LOG_TRUNCATED", N - 2)
    fresh = TransparencyLog(env.app, env.keys, store=SqlStore(str(tmp_path / "fresh.db")))
    out = _verify(env, cp, tlog=fresh)  # a re-signed, shorter head
    assert (out.problem.kind, out.problem.position) == ("LOG_TRUNCATED", N - 2)


def test_heads_are_kept_and_consistent(env: SimpleNamespace) -> None:
    first = env.tlog.head
    env.app.write(3)
    second = env.tlog.extend()
    assert env.tlog.kept_head(N) == first
    size, proof = env.tlog.consistency(N, N + 3)
    assert merkle.verify_consistency(N, size, bytes.fromhex(first["root_hash"]),
                                     bytes.fromhex(second["root_hash"]), proof)
    assert [h["tree_size"] for h in env.tlog.heads()] == [0, N, N + 3]  # empty tree signed first


def test_restart_keeps_head_history_and_resumes(env: SimpleNamespace) -> None:
    before = env.tlog.heads()
    env.tlog.store.close()  # the process ends; its data dir files are not needed
    for f in (env.settings.data_dir / "ingestion").glob("transparency*"):
        assert f.name.startswith("transparency.db")  # nothing else is kept under the data dir
    again = TransparencyLog(env.app, env.keys)
    assert again.heads() == before and again.head == before[-1]
    env.app.write(2)
    assert again.extend()["tree_size"] == N + 2
    assert _verify(env, tlog=again).problem is None


def test_a_crash_before_commit_leaves_no_unsigned_leaves(env: SimpleNamespace) -> None:
    env.app.write(3)

    def crash(*_: Any) -> None:
        raise RuntimeError("power cut")

    env.tlog._sign = crash  # leaves are inserted, then the process dies before signing
    with pytest.raises(RuntimeError):
        env.tlog.extend()
    rows = env.tlog.store.execute("SELECT count(*) FROM audit_leaves")[0][0]
    assert rows == N and env.tlog.signed_size() == N


def test_two_signers_on_one_store_grow_one_tree(env: SimpleNamespace) -> None:
    other = TransparencyLog(env.app, env.keys)  # a second replica: same store, same key
    for k in range(6):
        env.app.write(k + 1)
        (env.tlog if k % 2 else other).extend()
    heads = env.tlog.heads()
    assert [h["tree_size"] for h in heads] == sorted({h["tree_size"] for h in heads})
    assert env.tlog.head == other.head and env.tlog.signed_size() == N + 21
    for a, b in zip(heads, heads[1:]):
        size, proof = env.tlog.consistency(a["tree_size"], b["tree_size"])
        assert merkle.verify_consistency(a["tree_size"], size, bytes.fromhex(a["root_hash"]),
                                         bytes.fromhex(b["root_hash"]), proof)
    assert _verify(env, tlog=other).problem is None


def test_file_based_heads_are_migrated_once(env: SimpleNamespace, tmp_path: Path) -> None:
    legacy = env.settings.data_dir / "ingestion" / "transparency"
    legacy.mkdir(parents=True)
    heads = env.tlog.heads()
    leaves = b"".join(env.tlog.fetch(0, N))
    state = {"frontier": _frontier([leaves[i:i + 32] for i in range(0, len(leaves), 32)]),
             "head": heads[-1]}
    forged = {**heads[-1], "tree_size": 7}  # a head the key never signed is not imported
    (legacy / "heads.jsonl").write_text("".join(json.dumps(h) + "\n" for h in [*heads, forged]))
    (legacy / "leaves.bin").write_bytes(leaves)
    (legacy / "state.json").write_text(json.dumps(state))
    store = SqlStore(str(tmp_path / "new.db"))
    moved = TransparencyLog(env.app, env.keys, store=store)
    assert moved.heads() == heads and moved.head == heads[-1]
    assert moved.fetch(0, N) == env.tlog.fetch(0, N)
    assert sorted(p.name for p in legacy.iterdir()) == [
        "heads.jsonl.migrated", "leaves.bin.migrated", "state.json.migrated"]
    env.app.write(1)
    assert moved.extend()["tree_size"] == N + 1 and _verify(env, tlog=moved).problem is None


def test_migration_with_altered_leaf_file_resigns_from_the_events(env: SimpleNamespace,
                                                                   tmp_path: Path) -> None:
    legacy = env.settings.data_dir / "ingestion" / "transparency"
    legacy.mkdir(parents=True)
    heads = env.tlog.heads()
    (legacy / "heads.jsonl").write_text("".join(json.dumps(h) + "\n" for h in heads))
    (legacy / "leaves.bin").write_bytes(b"\x01" * 32 * N)
    (legacy / "state.json").write_text(json.dumps({"frontier": {"size": 0, "frontier": []}}))
    moved = TransparencyLog(env.app, env.keys, store=SqlStore(str(tmp_path / "new.db")))
    head = moved.extend()
    assert head["tree_size"] == N and head["root_hash"] == heads[-1]["root_hash"]
    assert _verify(env, tlog=moved).problem is None


def test_checkpoint_note_matches_the_signed_head(env: SimpleNamespace) -> None:
    env.app.write(2)
    note = env.tlog.checkpoint()
    head = env.tlog.head
    vkey = verifier_key(env.settings.origin("ingestion"), bytes.fromhex(env.key))
    cp = open_checkpoint(note, vkey)
    assert (cp.origin, cp.size, cp.root_hash.hex()) == (
        "lethe.local/lethe/ingestion", N + 2, head["root_hash"])


def _proof_doc(env: SimpleNamespace, positions: list[int]) -> dict[str, Any]:
    head = env.tlog.extend()
    events = []
    for e in env.app.read_events():
        if e.position in positions:
            size, _, path = env.tlog.inclusion(e.position)
            events.append({"service": "ingestion", "position": e.position, "event": e.event_type,
                           "id": e.originator_id, "version": e.originator_version,
                           "topic": e.topic, "attributes": e.attributes,
                           "stored_state": base64.b64encode(e.stored_state).decode(),
                           "tree_size": size, "inclusion_proof": [h.hex() for h in path]})
    return {"format": PROOF_FORMAT, "subject": {}, "public_keys": {"ingestion": env.key},
            "tree_heads": {"ingestion": head}, "events": events}


def test_proof_document_checks_offline(env: SimpleNamespace, tmp_path: Path) -> None:
    doc = _proof_doc(env, [1, 17, N])
    assert check_proof(doc) == []
    assert check_proof(doc, {"ingestion": env.key}) == []
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(doc))
    proc = subprocess.run([sys.executable, "-m", "shared.proofcheck", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("ok: 3 events"), proc.stderr
    bad = json.loads(json.dumps(doc))
    bad["events"][1]["version"] += 1
    assert any("not included" in p for p in check_proof(bad))
    bad = json.loads(json.dumps(doc))
    bad["events"][0]["event"] = "Deleted"
    assert any("event name" in p for p in check_proof(bad))
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    assert any("not validly signed" in p for p in check_proof(doc, {"ingestion": other}))
    path.write_text(json.dumps(bad))
    proc = subprocess.run([sys.executable, "-m", "shared.proofcheck", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1


# ------------------------------------------------------------------ property tests (no store)
class ListSource:
    """A LogSource over a list of events, serving proofs of the *original* leaves."""

    def __init__(self, events: list[Any], signed_leaves: list[bytes]) -> None:
        self.evs, self.leaves = events, signed_leaves

    def events(self, after: int) -> Any:
        for e in self.evs:
            if e.position > after:
                if e.stored_state == b"!undecodable":
                    raise UndecodableEvent()
                yield e

    def consistency(self, first: int, second: int) -> list[bytes]:
        return merkle.consistency_proof(self.leaves, first, second)

    def leaf_hashes(self, after: int, limit: int) -> Any:
        return iter(self.leaves[after:after + limit])


def _ev(position: int, content: int) -> SimpleNamespace:
    return SimpleNamespace(position=position, originator_id=f"id-{content}",
                           originator_version=1, topic="t:Written",
                           stored_state=content.to_bytes(4, "big"))


KEY = Ed25519PrivateKey.generate()
KEY_HEX = KEY.public_key().public_bytes_raw().hex()
props = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


@props
@given(n=st.integers(1, 70), op=st.sampled_from(["flip", "delete", "swap", "insert", "truncate",
                                                   "undecodable"]),
       data=st.data())
def test_first_tampered_position_is_named(n: int, op: str, data: st.DataObject) -> None:
    original = [_ev(p, p) for p in range(1, n + 1)]
    leaves = [event_leaf_hash(e) for e in original]
    head = merkle.sign_tree_head(KEY, "lethe/vault", n, merkle.root_from_leaf_hashes(leaves), 1)
    i = data.draw(st.integers(0, n - 1))
    log = list(original)
    if op == "flip":
        log[i] = _ev(i + 1, 10_000 + i)
    elif op == "delete":
        del log[i]
    elif op == "swap":
        j = data.draw(st.integers(0, n - 1))
        i, j = min(i, j), max(i, j)
        log[i], log[j] = _ev(i + 1, j + 1), _ev(j + 1, i + 1)
    elif op == "insert":
        log = log[:i] + [_ev(i + 1, 99_999)] + [_ev(e.position + 1, e.position) for e in log[i:]]
    elif op == "truncate":
        log = log[:i]
    else:
        log[i] = SimpleNamespace(**{**vars(log[i]), "stored_state": b"!undecodable"})
    changed = next((k for k, (a, b) in enumerate(zip(original, log))
                    if vars(a) != vars(b)), min(len(original), len(log)))
    out = verify_log("vault", KEY_HEX, head, ListSource(log, leaves))
    if changed >= n:  # nothing changed in the signed prefix (e.g. swap of i with itself)
        assert out.problem is None
    else:
        assert out.problem is not None and out.problem.position == changed + 1, (op, out.problem)
    # and incrementally, from a checkpoint taken at a random earlier signed size
    m = data.draw(st.integers(0, n))
    cp = {"head": merkle.sign_tree_head(KEY, "lethe/vault", m,
                                        merkle.root_from_leaf_hashes(leaves[:m]), 0),
          "frontier": _frontier(leaves[:m]), "last_leaf": leaves[m - 1].hex() if m else ""}
    out = verify_log("vault", KEY_HEX, head, ListSource(log, leaves), cp)
    if changed >= n or changed < m:
        assert out.problem is None or changed < m
    else:
        assert out.problem.position == changed + 1, (op, m, out.problem)


def _frontier(leaves: list[bytes]) -> dict[str, Any]:
    t = merkle.MerkleLog()
    for h in leaves:
        t.append_leaf_hash(h)
    return t.to_dict()


@props
@given(sizes=st.lists(st.integers(0, 40), min_size=2, max_size=5))
def test_signed_heads_at_any_sizes_are_consistent(sizes: list[int]) -> None:
    leaves = [merkle.leaf_hash(bytes([k])) for k in range(max(sizes))]
    sizes = sorted(sizes)
    for a, b in zip(sizes, sizes[1:]):
        proof = merkle.consistency_proof(leaves, a, b)
        assert merkle.verify_consistency(a, b, merkle.root_from_leaf_hashes(leaves[:a]),
                                         merkle.root_from_leaf_hashes(leaves[:b]), proof)


def test_random_tree_inclusion_round_trip() -> None:
    rng = random.Random(5)
    leaves = [merkle.leaf_hash(rng.randbytes(8)) for _ in range(300)]
    root = merkle.root_from_leaf_hashes(leaves)
    for i in rng.sample(range(300), 30):
        assert merkle.verify_inclusion(leaves[i], i, 300, merkle.inclusion_proof(leaves, i), root)


def test_the_signing_thread_stops_quietly_when_its_application_closes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A log whose application closed its stores stops signing without a warning (the shutdown of
    every service and test used to print ``audit: signing failed: ...``)."""
    import logging
    import threading

    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
    keys = FileKeySource(settings.key_dir)
    app = NotesApp(settings, keys)
    tlog = TransparencyLog(app, keys, interval=0.02).start()
    app.write(3)
    with caplog.at_level(logging.WARNING, logger="lethe"):
        app.write(2)  # new events for the thread to sign after the close
        app.close()
        threading.Event().wait(0.3)
    tlog.stop()
    assert not [r for r in caplog.records if "signing failed" in r.getMessage()]
