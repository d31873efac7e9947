"""The Transit key source against a real OpenBao dev server: wrapping, rotation, trimming, faults.

Each test gets its own Transit mount on one ``bao server -dev`` per module. What they try to break:
a destroyed version that still exists (only made undecryptable, not trimmed), a wrapped DEK that
unwraps for another subject, a Transit outage mistaken for a destroyed key (which would skip a DEK
during a rewrap and lose a subject), and a fault or crash at any step of an erasure leaving a
subject readable from an old ``keys.db`` or another subject unreadable.
"""

from __future__ import annotations

import base64
import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
import requests

from cli.audit import Entry, erased_keys_alive
from services.vault.keys import KeyDestroyed, KeyHierarchy
from shared.config import ConfigError, load_settings
from shared.keysource import FileKeySource, KeySourceError
from shared.store import SqlStore
from shared.transit import TransitBucketKeys, TransitError, TransitKeyGone, transit_bucket_keys
from tests.openbao import Bao, running_bao


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    with running_bao(tmp_path_factory.mktemp("bao") / "bao.log") as server:
        yield server


@pytest.fixture
def transit(bao: Bao) -> TransitBucketKeys:
    return TransitBucketKeys(bao.address, bao.token, bao.new_mount())


def _hierarchy(tmp_path: Path, transit: TransitBucketKeys, db: str = "keys.db",
               buckets: int = 2) -> KeyHierarchy:
    return KeyHierarchy(FileKeySource(tmp_path / "keys"), SqlStore(str(tmp_path / db)),
                        buckets=buckets, transit=transit)


def _copy_db(src: Path, dst: Path) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def _shred_entry(generation: int, bucket: int, version: int) -> Entry:
    return Entry("vault", 1, "SubjectShredded", "x", 1, dt.datetime.now(dt.timezone.utc),
                 {"request_id": "r", "buckets_rotated": [[generation, bucket, version]]})


def test_a_dek_is_wrapped_by_transit_and_no_key_lands_in_the_key_dir(tmp_path: Path,
                                                                      transit: TransitBucketKeys) -> None:
    keys = _hierarchy(tmp_path, transit)
    bucket = keys.create_dek("s1", 1)
    dek = keys.dek("s1", 1)
    (version, wrapped), = keys.store.execute("SELECT bucket_version, wrapped FROM deks")
    assert version == 1 and bytes(wrapped).startswith(b"vault:v1:") and dek not in bytes(wrapped)
    assert _hierarchy(tmp_path, transit).dek("s1", 1) == dek  # a fresh process unwraps via Transit
    assert transit.versions(bucket) == [1]
    assert not any(p.is_file() for p in (tmp_path / "keys").rglob("*"))  # no root, no bucket file


def test_a_wrapped_dek_copied_to_another_subjects_row_does_not_unwrap(tmp_path: Path,
                                                                      transit: TransitBucketKeys) -> None:
    keys = _hierarchy(tmp_path, transit, buckets=1)
    keys.create_dek("alice", 1)
    keys.create_dek("bob", 1)
    (wrapped,), = keys.store.execute("SELECT wrapped FROM deks WHERE subject_ref='alice'")
    keys.store.execute("UPDATE deks SET wrapped=? WHERE subject_ref='bob'", (wrapped,))
    with pytest.raises(KeyDestroyed):
        _hierarchy(tmp_path, transit, buckets=1).dek("bob", 1)


def test_destroying_a_version_trims_its_key_material_not_only_its_use(bao: Bao) -> None:
    mount = bao.new_mount()
    # An exportable twin key shows what Transit still stores: its backup lists every version held.
    client = bao.client()
    client.secrets.transit.create_key("lethe-bucket-005", derived=True, exportable=True,
                                      allow_plaintext_backup=True, mount_point=mount)
    transit = TransitBucketKeys(bao.address, bao.token, mount)
    transit.create(5, 4)
    old = transit.wrap(5, 1, b"k" * 32, b"s|1")
    transit.destroy(5, 2)  # v1 still live: Transit trims only a prefix, so nothing happens yet
    assert transit.versions(5) == [1, 2, 3, 4]
    transit.destroy(5, 1)
    transit.destroy(5, 2)
    assert transit.versions(5) == [3, 4]
    backup = client.secrets.transit.backup_key("lethe-bucket-005", mount_point=mount)["data"]["backup"]
    held = base64.b64decode(backup).decode()
    assert '"1":' not in held and '"2":' not in held and '"3":' in held
    with pytest.raises(TransitKeyGone):
        transit.unwrap(5, 1, old, b"s|1")
    with pytest.raises(KeySourceError):
        transit.destroy(5, 3) or transit.destroy(5, 4)  # the latest version is never destroyed
    transit.destroy(5, 1)  # idempotent


