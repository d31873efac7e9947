"""The five real services with ``LETHE_KEY_SOURCE=transit`` against a real OpenBao dev server.

The backup-restore and rotation guarantees of ``test_vault_guarantees.py`` with the bucket keys in
Transit, ``lethe audit verify`` (ERASED_KEY_ALIVE reads the Transit key versions), and an erasure
during a Transit outage: the vault reaches Transit through a proxy the test cuts, the erasure does
not complete (and nothing is reported erased) until Transit is back, then a retry finishes it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.sample import generate
from services.vault.keys import KeyDestroyed, KeyHierarchy
from shared.crypto import subject_ref
from shared.keysource import FileKeySource
from shared.store import SqlStore
from shared.transit import TransitBucketKeys
from tests.conftest import REPO, Deployment, _stop
from tests.e2e.test_vault_guarantees import _prompts, _write
from tests.openbao import Bao, running_bao


class Proxy:
    """A loopback TCP proxy to the Transit server that a test can cut and restore."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Refuse new connections and reset the open ones (Transit unreachable)."""
        self.open = False
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conns.clear()


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    with running_bao(tmp_path_factory.mktemp("bao") / "bao.log") as server:
        yield server


@pytest.fixture
def transit_deployment(bao: Bao, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """``lethe up`` with the bucket keys in a fresh Transit mount, reached through a cuttable proxy."""
    root = tmp_path_factory.mktemp("lethe-transit")
    mount = bao.new_mount()
    host, port = bao.address.removeprefix("http://").split(":")
    proxy = Proxy((host, int(port)))
    env = {**bao.env(mount), "VAULT_ADDR": f"http://127.0.0.1:{proxy.port}"}
    dep = Deployment(root / "var", root / "keys", "sqlite", env)
    dep.proxy = proxy  # type: ignore[attr-defined]
    dep.transit = TransitBucketKeys(bao.address, bao.token, mount)  # type: ignore[attr-defined]
    dep.lethe("up")
    try:
        yield dep
    finally:
        _stop(dep)


def _copy_keys_db(src: Path, dst: Path) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def test_with_transit_a_backup_taken_before_an_erasure_resurrects_nothing(
        transit_deployment: Deployment, tmp_path: Path) -> None:
    dep, transit = transit_deployment, transit_deployment.transit  # type: ignore[attr-defined]
    lines = list(generate(30, 300, seed=33))
    dep.lethe("ingest", str(_write(tmp_path / "s.jsonl", lines)))
    accounts = list(dict.fromkeys(line["account_id"] for line in lines))
    victim, survivor = accounts[0], accounts[1]
    dep.lethe("down")
    backup = tmp_path / "backup"
    shutil.copytree(dep.data_dir, backup)
    dep.lethe("up")
    dep.lethe("rights", "erase", victim)
    assert not (dep.key_dir / "vault").exists()  # no root, no bucket key outside Transit
    ref = subject_ref(FileKeySource(dep.key_dir).get("pepper"), victim)

    # White box: the victim's wrapped DEKs, in the copy and the live dir, against Transit as it is.
    for keys_db in (backup / "vault" / "keys.db", dep.data_dir / "vault" / "keys.db"):
        probe = tmp_path / f"probe-{keys_db.parent.parent.name}.db"
        _copy_keys_db(keys_db, probe)
        hierarchy = KeyHierarchy(FileKeySource(dep.key_dir), SqlStore(str(probe)), transit=transit)
        rows = hierarchy.store.execute("SELECT generation, wrapped FROM deks WHERE subject_ref=?", (ref,))
        assert all(bytes(w).startswith(b"vault:v") for _, w in rows)
        for generation in [g for g, _ in rows] or [1]:
            with pytest.raises(KeyDestroyed):
                hierarchy.dek(ref, generation)
    dep.lethe("rights", "access", survivor, "--out", str(tmp_path / "s.json"))
    assert _prompts(json.loads((tmp_path / "s.json").read_text())) == \
        sorted(l["prompt"] for l in lines if l["account_id"] == survivor)
    dep.lethe("audit", "verify")  # includes ERASED_KEY_ALIVE against the Transit key versions

    # Black box: restore the whole data dir from the copy; Transit is what it is now.
    dep.lethe("down")
    shutil.rmtree(dep.data_dir)
    shutil.copytree(backup, dep.data_dir)
    dep.lethe("up")
    dep.lethe("rights", "access", victim, "--out", str(tmp_path / "v.json"))
    restored = json.loads((tmp_path / "v.json").read_text())
    assert _prompts(restored) == []
    for interaction in restored["interactions"]:
        assert "content" not in interaction and "contact_details" not in interaction


def test_with_transit_rotation_under_load_leaves_everything_decryptable(
        transit_deployment: Deployment, tmp_path: Path) -> None:
    dep, transit = transit_deployment, transit_deployment.transit  # type: ignore[attr-defined]
    lines = list(generate(8, 300, seed=21))
    sample = _write(tmp_path / "load.jsonl", lines)
    env = {**__import__("os").environ, "LETHE_DATA_DIR": str(dep.data_dir),
           "LETHE_KEY_DIR": str(dep.key_dir), **dep.env}
    ingest = subprocess.Popen([sys.executable, "-m", "cli.main", "ingest", str(sample), "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
    rotations = 0
    while ingest.poll() is None and rotations < 6:
        dep.lethe("keys", "rotate", "--root" if rotations % 2 else "--bucket", *([] if rotations % 2 else ["-1"]))
        rotations += 1
    out, err = ingest.communicate(timeout=600)
    assert ingest.returncode == 0, err.decode()[-500:]
    assert json.loads(out)["stored"] == 300 and rotations >= 2
    dep.lethe("keys", "rotate", "--bucket", "-1")
    for account in dict.fromkeys(line["account_id"] for line in lines):
        dep.lethe("rights", "access", account, "--out", str(tmp_path / "x.json"))
        export = json.loads((tmp_path / "x.json").read_text())
        assert _prompts(export) == sorted(l["prompt"] for l in lines if l["account_id"] == account)
    assert all(len(transit.versions(b)) <= 1 for b in range(64))  # every old version trimmed


def test_an_erasure_during_a_transit_outage_completes_after_it_and_never_before(
        transit_deployment: Deployment, tmp_path: Path) -> None:
    dep, proxy = transit_deployment, transit_deployment.proxy  # type: ignore[attr-defined]
    lines = list(generate(10, 100, seed=5))
    dep.lethe("ingest", str(_write(tmp_path / "s.jsonl", lines)))
    accounts = list(dict.fromkeys(line["account_id"] for line in lines))
    victim, survivor = accounts[0], accounts[1]
    _copy_keys_db(dep.data_dir / "vault" / "keys.db", tmp_path / "before.db")
    dep.lethe("down")
    dep.lethe("up")  # a cold vault: no DEK cached, every unwrap needs Transit
    proxy.cut()
    erase = subprocess.Popen([sys.executable, "-m", "cli.main", "rights", "erase", victim],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
                             env={**os.environ, "LETHE_DATA_DIR": str(dep.data_dir),
                                  "LETHE_KEY_DIR": str(dep.key_dir), **dep.env})
    seen_open, deadline = 0, time.monotonic() + 60
    while seen_open < 5:  # the erasure is submitted and stays open while Transit is unreachable
        erasures = [r for r in dep.lethe_json("rights", "list", "--json") if r["kind"] == "erasure"]
        assert not any(r["state"] == "fulfilled" for r in erasures), erasures
        seen_open += bool(erasures)
        assert erase.poll() is None and time.monotonic() < deadline
        time.sleep(1)
    assert dep.lethe("rights", "access", survivor, "--out", str(tmp_path / "x.json"),
                     check=False).returncode != 0  # an outage is an error, never "erased"
    proxy.open = True  # Transit is back: the rights service's retry finishes the erasure
    out, err = erase.communicate(timeout=300)
    assert erase.returncode == 0, err.decode()[-1000:]
    dep.lethe("audit", "verify")
    dep.lethe("rights", "access", survivor, "--out", str(tmp_path / "s.json"))
    assert _prompts(json.loads((tmp_path / "s.json").read_text())) == \
        sorted(l["prompt"] for l in lines if l["account_id"] == survivor)
    ref = subject_ref(FileKeySource(dep.key_dir).get("pepper"), victim)
    before = KeyHierarchy(FileKeySource(dep.key_dir), SqlStore(str(tmp_path / "before.db")),
                          transit=dep.transit)  # type: ignore[attr-defined]
    generations = [g for (g,) in before.store.execute("SELECT generation FROM deks WHERE subject_ref=?", (ref,))]
    assert generations
    for generation in generations:
        with pytest.raises(KeyDestroyed):
            before.dek(ref, generation)
