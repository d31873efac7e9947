"""Vault guarantees with the real services: erasure survives backups; rotation under load loses nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cli.sample import generate
from services.vault.keys import KeyDestroyed, KeyHierarchy
from shared.crypto import subject_ref
from shared.keysource import FileKeySource
from shared.store import SqlStore
from tests.conftest import Deployment


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _prompts(export: dict[str, Any]) -> list[str]:
    return sorted(i["content"]["prompt"] for i in export["interactions"] if "content" in i)


def test_rotation_under_load_leaves_everything_decryptable(sqlite_deployment: Deployment,
                                                            tmp_path: Path) -> None:
    lines = list(generate(8, 400, seed=21))
    sample = _write(tmp_path / "load.jsonl", lines)
    env_args = [sys.executable, "-m", "cli.main", "ingest", str(sample), "--json"]
    ingest = subprocess.Popen(env_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**__import__("os").environ, "LETHE_DATA_DIR": str(sqlite_deployment.data_dir),
                                   "LETHE_KEY_DIR": str(sqlite_deployment.key_dir)})
    rotations = 0
    while ingest.poll() is None and rotations < 6:
        sqlite_deployment.lethe("keys", "rotate", "--root" if rotations % 2 else "--bucket", *([] if rotations % 2 else ["-1"]))
        rotations += 1
    out, err = ingest.communicate(timeout=600)
    assert ingest.returncode == 0, err.decode()[-500:]
    assert json.loads(out)["stored"] == 400 and rotations >= 2
    for account in dict.fromkeys(line["account_id"] for line in lines):
        sqlite_deployment.lethe("rights", "access", account, "--out", str(tmp_path / "x.json"))
        export = json.loads((tmp_path / "x.json").read_text())
        assert _prompts(export) == sorted(l["prompt"] for l in lines if l["account_id"] == account)


def test_a_backup_taken_before_an_erasure_resurrects_nothing(sqlite_deployment: Deployment,
                                                             tmp_path: Path) -> None:
    lines = list(generate(30, 300, seed=33))
    sqlite_deployment.lethe("ingest", str(_write(tmp_path / "s.jsonl", lines)))
    accounts = list(dict.fromkeys(line["account_id"] for line in lines))
    victim, survivor = accounts[0], accounts[1]
    sqlite_deployment.lethe("down")
    backup = tmp_path / "backup"
    shutil.copytree(sqlite_deployment.data_dir, backup)
    sqlite_deployment.lethe("up")
    sqlite_deployment.lethe("rights", "erase", victim)
    pepper = FileKeySource(sqlite_deployment.key_dir).get("pepper")
    ref = subject_ref(pepper, victim)

    # White box: every wrapped DEK of the victim, in the copy and the live dir, against every
    # key the live system still holds (the key dir is the live one: that is what survives).
    for keys_db in (backup / "vault" / "keys.db", sqlite_deployment.data_dir / "vault" / "keys.db"):
        probe = tmp_path / f"probe-{keys_db.parent.parent.name}.db"
        shutil.copy(keys_db, probe)
        hierarchy = KeyHierarchy(FileKeySource(sqlite_deployment.key_dir), SqlStore(str(probe)))
        deks = hierarchy.store.execute("SELECT generation, grp FROM deks WHERE subject_ref=?", (ref,))
        if keys_db.is_relative_to(backup):
            assert deks, "the backup holds the victim's wrapped DEKs (one per key group)"
        for generation, group in deks or [(1, "*")]:
            with pytest.raises(KeyDestroyed):
                hierarchy.dek(ref, int(generation), group)
    sqlite_deployment.lethe("rights", "access", survivor, "--out", str(tmp_path / "s.json"))
    assert _prompts(json.loads((tmp_path / "s.json").read_text())) == \
        sorted(l["prompt"] for l in lines if l["account_id"] == survivor)

    # Black box: restore the whole data dir from the copy, start with the same key dir.
    sqlite_deployment.lethe("down")
    shutil.rmtree(sqlite_deployment.data_dir)
    shutil.copytree(backup, sqlite_deployment.data_dir)
    sqlite_deployment.lethe("up")
    sqlite_deployment.lethe("rights", "access", victim, "--out", str(tmp_path / "v.json"))
    restored = json.loads((tmp_path / "v.json").read_text())
    assert _prompts(restored) == []
    for interaction in restored["interactions"]:
        assert "content" not in interaction and "contact_details" not in interaction
