"""Fault injection for erasure and key rotation: a failure at every write step, then restart and retry.

The harness counts every write step of an operation across the key source (``put``, ``destroy``),
the vault's two stores (``INSERT``/``UPDATE``/``DELETE`` statements, transactions) and the event
store (``save``), and makes step *k* fail, for k = 1, 2, ... until the operation completes without
reaching the fault, so every step is covered without a hand-picked list. Fault kinds:

* ``raise``: the step raises (a flaky KMS, a full disk, a lost database connection);
* ``readonly``: from step k on, every key-source write fails with EROFS, and a ``destroy`` that is
  reached overwrites the key with zeros and then fails to unlink it (a volume that turned read-only
  in between); the volume is writable again after the restart.

After the fault the vault restarts (a new :class:`VaultApplication` on the same files, nothing kept in
memory) and the invariants are checked both before and after the retry: an erasure is reported
fulfilled only if it is complete, i.e. a copy of ``keys.db`` and ``records.db`` taken before it unwraps
no DEK of the subject with any key the live key source still holds; every other subject still
decrypts, with exactly its records; nothing is recorded twice.
"""

from __future__ import annotations

import datetime as dt
import errno
import shutil
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Mapper

from services.vault.application import RecordIn, VaultApplication
from services.vault.keys import KeyDestroyed, KeyHierarchy, dek_aad
from shared.config import Settings
from shared.crypto import DecryptionError, open_sealed
from shared.keysource import FileKeySource

BUCKETS = 2
SUBJECTS = 9
VICTIM = f"sr_{1:032x}"
_WRITES = ("INSERT", "UPDATE", "DELETE")


class Crash(Exception):
    """The injected failure."""


class Faults:
    """Counts write steps and fails step ``fail_at`` (``raise``) or every key write from it on."""

    def __init__(self, fail_at: int = 0, mode: str = "raise") -> None:
        self.fail_at, self.mode = fail_at, mode
        self.count = 0
        self.steps: list[str] = []
        self.hit = False

    def step(self, what: str, key_source: bool = False) -> bool:
        """Count one write step; raise at the fault. True when a read-only volume fails it."""
        if self.fail_at <= 0:
            return False
        self.count += 1
        self.steps.append(what)
        if self.mode == "raise" and self.count == self.fail_at:
            self.hit = True
            raise Crash(what)
        if self.mode == "readonly" and key_source and self.count >= self.fail_at:
            self.hit = True
            return True
        return False


class FaultySource:
    """A FileKeySource (real files underneath) whose writes go through :class:`Faults`."""

    def __init__(self, inner: FileKeySource, faults: Faults) -> None:
        self.inner, self.faults = inner, faults

    def put(self, name: str, value: bytes) -> None:
        if self.faults.step(f"key source put {name}", key_source=True):
            raise OSError(errno.EROFS, "read-only key volume")
        self.inner.put(name, value)

    def destroy(self, name: str) -> None:
        if self.faults.step(f"key source destroy {name}", key_source=True):
            path = self.inner._path(name)  # noqa: SLF001 - overwrite happens, the unlink fails
            if path.exists():
                path.write_bytes(b"\0" * path.stat().st_size)
            raise OSError(errno.EROFS, "read-only key volume")
        self.inner.destroy(name)

    def get(self, name: str) -> bytes:
        return self.inner.get(name)

    def list(self, prefix: str) -> list[str]:
        return self.inner.list(prefix)