def test_an_unreachable_transit_is_an_error_never_a_destroyed_key(tmp_path: Path,
                                                                  transit: TransitBucketKeys) -> None:
    keys = _hierarchy(tmp_path, transit)
    keys.create_dek("s1", 1)
    dead = TransitBucketKeys("http://127.0.0.1:9", "token", transit.mount, timeout=2)
    with pytest.raises(TransitError):
        _hierarchy(tmp_path, dead).dek("s1", 1)
    forbidden = TransitBucketKeys(transit.client.url, "not-a-token", transit.mount)
    with pytest.raises(TransitError):
        _hierarchy(tmp_path, forbidden).dek("s1", 1)


def test_an_erasure_leaves_a_pre_erasure_keys_db_useless_for_the_subject_only(
        tmp_path: Path, transit: TransitBucketKeys) -> None:
    keys = _hierarchy(tmp_path, transit, buckets=4)
    subjects = [f"s{i}" for i in range(24)]
    deks = {}
    for s in subjects:
        keys.create_dek(s, 1)
        deks[s] = keys.dek(s, 1)
    _copy_db(tmp_path / "keys.db", tmp_path / "backup.db")
    victim = subjects[0]
    bucket, version = keys.destroy_dek(victim, 1)
    assert all(v >= version for v in transit.versions(bucket))
    old = _hierarchy(tmp_path, transit, db="backup.db", buckets=4)
    with pytest.raises(KeyDestroyed):
        old.dek(victim, 1)
    live = _hierarchy(tmp_path, transit, buckets=4)
    assert live.generations_of(victim) == []
    assert all(live.dek(s, 1) == deks[s] for s in subjects[1:])
    assert erased_keys_alive([_shred_entry(1, bucket, version)], transit.versions) == []


def test_rotations_keep_every_dek_and_leave_one_version_per_bucket(tmp_path: Path,
                                                                   transit: TransitBucketKeys) -> None:
    keys = _hierarchy(tmp_path, transit, buckets=4)
    deks = {}
    for i in range(12):
        keys.create_dek(f"s{i}", 1)
        deks[f"s{i}"] = keys.dek(f"s{i}", 1)
    assert keys.rotate_bucket(-1) == 12
    assert keys.rotate_root() == 4  # Transit's keyring is the root: every bucket key rotates
    fresh = _hierarchy(tmp_path, transit, buckets=4)
    assert all(fresh.dek(s, 1) == dek for s, dek in deks.items())
    assert [transit.versions(b) for b in range(4)] == [[3]] * 4


def test_the_audit_counts_a_version_made_undecryptable_but_not_trimmed_as_alive(
        transit: TransitBucketKeys) -> None:
    transit.create(7, 2)
    shred = [_shred_entry(1, 7, 2)]
    assert [v.kind for v in erased_keys_alive(shred, transit.versions)] == ["ERASED_KEY_ALIVE"]
    transit._config(7, min_decryption_version=2, min_encryption_version=2)  # a crash before the trim
    assert [v.kind for v in erased_keys_alive(shred, transit.versions)] == ["ERASED_KEY_ALIVE"]
    transit.destroy(7, 1)
    assert erased_keys_alive(shred, transit.versions) == []


class Crash(BaseException):
    """The process dies here: nothing after this point runs, nothing catches it."""


FAULTS: dict[str, Any] = {
    "unreachable": lambda: requests.exceptions.ConnectionError("connection refused"),
    "server_error": lambda: hvac.exceptions.InternalServerError("sealed"),
    "crash": lambda: Crash(),
}


def _count_steps(keys: KeyHierarchy, transit: TransitBucketKeys, step: Any) -> None:
    """Call ``step(kind)`` before every Transit HTTP request and every keys.db write."""
    request = transit.client.adapter.request

    def counted_request(method: str, url: str, *args: Any, **kw: Any) -> Any:
        step("transit")
        return request(method, url, *args, **kw)

    transit.client.adapter.request = counted_request
    store = keys.store
    for name in ("execute", "executemany", "transaction"):
        inner = getattr(store, name)

        def wrapper(*args: Any, _inner: Any = inner, _name: str = name, **kw: Any) -> Any:
            if _name != "execute" or str(args[0]).lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE"):
                step("store")
            return _inner(*args, **kw)

        setattr(store, name, wrapper)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_fault_at_every_step_of_an_erasure_then_a_retry_keeps_every_guarantee(
        tmp_path: Path, bao: Bao, fault: str) -> None:
    mount = bao.new_mount()
    k = 0
    while True:
        k += 1
        run = tmp_path / f"k{k}"
        run.mkdir()
        transit = TransitBucketKeys(bao.address, bao.token, mount)
        keys = _hierarchy(run, transit, buckets=2)
        subjects = [f"k{k}-s{i}" for i in range(8)]
        deks = {}
        for s in subjects:
            keys.create_dek(s, 1)
            deks[s] = keys.dek(s, 1)
        _copy_db(run / "keys.db", run / "backup.db")
        victim = subjects[0]
        seen = [0]

        def step(kind: str, at: int = k) -> None:
            if fault != "crash" and kind != "transit":
                return  # Transit faults happen at Transit requests; a crash anywhere
            seen[0] += 1
            if seen[0] == at:
                raise FAULTS[fault]()

        _count_steps(keys, transit, step)
        try:
            result = keys.destroy_dek(victim, 1)
            completed = True
        except (TransitError, Crash):
            completed = False
        # Restart (a fresh process: reconcile at start-up) and retry until the erasure completes.
        restarted = _hierarchy(run, TransitBucketKeys(bao.address, bao.token, mount), buckets=2)
        if not completed:
            result = restarted.destroy_dek(victim, 1)
        bucket, version = result
        live = _hierarchy(run, restarted.transit, buckets=2)
        assert live.generations_of(victim) == []
        assert all(live.dek(s, 1) == deks[s] for s in subjects[1:]), f"fault at step {k}"
        with pytest.raises(KeyDestroyed):
            _hierarchy(run, restarted.transit, db="backup.db", buckets=2).dek(victim, 1)
        assert erased_keys_alive([_shred_entry(1, bucket, version)], restarted.transit.versions) == []
        if completed:
            break
    assert k >= 6  # read, rotate, rewrap (decrypt + encrypt per DEK, one transaction), trim, delete


