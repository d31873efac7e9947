"""SIGKILL of the real vault process at every write step of an erasure, then restart and retry.

The vault is started with a start-up hook (a ``sitecustomize`` on its PYTHONPATH, nothing in the
service's code) that counts the write steps of :meth:`KeyHierarchy.destroy_dek` (key-source puts and
destroys, ``keys.db`` writes, and the moment after it returns, before ``SubjectShredded`` is saved)
and SIGKILLs its own process at step k. For k = 1, 2, ... until an erasure completes without the
kill: erase one account through ``lethe rights erase``, restart the ordinary vault, rerun the CLI
until the request is fulfilled. Afterwards: every erasure fulfilled, ``lethe audit verify`` passes
(it includes ERASED_KEY_ALIVE), the accounts left are exported in full, and a copy of ``keys.db``
taken before the erasures unwraps no erased subject's DEK with the live key dir.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from cli.sample import generate
from services.vault.keys import KeyDestroyed, KeyHierarchy
from shared.crypto import subject_ref
from shared.keysource import FileKeySource
from shared.store import SqlStore
from tests.conftest import REPO, Deployment
from tests.e2e.test_kill_recovery import Cluster, _wait_for_erasures

HOOK = '''
import os
import signal

if os.environ.get("LETHE_TEST_KILL_AT"):
    from services.vault import keys as _keys
    from shared import keysource as _source, store as _store

    _at, _seen, _armed = int(os.environ["LETHE_TEST_KILL_AT"]), [0], [False]

    def _step():
        if _armed[0]:
            _seen[0] += 1
            if _seen[0] == _at:
                os.kill(os.getpid(), signal.SIGKILL)

    def _counted(cls, name, writes_only=False):
        inner = getattr(cls, name)
        def wrapper(self, *args, **kw):
            if not writes_only or str(args[0]).lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE"):
                _step()
            return inner(self, *args, **kw)
        setattr(cls, name, wrapper)

    for _name in ("put", "destroy"):
        _counted(_source.FileKeySource, _name)
    _counted(_store.SqlStore, "execute", writes_only=True)
    _counted(_store.SqlStore, "executemany")
    _counted(_store.SqlStore, "transaction")
    _method = os.environ.get("LETHE_TEST_KILL_IN", "destroy_dek")
    _inner = getattr(_keys.KeyHierarchy, _method)

    def armed(self, *args, **kw):
        _armed[0] = True
        try:
            out = _inner(self, *args, **kw)
            _step()  # done, nothing recorded or answered yet
            return out
        finally:
            _armed[0] = False
    setattr(_keys.KeyHierarchy, _method, armed)
'''


def _start_vault(cluster: Cluster, hook: Path, kill_at: int, method: str = "destroy_dek") -> None:
    """Start the vault with the hook: SIGKILL at write step ``kill_at`` of KeyHierarchy.``method``."""
    saved = dict(cluster.dep.env)
    cluster.dep.env.update({"PYTHONPATH": f"{hook}:{REPO}", "LETHE_TEST_KILL_AT": str(kill_at),
                            "LETHE_TEST_KILL_IN": method})
    try:
        cluster.start("vault")
    finally:
        cluster.dep.env.clear()
        cluster.dep.env.update(saved)


def _run_hooked(cluster: Cluster, *args: str) -> bool:
    """Run the CLI against the hooked vault; True when the vault was killed (then restarted)."""
    proc = cluster.cli(*args)
    vault = cluster.children["vault"]
    killed = False
    while proc.poll() is None and not killed:
        killed = vault.poll() is not None
        time.sleep(0.05)
    if not killed:  # the CLI may give up before the death is seen
        try:
            vault.wait(timeout=1.0)
            killed = True
        except subprocess.TimeoutExpired:
            pass
    if killed:  # restart the ordinary vault while the CLI still waits
        cluster.children.pop("vault")
        cluster.start("vault")
    proc.communicate(timeout=600)
    return killed


def _erase_until_fulfilled(dep: Deployment, cluster: Cluster, account: str, ref: str) -> bool:
    """Erase ``account`` with the hooked vault; True when the vault was killed on the way."""
    killed = _run_hooked(cluster, "rights", "erase", account)
    for _ in range(5):
        erasures = _wait_for_erasures(dep, 60)
        if any(r["subject_ref"] == ref and r["state"] == "fulfilled" for r in erasures):
            return killed
        dep.lethe("rights", "erase", account, check=False)
    raise AssertionError("the erasure is never fulfilled")


def _backup_keys_db(dep: Deployment, to: Path) -> None:
    src = sqlite3.connect(dep.data_dir / "vault" / "keys.db")
    dst = sqlite3.connect(to)
    src.backup(dst)
    src.close()
    dst.close()


def _ingest(dep: Deployment, tmp_path: Path, seed: int, accounts: int = 16) -> list[dict[str, Any]]:
    lines = list(generate(accounts, 10 * accounts, seed=seed))
    sample = tmp_path / "s.jsonl"
    sample.write_text("".join(json.dumps(line) + "\n" for line in lines))
    dep.lethe("ingest", str(sample))
    return lines


def _hook(tmp_path: Path) -> Path:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    return hook


def _exported_in_full(dep: Deployment, tmp_path: Path, lines: list[dict[str, Any]],
                      accounts: list[str]) -> None:
    for account in accounts:
        out = tmp_path / "export.json"
        for _ in range(30):  # services catching up after the vault's restart answer UNAVAILABLE
            if dep.lethe("rights", "access", account, "--out", str(out), check=False).returncode == 0:
                break
            time.sleep(1)
        export = json.loads(out.read_text())
        assert len(export["interactions"]) == sum(1 for line in lines if line["account_id"] == account)


def test_sigkill_of_the_vault_at_every_erasure_step_never_leaves_an_erased_key_alive(
        sqlite_deployment: Deployment, tmp_path: Path) -> None:
    dep = sqlite_deployment
    # One account per step: a generation has one DEK per key group, each destroyed in steps.
    lines = _ingest(dep, tmp_path, 57, accounts=40)
    backup = tmp_path / "keys-before.db"
    _backup_keys_db(dep, backup)
    hook = _hook(tmp_path)
    cluster = Cluster(dep)
    pepper = FileKeySource(dep.key_dir).get("pepper")
    accounts = list(dict.fromkeys(line["account_id"] for line in lines))
    erased: list[str] = []
    for k in range(1, len(accounts) - 2):
        cluster.kill("vault")
        _start_vault(cluster, hook, k)
        account = accounts[k - 1]
        erased.append(account)
        killed = _erase_until_fulfilled(dep, cluster, account, subject_ref(pepper, account))
        if not killed:
            break
    else:
        pytest.fail("more erasure steps than accounts")
    assert len(erased) > 4, "the hook saw too few steps"
    cluster.kill("vault")
    cluster.start("vault")
    erasures = _wait_for_erasures(dep)
    assert all(r["state"] == "fulfilled" for r in erasures)
    verify = dep.lethe("audit", "verify", "--json", check=False)
    assert verify.returncode == 0, verify.stdout.decode()[-2000:]
    _exported_in_full(dep, tmp_path, lines, accounts[len(erased):len(erased) + 3])
    dep.lethe("down")
    try:
        probe = tmp_path / "probe.db"
        shutil.copy(backup, probe)
        hierarchy = KeyHierarchy(FileKeySource(dep.key_dir), SqlStore(str(probe)))
        for account in erased:
            ref = subject_ref(pepper, account)
            generations = [g for (g,) in hierarchy.store.execute(
                "SELECT generation FROM deks WHERE subject_ref=?", (ref,))]
            assert generations
            for generation in generations:
                with pytest.raises(KeyDestroyed):
                    hierarchy.dek(ref, generation)
    finally:
        dep.lethe("up")
        cluster.close()


@pytest.mark.parametrize("method", ["rotate_root", "rotate_bucket"])
def test_sigkill_of_the_vault_at_every_rotation_step_loses_nothing(
        sqlite_deployment: Deployment, tmp_path: Path, method: str) -> None:
    dep = sqlite_deployment
    lines = _ingest(dep, tmp_path, 58 if method == "rotate_root" else 59)
    hook = _hook(tmp_path)
    cluster = Cluster(dep)
    pepper = FileKeySource(dep.key_dir).get("pepper")
    args = ["keys", "rotate", "--root"]
    if method == "rotate_bucket":  # one bucket that holds this sample's first account
        probe = KeyHierarchy.__new__(KeyHierarchy)  # bucket_of needs only the bucket count
        probe.buckets = 64
        bucket = probe.bucket_of(subject_ref(pepper, lines[0]["account_id"]), 1)
        args = ["keys", "rotate", "--bucket", str(bucket)]
    for k in range(1, 400):
        cluster.kill("vault")
        _start_vault(cluster, hook, k, method)
        killed = _run_hooked(cluster, *args)
        if killed:
            dep.lethe(*args)  # the retry, on the restarted ordinary vault
        else:
            break
    assert k > 3, "the hook saw too few steps"
    cluster.kill("vault")
    cluster.start("vault")
    accounts = list(dict.fromkeys(line["account_id"] for line in lines))
    _exported_in_full(dep, tmp_path, lines, accounts)
    keys = FileKeySource(dep.key_dir)
    assert len(keys.list("vault/root")) == 1
    cluster.close()