class FaultyStore:
    """A SqlStore (a real SQLite file underneath) whose writes go through :class:`Faults`."""

    def __init__(self, inner: Any, faults: Faults, name: str) -> None:
        self.inner, self.faults, self.name = inner, faults, name
        self.blob = inner.blob

    def execute(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        if sql.lstrip().split()[0].upper() in _WRITES:
            self.faults.step(f"{self.name} {' '.join(sql.split()[:3])}")
        return self.inner.execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> None:
        self.faults.step(f"{self.name} {' '.join(sql.split()[:3])}")
        self.inner.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        self.faults.step(f"{self.name} transaction")
        with self.inner.transaction() as tx:
            yield tx

    def scrub(self) -> None:
        self.inner.scrub()

    def close(self) -> None:
        self.inner.close()


def _settings(root: Path) -> Settings:
    return Settings(data_dir=root / "var", key_dir=root / "keys")


def _open(root: Path, faults: Faults | None = None) -> VaultApplication:
    """The vault on ``root``'s files; with ``faults``, its key hierarchy and stores are wrapped."""
    app = VaultApplication(_settings(root), FileKeySource(root / "keys"), buckets=BUCKETS)
    if faults is not None:
        source = FaultySource(FileKeySource(root / "keys"), faults)
        app.keyring = KeyHierarchy(source, FaultyStore(app.key_db, faults, "keys.db"),  # type: ignore[arg-type]
                                   buckets=BUCKETS, bucket_source=source)  # type: ignore[arg-type]
        app.db = FaultyStore(app.db, faults, "records.db")  # type: ignore[assignment]
        save = app.save

        def faulty_save(*aggregates: Any, **kw: Any) -> Any:
            faults.step("event store save")
            return save(*aggregates, **kw)

        app.save = faulty_save  # type: ignore[method-assign]
    return app


def _ref(n: int) -> str:
    return f"sr_{n:032x}"


def _content(n: int, i: int) -> bytes:
    return f"content {i} of subject {n}".encode()


def _records(n: int, count: int, when: dt.datetime) -> list[RecordIn]:
    return [RecordIn(str(uuid.uuid4()), _ref(n), "user.content", "original", "EU", _content(n, i),
                     when, "i-1") for i in range(count)]


def _backup(root: Path, to: Path) -> None:
    """A consistent copy of vault/keys.db and vault/records.db (SQLite's online backup)."""
    to.mkdir(parents=True)
    for name in ("keys.db", "records.db"):
        src = sqlite3.connect(root / "var" / "vault" / name)
        dst = sqlite3.connect(to / name)
        src.backup(dst)
        src.close()
        dst.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nine subjects in two buckets; the victim was erased once and came back (generation 2),
    with a session; a backup of keys.db + records.db taken just before the erasure under test."""
    root = tmp_path_factory.mktemp("template")
    app = _open(root)
    now = dt.datetime.now(dt.timezone.utc)
    app.store([r for n in range(1, SUBJECTS + 1) for r in _records(n, 2, now)])
    app.shred_subject(VICTIM, "erase-0")
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    app.store(_records(1, 3, later))
    app.open_sessions([(VICTIM, "session-hint", later)])
    app.close()
    _backup(root, root / "backup")
    return root


def _copy(template: Path, to: Path) -> Path:
    shutil.copytree(template, to)
    return to


def _unwrappable(root: Path, app: VaultApplication, subject: str) -> list[tuple[int, str]]:
    """(generation, key group) of ``subject`` whose DEK in the backup unwraps under any key the
    live source holds."""
    db = sqlite3.connect(root / "backup" / "keys.db")
    rows = db.execute("SELECT generation, grp, wrapped FROM deks WHERE subject_ref=?",
                      (subject,)).fetchall()
    db.close()
    hierarchy = app.keyring
    candidates = [app.keys.get(n) for n in app.keys.list("vault")]
    for bucket in range(BUCKETS):
        for version in hierarchy.live_versions(bucket):
            try:
                candidates.append(hierarchy._bucket_key(bucket, version)[1])  # noqa: SLF001
            except KeyDestroyed:
                pass
    opened = []
    for generation, group, blob in rows:
        for key in candidates:
            try:
                open_sealed(key, bytes(blob), dek_aad(subject, generation, group))
            except (DecryptionError, ValueError):
                continue
            opened.append((generation, group))
    return opened


def _events(app: VaultApplication) -> Counter[str]:
    notes = app.recorder.select_notifications(start=1, limit=100_000)
    return Counter(n.topic.rsplit(".", 1)[-1] for n in notes)


def _check_others(app: VaultApplication) -> None:
    for n in range(2, SUBJECTS + 1):
        got = sorted(r.content for r in app.export_subject(_ref(n), "check"))
        assert got == [_content(n, 0), _content(n, 1)], f"subject {n} lost or duplicated"


def _check_erased(root: Path, app: VaultApplication) -> None:
    assert _unwrappable(root, app, VICTIM) == []
    assert app.export_subject(VICTIM, "check") == []
    assert app.db.execute("SELECT COUNT(*) FROM sessions WHERE subject_ref=?", (VICTIM,))[0][0] == 0


def app_keyring_id() -> uuid.UUID:
    from services.vault.domain import SubjectKeyring
    return SubjectKeyring.create_id(VICTIM)


def _enumerate(template: Path, tmp_path: Path, mode: str,
               operation: Callable[[VaultApplication], Any],
               check_after_fault: Callable[[Path, VaultApplication], None],
               check_after_retry: Callable[[Path, VaultApplication], None]) -> list[str]:
    """Run ``operation`` with a fault at step k = 1, 2, ... until it completes unfaulted.

    Returns the steps of the unfaulted run (for the report)."""
    for k in range(1, 200):
        root = _copy(template, tmp_path / f"step-{k}")
        faults = Faults(fail_at=k, mode=mode)
        app = _open(root, faults)
        try:
            operation(app)
        except (Crash, OSError):
            assert faults.hit
        app.close()
        if not faults.hit:
            assert k > 3, f"only {k - 1} write steps: the harness does not see the operation"
            return faults.steps
        app = _open(root)  # restart: nothing of the crashed process survives but its files
        try:
            check_after_fault(root, app)
            operation(app)  # the retry
            check_after_retry(root, app)
        finally:
            app.close()
    raise AssertionError("the operation never completed")


def _erase(app: VaultApplication) -> Any:
    return app.shred_subject(VICTIM, "erase-1")


def _erasure_reported_only_when_complete(root: Path, app: VaultApplication) -> None:
    if "erase-1" in app.repository.get(app_keyring_id()).shreds:
        _check_erased(root, app)
    _check_others(app)


def _erasure_complete_once(root: Path, app: VaultApplication) -> None:
    _check_erased(root, app)
    _check_others(app)
    assert _events(app)["SubjectShredded"] == 2  # erase-0 and erase-1, each once
    assert app.keyring.generations_of(VICTIM) == []


@pytest.mark.parametrize("mode", ["raise", "readonly"])
def test_an_erasure_that_fails_at_any_write_step_is_never_reported_before_it_is_complete(
        template: Path, tmp_path: Path, mode: str) -> None:
    steps = _enumerate(template, tmp_path, mode, _erase, _erasure_reported_only_when_complete,
                       _erasure_complete_once)
    assert any("destroy" in s for s in steps) and steps[-1] == "event store save"


def _all_decrypt(root: Path, app: VaultApplication) -> None:
    _check_others(app)
    got = sorted(r.content for r in app.export_subject(VICTIM, "check"))
    assert got == [_content(1, i) for i in range(3)]


def _one_version_each(root: Path, app: VaultApplication) -> None:
    _all_decrypt(root, app)
    assert all(len(app.keyring.live_versions(b)) == 1 for b in range(BUCKETS))
    assert len(app.keys.list("vault/root")) == 1


@pytest.mark.parametrize("mode", ["raise", "readonly"])
@pytest.mark.parametrize("root_key", [False, True], ids=["buckets", "root"])
def test_a_key_rotation_that_fails_at_any_write_step_loses_nothing(
        template: Path, tmp_path: Path, mode: str, root_key: bool) -> None:
    steps = _enumerate(template, tmp_path, mode,
                       lambda app: app.rotate(root=root_key, bucket=-1), _all_decrypt,
                       _one_version_each)
    assert any("put" in s for s in steps)


def test_a_rotation_between_a_crashed_erasure_and_its_retry_loses_nothing(
        template: Path, tmp_path: Path) -> None:
    root = _copy(template, tmp_path / "r")
    probe = Faults(fail_at=10_000)
    app = _open(root, probe)
    app.close()
    # crash the erasure just before its DEK row is deleted: old versions destroyed, row left
    fail_at = 0
    for k in range(1, 50):
        shutil.rmtree(root)
        _copy(template, root)
        faults = Faults(fail_at=k)
        app = _open(root, faults)
        with pytest.raises(Crash):
            _erase(app)
        app.close()
        if faults.steps[-1].startswith("keys.db DELETE FROM deks"):
            fail_at = k
            break
    assert fail_at
    app = _open(root)
    try:
        assert app.rotate(root=False, bucket=-1) > 0
        assert app.rotate(root=True) > 0
        _check_others(app)
        _erase(app)
        _erasure_complete_once(root, app)
    finally:
        app.close()


def test_a_second_erasure_of_a_subject_that_holds_nothing_new_destroys_nothing_again(
        template: Path, tmp_path: Path) -> None:
    root = _copy(template, tmp_path / "r")
    app = _open(root)
    first = _erase(app)
    app.close()
    faults = Faults(fail_at=10_000)
    app = _open(root, faults)
    try:
        second = app.shred_subject(VICTIM, "erase-2")
        assert not any(s.startswith("key source") for s in faults.steps)
        assert second[0] == first[0] and second[2] >= first[2]
        assert app.shred_subject(VICTIM, "erase-2") == second
        _check_erased(root, app)
        _check_others(app)
    finally:
        app.close()


def test_concurrent_erasures_of_one_subject_shred_once(template: Path, tmp_path: Path) -> None:
    root = _copy(template, tmp_path / "r")
    faults = Faults(fail_at=10_000)
    app = _open(root, faults)
    try:
        threads = [threading.Thread(target=app.shred_subject, args=(VICTIM, f"erase-{i}"))
                   for i in range(1, 5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # one shred: one bucket rotation per key group of the victim's live generation
        assert sum(s.startswith("key source put") for s in faults.steps) == len(app.groups.names)
        answers = {app.shred_subject(VICTIM, f"erase-{i}")[0] for i in range(1, 5)}
        assert len(answers) == 1
        _check_erased(root, app)
    finally:
        app.close()


@pytest.fixture()
def restored(template: Path, tmp_path: Path) -> Iterator[VaultApplication]:
    """A vault on a copy of the template's files."""
    app = _open(_copy(template, tmp_path / "r"))
    yield app
    app.close()


def _victim_record(text: bytes, received_at: dt.datetime,
                   occurred_at: dt.datetime | None = None) -> RecordIn:
    return RecordIn(str(uuid.uuid4()), VICTIM, "user.content", "original", "EU", text,
                    received_at, "i-2", occurred_at=occurred_at)


def test_data_received_or_dated_before_an_erasure_is_refused(restored: VaultApplication) -> None:
    _, _, erased_at, _ = _erase(restored)
    before, after = erased_at - dt.timedelta(seconds=5), erased_at + dt.timedelta(seconds=5)
    late = _victim_record(b"late", after, occurred_at=before)
    received_before = _victim_record(b"in flight", before)
    fresh = _victim_record(b"fresh", after, occurred_at=after)
    assert restored.store([late, received_before, fresh]) == ["erased", "erased", "stored"]
    assert [r.content for r in restored.export_subject(VICTIM, "check")] == [b"fresh"]


def test_a_version_1_shred_event_still_reads(restored: VaultApplication) -> None:
    keyring = restored.repository.get(app_keyring_id())
    event = next(e for e in restored.repository.event_store.get(keyring.id)
                 if type(e).__name__ == "SubjectShredded")
    mapper = Mapper(transcoder=restored.mapper.transcoder)  # plain: no cipher, no compression
    stored = mapper.to_stored_event(event)
    state = mapper.transcoder.decode(stored.state)
    state.pop("buckets_rotated")
    state.pop("class_version", None)
    legacy = type(stored)(stored.originator_id, stored.originator_version, stored.topic,
                          mapper.transcoder.encode(state))
    assert mapper.to_domain_event(legacy).buckets_rotated == []


def _shred_entries(app: VaultApplication) -> list[Any]:
    from cli.audit import Entry
    events = [e for e in app.repository.event_store.get(app_keyring_id())
              if type(e).__name__ == "SubjectShredded"]
    return [Entry("vault", i, "SubjectShredded", str(e.originator_id), e.originator_version,
                  e.timestamp, {k: v for k, v in vars(e).items() if k != "timestamp"})
            for i, e in enumerate(events, start=1)]


def test_audit_verify_reports_a_bucket_key_that_outlived_an_erasure(restored: VaultApplication,
                                                                   tmp_path: Path) -> None:
    from cli.audit import verify
    keys_before = tmp_path / "keys-before"
    shutil.copytree(restored.settings.key_dir, keys_before)
    _erase(restored)
    entries = _shred_entries(restored)
    assert entries[-1].attributes["buckets_rotated"]
    live = restored.keyring.live_versions
    assert verify({"vault": entries}, bucket_versions=live) == []
    # an old key dir restored over the live one (or a destruction that never happened)
    shutil.copytree(keys_before, restored.settings.key_dir, dirs_exist_ok=True)
    found = verify({"vault": entries}, bucket_versions=live)
    # one per destroyed DEK: each key group of the victim's generation had its own bucket
    assert [v.kind for v in found] == ["ERASED_KEY_ALIVE"] * len(restored.groups.names)
    assert all(VICTIM not in v.message for v in found)


def _put_keys_db(root: Path, source: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (root / "var" / "vault" / f"keys.db{suffix}").unlink(missing_ok=True)
    shutil.copy(source, root / "var" / "vault" / "keys.db")


def test_starting_on_an_old_keys_db_destroys_no_key_a_newer_keys_db_needs(
        template: Path, tmp_path: Path) -> None:
    root = _copy(template, tmp_path / "r")
    app = _open(root)
    _erase(app)
    app.close()
    _backup(root, tmp_path / "after")
    _put_keys_db(root, root / "backup" / "keys.db")  # an operator restores an old keys.db
    app = _open(root)  # start-up reconciliation runs on the old rows
    assert _unwrappable(root, app, VICTIM) == []
    app.close()
    _put_keys_db(root, tmp_path / "after" / "keys.db")  # then the newest one, as README advises
    app = _open(root)
    try:
        _check_others(app)
    finally:
        app.close()


def test_a_store_racing_an_erasure_never_ends_up_readable(restored: VaultApplication) -> None:
    stop = threading.Event()

    def keep_storing() -> None:
        while not stop.is_set():
            restored.store([_victim_record(b"racing", dt.datetime.now(dt.timezone.utc))])

    writer = threading.Thread(target=keep_storing)
    writer.start()
    try:
        _, _, erased_at, _ = _erase(restored)
    finally:
        stop.set()
        writer.join()
    left = restored.export_subject(VICTIM, "check")
    assert all(r.received_at >= erased_at for r in left)
    assert _unwrappable(restored.settings.data_dir.parent, restored, VICTIM) == []


# ---- partial erasure: a hold keeps one key group, every other group is destroyed ----
HELD = "system.operations"


def _metadata(n: int, i: int) -> bytes:
    return f"metadata {i} of subject {n}".encode()


@pytest.fixture(scope="module")
def partial_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """As ``template``, the victim's generation 2 also holding technical metadata; a backup of
    keys.db + records.db taken just before the partial erasure under test."""
    root = tmp_path_factory.mktemp("partial")
    app = _open(root)
    now = dt.datetime.now(dt.timezone.utc)
    app.store([r for n in range(1, SUBJECTS + 1) for r in _records(n, 2, now)])
    app.shred_subject(VICTIM, "erase-0")
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    app.store(_records(1, 3, later) + [
        RecordIn(str(uuid.uuid4()), VICTIM, HELD, "metadata", "EU", _metadata(1, i), later, "i-1")
        for i in range(2)])
    app.open_sessions([(VICTIM, "session-hint", later)])
    app.close()
    _backup(root, root / "backup")
    return root


def _erase_partially(app: VaultApplication) -> Any:
    return app.shred_subject(VICTIM, "erase-1", keep=(HELD,))


def _held_only(root: Path, app: VaultApplication) -> None:
    """The victim's content is gone for good (the backup's DEKs of every other group open with no
    live key) while the held metadata still reads, from the live system and from the backup."""
    held = app.groups.of(HELD)
    assert {group for _, group in _unwrappable(root, app, VICTIM)} == {held}
    got = app.export_subject(VICTIM, "check")
    assert sorted(r.content for r in got) == [_metadata(1, 0), _metadata(1, 1)]
    assert app.db.execute("SELECT COUNT(*) FROM sessions WHERE subject_ref=?", (VICTIM,))[0][0] == 1


def _partial_reported_only_when_complete(root: Path, app: VaultApplication) -> None:
    if "erase-1" in app.repository.get(app_keyring_id()).shreds:
        _held_only(root, app)
    else:  # nothing destroyed yet, or only some groups: held metadata must still read
        assert _metadata(1, 0) in {r.content for r in app.export_subject(VICTIM, "check")}
    _check_others(app)


def _partial_complete_once(root: Path, app: VaultApplication) -> None:
    _held_only(root, app)
    _check_others(app)
    assert _events(app)["SubjectShredded"] == 2
    assert app.keyring.groups_of(VICTIM, 2) == [app.groups.of(HELD)]


@pytest.mark.parametrize("mode", ["raise", "readonly"])
def test_a_partial_erasure_that_fails_at_any_write_step_keeps_the_held_group_and_destroys_the_rest(
        partial_template: Path, tmp_path: Path, mode: str) -> None:
    steps = _enumerate(partial_template, tmp_path, mode, _erase_partially,
                       _partial_reported_only_when_complete, _partial_complete_once)
    assert any("destroy" in s for s in steps) and steps[-1] == "event store save"


def test_the_held_group_is_shredded_by_a_later_request_after_a_partial_erasure(
        partial_template: Path, tmp_path: Path) -> None:
    root = _copy(partial_template, tmp_path / "r")
    app = _open(root)
    try:
        _erase_partially(app)
        app.shred_subject(VICTIM, "erase-1-held")
        _check_erased(root, app)
        _check_others(app)
        assert app.keyring.generations_of(VICTIM) == []
        assert app.repository.get(app_keyring_id()).shreds["erase-1"]["kept_categories"] == [HELD]
    finally:
        app.close()


def test_dek_rows_from_before_key_groups_become_the_group_all_and_still_decrypt(
        tmp_path: Path) -> None:
    """A keys.db written before key groups (deks keyed by subject and generation) is migrated at
    start: its rows become the group ``*``, whose records keep decrypting and whose erasure
    destroys them; a partial erasure keeps such a generation whole."""
    from services.vault.keys import ALL
    root = tmp_path / "old"
    app = _open(root)
    when = dt.datetime.now(dt.timezone.utc)
    app.store(_records(1, 2, when) + _records(2, 1, when))
    # rewrite keys.db to the old shape: one DEK per generation, wrapped with aad subject|generation
    hierarchy = app.keyring
    rows = hierarchy.store.execute("SELECT subject_ref, generation FROM deks WHERE grp=?",
                                   ("user.content",))
    old = []
    for subject, generation in rows:
        dek = hierarchy.dek(subject, int(generation), "user.content")
        bucket = hierarchy.bucket_of(subject, int(generation))
        version = hierarchy._current_version(bucket)  # noqa: SLF001
        old.append((subject, generation, bucket, version, hierarchy._wrap(  # noqa: SLF001
            bucket, version, dek, dek_aad(subject, int(generation)))))
    app.close()
    db = sqlite3.connect(root / "var" / "vault" / "keys.db")
    db.executescript("DROP TABLE deks; DROP TABLE key_schema; CREATE TABLE deks (subject_ref TEXT "
                     "NOT NULL, generation BIGINT NOT NULL, bucket BIGINT NOT NULL, bucket_version "
                     "BIGINT NOT NULL, wrapped BLOB NOT NULL, PRIMARY KEY (subject_ref, generation))")
    db.executemany("INSERT INTO deks VALUES (?, ?, ?, ?, ?)", old)
    db.commit()
    db.close()
    app = _open(root)
    try:
        assert app.keyring.groups_of(_ref(1), 1) == [ALL]
        assert sorted(r.content for r in app.export_subject(_ref(1), "r")) == [_content(1, 0), _content(1, 1)]
        app.shred_subject(_ref(1), "erase-partial", keep=(HELD,))  # a hold keeps the old DEK whole
        assert len(app.export_subject(_ref(1), "r")) == 2
        app.shred_subject(_ref(1), "erase-rest")
        assert app.export_subject(_ref(1), "r") == []
        assert [r.content for r in app.export_subject(_ref(2), "r")] == [_content(2, 0)]
    finally:
        app.close()


def test_the_held_part_shred_leaves_later_use_of_the_account_alone(
        partial_template: Path, tmp_path: Path) -> None:
    """After a partial erasure the account keeps using the service (generation 3); shredding the
    held part through generation 2 destroys the held metadata only, and moves no tombstone."""
    root = _copy(partial_template, tmp_path / "r")
    app = _open(root)
    try:
        _erase_partially(app)
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
        app.store([RecordIn(str(uuid.uuid4()), VICTIM, "user.content", "original", "EU",
                            b"after the erasure", later, "i-2")])
        app.shred_subject(VICTIM, "erase-1:held", through_generation=2)
        assert [r.content for r in app.export_subject(VICTIM, "check")] == [b"after the erasure"]
        assert app.keyring.generations_of(VICTIM) == [3]
        assert {g for g, _ in _unwrappable(root, app, VICTIM)} == set()  # backup: nothing opens
        app.store([RecordIn(str(uuid.uuid4()), VICTIM, "user.content", "original", "EU",
                            b"late retry", later, "i-3")])  # received after the partial erasure
        assert len(app.export_subject(VICTIM, "check")) == 2
        _check_others(app)
    finally:
        app.close()
