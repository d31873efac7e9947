"""Vault rules: envelope encryption, crypto-shredding that survives backups, tombstones, rotation."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest

from services.vault.application import RecordIn, VaultApplication
from services.vault.keys import KeyDestroyed, KeyHierarchy, dek_aad
from shared.config import Settings
from shared.crypto import DecryptionError, open_sealed
from shared.keysource import FileKeySource
from shared.store import SqlStore

NOW = dt.datetime(2026, 11, 29, 12, tzinfo=dt.timezone.utc)


def _ref(n: int) -> str:
    return f"sr_{n:032x}"


def _record(subject: str, text: bytes, when: dt.datetime = NOW) -> RecordIn:
    return RecordIn(str(uuid.uuid4()), subject, "user.content", "original", "EU", text, when, "i-1")


@pytest.fixture()
def vault(tmp_path: Path) -> VaultApplication:
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
    app = VaultApplication(settings, FileKeySource(settings.key_dir), buckets=4)
    yield app
    app.close()


def test_content_is_encrypted_at_rest(vault: VaultApplication, tmp_path: Path) -> None:
    vault.store([_record(_ref(1), b"generated secret prompt 0001")])
    for path in (tmp_path / "var").rglob("*"):
        if path.is_file():
            assert b"generated secret prompt" not in path.read_bytes()


def test_erased_subject_cannot_be_read_and_others_can(vault: VaultApplication) -> None:
    vault.store([_record(_ref(1), b"one"), _record(_ref(2), b"two")])
    vault.shred_subject(_ref(1), "erase-1")
    assert vault.export_subject(_ref(1), "r") == []
    assert [r.content for r in vault.export_subject(_ref(2), "r")] == [b"two"]


def test_data_received_before_an_erasure_is_refused_and_later_data_starts_a_new_generation(
        vault: VaultApplication) -> None:
    vault.store([_record(_ref(1), b"old")])
    _, _, erased_at, _ = vault.shred_subject(_ref(1), "erase-1")
    late = _record(_ref(1), b"in flight", erased_at - dt.timedelta(seconds=1))
    assert vault.store([late]) == ["erased"]
    fresh = _record(_ref(1), b"new", erased_at + dt.timedelta(seconds=1))
    assert vault.store([fresh]) == ["stored"]
    assert [r.content for r in vault.export_subject(_ref(1), "r")] == [b"new"]


def test_shred_is_idempotent_by_request_id(vault: VaultApplication) -> None:
    vault.store([_record(_ref(1), b"one")])
    assert vault.shred_subject(_ref(1), "erase-1") == vault.shred_subject(_ref(1), "erase-1")


def test_a_backup_taken_before_erasure_cannot_decrypt_the_erased_subject(
        vault: VaultApplication, tmp_path: Path) -> None:
    subjects = [_ref(n) for n in range(1, 13)]
    vault.store([_record(s, f"content of {s}".encode()) for s in subjects])
    backup = tmp_path / "backup"
    shutil.copytree(tmp_path / "var", backup)
    victim = subjects[0]
    vault.shred_subject(victim, "erase-1")
    # Every wrapped DEK of the victim found in the backup, tried with every key still held.
    db = sqlite3.connect(backup / "vault" / "keys.db")
    wrapped = db.execute("SELECT generation, grp, wrapped FROM deks WHERE subject_ref=?",
                         (victim,)).fetchall()
    assert wrapped
    source = vault.keys
    candidates = [source.get(n) for n in source.list("vault")]
    hierarchy = vault.keyring
    for bucket in range(hierarchy.buckets):
        for version in hierarchy._bucket_versions(bucket):  # noqa: SLF001
            candidates.append(hierarchy._bucket_key(bucket, version)[1])  # noqa: SLF001
    for generation, group, blob in wrapped:
        for key in candidates:
            if len(key) != 32:
                continue
            with pytest.raises(DecryptionError):
                open_sealed(key, bytes(blob), dek_aad(victim, generation, group))
    assert len(vault.export_subject(subjects[1], "r")) == 1


def test_rotation_rewraps_without_losing_anything(vault: VaultApplication) -> None:
    vault.store([_record(_ref(n), b"x%d" % n) for n in range(1, 9)])
    assert vault.rotate(root=True) > 0
    assert vault.rotate(root=False, bucket=-1) == 8 * len(vault.groups.names)  # a DEK per key group
    assert all(len(vault.export_subject(_ref(n), "r")) == 1 for n in range(1, 9))


def test_a_destroyed_dek_raises(tmp_path: Path) -> None:
    store = SqlStore(str(tmp_path / "k.db"))
    keys = KeyHierarchy(FileKeySource(tmp_path / "keys"), store, buckets=2)
    keys.create_dek(_ref(1), 1)
    keys.destroy_dek(_ref(1), 1)
    with pytest.raises(KeyDestroyed):
        keys.dek(_ref(1), 1)


def test_ciphertext_of_an_erased_subject_is_reclaimed(vault: VaultApplication) -> None:
    vault.store([_record(_ref(1), b"one"), _record(_ref(1), b"two"), _record(_ref(2), b"three")])
    vault.shred_subject(_ref(1), "erase-1")
    assert vault.reclaim() == 2
    assert vault.db.execute("SELECT COUNT(*) FROM blobs")[0][0] == 1
    assert vault.reclaim() == 0