def test_transit_settings_are_read_once_and_fail_fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("LETHE_KEY_SOURCE", "VAULT_ADDR", "VAULT_TOKEN", "BAO_ADDR", "BAO_TOKEN",
                 "LETHE_TRANSIT_MOUNT"):
        monkeypatch.delenv(name, raising=False)
    assert load_settings(tmp_path / "d").key_source == "file"
    assert transit_bucket_keys(load_settings(tmp_path / "d")) is None
    monkeypatch.setenv("LETHE_KEY_SOURCE", "kms")
    with pytest.raises(ConfigError, match="LETHE_KEY_SOURCE"):
        load_settings(tmp_path / "d")
    monkeypatch.setenv("LETHE_KEY_SOURCE", "transit")
    with pytest.raises(ConfigError, match="VAULT_ADDR"):
        load_settings(tmp_path / "d")
    monkeypatch.setenv("BAO_ADDR", "http://127.0.0.1:8200")
    with pytest.raises(ConfigError, match="VAULT_TOKEN"):
        load_settings(tmp_path / "d")
    monkeypatch.setenv("BAO_TOKEN", "s3cret-token")
    settings = load_settings(tmp_path / "d")
    assert (settings.transit_address, settings.transit_mount) == ("http://127.0.0.1:8200", "transit")
    assert "s3cret-token" not in repr(settings)
    monkeypatch.setenv("LETHE_TRANSIT_MOUNT", "../sys")
    with pytest.raises(ConfigError, match="LETHE_TRANSIT_MOUNT"):
        load_settings(tmp_path / "d")


@pytest.mark.parametrize("env, setting", [
    ({"LETHE_KEY_SOURCE": "hsm"}, "LETHE_KEY_SOURCE"),
    ({"LETHE_KEY_SOURCE": "transit"}, "VAULT_ADDR"),
    ({"LETHE_KEY_SOURCE": "transit", "VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": "t"}, "Transit"),
])
def test_the_vault_refuses_to_start_with_one_line_on_a_bad_or_unreachable_transit(
        tmp_path: Path, env: dict[str, str], setting: str) -> None:
    from tests.unit.test_config_errors import _assert_one_clear_line, _run

    clean = {k: "" for k in ("VAULT_ADDR", "VAULT_TOKEN", "BAO_ADDR", "BAO_TOKEN")}
    proc = _run(["-m", "services.vault.main", "--address", "127.0.0.1:0"], tmp_path / "var",
                **{**clean, "LETHE_INSECURE_LOCAL_DEV": "1", **env})
    _assert_one_clear_line(proc, setting)


def test_a_keys_db_of_one_key_source_is_refused_by_the_other(tmp_path: Path, transit: TransitBucketKeys) -> None:
    (tmp_path / "file").mkdir()
    (tmp_path / "transit").mkdir()
    KeyHierarchy(FileKeySource(tmp_path / "keys"), SqlStore(str(tmp_path / "file" / "keys.db"))).create_dek("s", 1)
    _hierarchy(tmp_path / "transit", transit).create_dek("s", 1)
    with pytest.raises(KeySourceError, match="another key source"):
        _hierarchy(tmp_path / "file", transit)
    with pytest.raises(KeySourceError, match="another key source"):
        KeyHierarchy(FileKeySource(tmp_path / "keys"), SqlStore(str(tmp_path / "transit" / "keys.db")))


def test_a_rotation_never_skips_a_dek_whose_version_is_live(tmp_path: Path, transit: TransitBucketKeys) -> None:
    keys = _hierarchy(tmp_path, transit, buckets=1)
    keys.create_dek("alice", 1)
    keys.create_dek("bob", 1)
    (wrapped,), = keys.store.execute("SELECT wrapped FROM deks WHERE subject_ref='alice'")
    keys.store.execute("UPDATE deks SET wrapped=? WHERE subject_ref='bob'", (wrapped,))  # bob's row is wrong
    with pytest.raises(TransitError):
        keys.rotate_bucket(0)
    assert transit.versions(0)[0] == 1  # v1 not destroyed: alice is still readable
    assert _hierarchy(tmp_path, transit, buckets=1).dek("alice", 1)
