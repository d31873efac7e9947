"""Partial erasure against the real services: legal holds keep exactly the categories the policy
lets them preserve, everything else of the subject is erased at once (even from a backup taken
before), the held part is erased when its holds are released, and an erasure covers whatever
was received before it completed."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from cli.main import _rights, erase_account, resolve_subject
from cli.sample import generate
from services.vault.keys import KeyDestroyed, KeyHierarchy
from shared.gen.lethe.v1 import rights_pb2
from shared.keysource import FileKeySource
from shared.policy import load_policy
from shared.store import SqlStore
from tests.conftest import Deployment

POLICY = load_policy()
UTC = dt.timezone.utc


def _ingest(dep: Deployment, tmp_path: Path, accounts: int, lines: int, seed: int) -> list[dict[str, Any]]:
    sample = list(generate(accounts, lines, seed=seed))
    path = tmp_path / f"sample-{seed}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in sample))
    dep.lethe("ingest", str(path))
    return sample


def _export(dep: Deployment, tmp_path: Path, account: str) -> dict[str, Any]:
    out = tmp_path / f"export-{uuid.uuid4().hex}.json"
    dep.lethe("rights", "access", account, "--out", str(out))
    return json.loads(out.read_text())


def _view(dep: Deployment, request_id: str) -> Any:
    _, _, stub = _rights(dep.data_dir, dep.key_dir)
    return stub.GetRequest(rights_pb2.GetRequestRequest(request_id=request_id), timeout=30).request


def _hold(dep: Deployment, reason: str, **target: str) -> str | None:
    """Place a hold; the hold id, or None when retention refuses it (it could keep nothing)."""
    args = [f"--{k}={v}" for k, v in target.items()]
    proc = dep.lethe("retention", "hold", "place", "--reason", reason, *args, check=False)
    if proc.returncode != 0:
        assert b"preserves none of its target's categories" in proc.stderr, proc.stderr
        return None
    return proc.stdout.decode().strip().splitlines()[-1]


def _backup_vault(dep: Deployment, to: Path) -> Path:
    """A consistent online copy of vault/keys.db and vault/records.db."""
    to.mkdir(parents=True)
    for name in ("keys.db", "records.db"):
        src, dst = sqlite3.connect(dep.data_dir / "vault" / name), sqlite3.connect(to / name)
        src.backup(dst)
        src.close()
        dst.close()
    return to


def _openable_groups(dep: Deployment, keys_db: Path, ref: str, tmp_path: Path) -> dict[str, bool]:
    """For every wrapped DEK of ``ref`` in a copy of keys.db: does it unwrap with the live keys?"""
    probe = tmp_path / f"probe-{uuid.uuid4().hex}.db"
    src, dst = sqlite3.connect(keys_db), sqlite3.connect(probe)
    src.backup(dst)
    src.close()
    dst.close()
    hierarchy = KeyHierarchy(FileKeySource(dep.key_dir), SqlStore(str(probe)))
    out: dict[str, bool] = {}
    for generation, group in hierarchy.store.execute(
            "SELECT generation, grp FROM deks WHERE subject_ref=?", (ref,)):
        try:
            hierarchy.dek(ref, int(generation), group)
            out[group] = True
        except KeyDestroyed:
            out.setdefault(group, False)
    hierarchy.store.close()
    return out


def _wait(predicate: Any, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_a_security_hold_keeps_metadata_erases_content_and_its_release_erases_the_rest(
        sqlite_deployment: Deployment, tmp_path: Path) -> None:
    dep = sqlite_deployment
    lines = _ingest(dep, tmp_path, 3, 30, seed=71)
    victim = lines[0]["account_id"]
    ref = resolve_subject(victim, dep.data_dir, dep.key_dir)
    before = _export(dep, tmp_path, victim)
    assert {"user.content", "system.operations"} <= {r["category"] for r in before["records"]}
    hold = _hold(dep, "security_investigation", account=victim)
    assert hold
    backup = _backup_vault(dep, tmp_path / "backup")

    result = erase_account(victim, dep.data_dir, dep.key_dir)
    view = _view(dep, result["request_id"])
    assert view.state == rights_pb2.REQUEST_STATE_FULFILLED
    assert list(view.preserved_categories) == ["system.operations"] and view.held_pending
    assert "GDPR Art. 17(3)(b)" in view.reason and "system.operations" in view.reason
    # live: content gone, metadata readable
    after = _export(dep, tmp_path, victim)
    assert {r["category"] for r in after["records"]} == {"system.operations"}
    assert all("content" not in i and "redacted_content" not in i for i in after["interactions"])
    # the pre-erasure backup: the content DEK opens with no live key, the metadata DEK does
    groups = _openable_groups(dep, backup / "keys.db", ref, tmp_path)
    assert groups["user.content"] is False and groups["system.operations"] is True
    assert not any(v for g, v in groups.items() if g != "system.operations")
    # reading the held metadata after the partial erasure is no violation
    audit = dep.lethe("audit", "verify", check=False)
    assert audit.returncode == 0, audit.stdout.decode() + audit.stderr.decode()

    dep.lethe("retention", "hold", "release", hold)
    _wait(lambda: not _view(dep, result["request_id"]).held_pending)
    assert _export(dep, tmp_path, victim)["records"] == []
    assert not any(_openable_groups(dep, backup / "keys.db", ref, tmp_path).values())
    assert dep.lethe("audit", "verify", check=False).returncode == 0


def test_a_litigation_hold_denies_the_erasure_citing_legal_claims(
        sqlite_deployment: Deployment, tmp_path: Path) -> None:
    dep = sqlite_deployment
    lines = _ingest(dep, tmp_path, 2, 10, seed=72)
    account = lines[0]["account_id"]
    assert _hold(dep, "litigation", account=account)
    result = erase_account(account, dep.data_dir, dep.key_dir)
    assert result["state"] == "denied" and "GDPR Art. 17(3)(e)" in result["reason"]
    assert _export(dep, tmp_path, account)["records"]


SCOPES = ("subject", "record", "category")


def _expected(holds: list[tuple[str, str, str | None]], live: set[str]) -> tuple[str, set[str]]:
    """What the policy says: (state, preserved categories) for the accepted holds, each
    (reason, scope, record category or None)."""
    preserved: set[str] = set()
    for reason, scope, record_category in holds:
        if scope == "category":
            continue  # category-wide holds extend retention only; they block no erasure
        scope_categories = live if scope == "subject" else {record_category}
        preserved |= {c for c in scope_categories if POLICY.hold_reason(reason).preserves_category(c)}
    if preserved and preserved >= live:
        return "denied", preserved
    return "fulfilled", preserved


def test_the_outcome_of_every_hold_combination_is_what_the_policy_says(
        sqlite_deployment: Deployment, tmp_path: Path) -> None:
    dep = sqlite_deployment
    singles = list(itertools.product(POLICY.hold_reason_names(), SCOPES))
    combos = [[s] for s in singles] + [list(p) for p in itertools.combinations(
        [s for s in singles if s[1] != "category"], 2)][::5]
    lines = _ingest(dep, tmp_path, len(combos), len(combos) * 6, seed=73)
    accounts = list(dict.fromkeys(line["account_id"] for line in lines))
    assert len(accounts) >= len(combos)
    placed_category_holds = []
    for account, combo in zip(accounts, combos):
        export = _export(dep, tmp_path, account)
        live = {r["category"] for r in export["records"]}
        accepted: list[tuple[str, str, str | None]] = []
        for reason, scope in combo:
            if scope == "subject":
                hold = _hold(dep, reason, account=account)
                category = None
            elif scope == "record":
                records = sorted(export["records"], key=lambda r: (
                    not POLICY.hold_reason(reason).preserves_category(r["category"]), r["record_id"]))
                hold, category = _hold(dep, reason, record=records[0]["record_id"]), records[0]["category"]
            else:
                category = sorted(live)[0]
                hold = _hold(dep, reason, category=category)
                if hold:
                    placed_category_holds.append(hold)
            target = live if scope == "subject" else {category}
            may_keep = any(POLICY.hold_reason(reason).preserves_category(c) for c in target)
            assert bool(hold) == may_keep, f"{reason} on {scope} {sorted(target)}: refused iff it keeps nothing"
            if hold:
                accepted.append((reason, scope, category))
        state, preserved = _expected(accepted, live)
        result = erase_account(account, dep.data_dir, dep.key_dir)
        view = _view(dep, result["request_id"])
        label = f"{combo} on {sorted(live)}"
        assert result["state"] == state, label
        if state == "fulfilled":
            assert set(view.preserved_categories) == preserved, label
            left = {r["category"] for r in _export(dep, tmp_path, account)["records"]}
            assert left == preserved, label
        else:
            bases = {POLICY.hold_reason(r).legal_basis for r, s, _ in accepted if s != "category"}
            assert all(b in result["reason"] for b in bases), label
    for hold in placed_category_holds:
        dep.lethe("retention", "hold", "release", hold)


def _ingest_stub(dep: Deployment) -> tuple[Any, Any]:
    from shared.clients import Peers
    from shared.config import load_settings
    from shared.gen.lethe.v1 import ingestion_pb2_grpc
    settings = load_settings(dep.data_dir, dep.key_dir)
    keys = FileKeySource(settings.key_dir)
    peers = Peers(settings, keys, "client" if keys.exists("tls/client.pem") else "operator")
    return ingestion_pb2_grpc.IngestionServiceStub(peers.channel("ingestion")), peers


def test_interactions_received_while_an_erasure_runs_are_erased_with_it(
        sqlite_deployment: Deployment) -> None:
    """An account keeps sending interactions while it is erased: after fulfilment its access
    export holds none whose ingest reply came before the request's closed_at (the erasure's
    cut-off), wherever they were in the pipeline when the first shred happened."""
    from shared.gen.lethe.v1 import ingestion_pb2
    dep = sqlite_deployment
    stub, peers = _ingest_stub(dep)
    account = f"acct-inflight-{uuid.uuid4().hex[:8]}"
    replies: list[tuple[str, dt.datetime]] = []  # (prompt, when its reply arrived)
    stop = threading.Event()

    def feed() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            prompt = f"In flight question {n} {uuid.uuid4().hex[:6]}?"
            item = ingestion_pb2.Interaction(
                sequence=n, account_id=account, session_hint="s-1", client_ip="203.0.113.9",
                user_agent="Mozilla/5.0", region="EU", kind="interaction", prompt=prompt,
                response=f"Answer {n}.")
            item.occurred_at.FromDatetime(dt.datetime.now(UTC).replace(tzinfo=None))
            stub.Ingest(ingestion_pb2.IngestRequest(interactions=[item]), timeout=60)
            replies.append((prompt, dt.datetime.now(UTC)))

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        _wait(lambda: len(replies) >= 5)
        result = erase_account(account, dep.data_dir, dep.key_dir)
        time.sleep(1.0)  # the account keeps going after the erasure: a new generation
    finally:
        stop.set()
        feeder.join()
        peers.close()
    assert result["state"] == "fulfilled"
    closed_at = dt.datetime.fromisoformat(result["closed_at"])
    before = {p for p, at in replies if at < closed_at}
    assert len(before) >= 5
    exported = {i["content"]["prompt"] for i in _export(dep, Path(dep.data_dir).parent, account)
                ["interactions"] if "content" in i}
    assert not exported & before, f"{len(exported & before)} interactions survived the erasure"
