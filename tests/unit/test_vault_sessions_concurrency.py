"""Sessions opened from many threads while stores and erasures run (services/vault/sessions.py).

Sessions that exist are opened without the service lock and new ones under the session lock only,
so this tries to break what the service lock used to guarantee. Threads open random (subject, hint)
pairs, for new and known subjects, at random moments, while other threads store records and erase
subjects; then:
* between two erasures of a subject, every opener of one hint got one and the same session;
* a session opened before an erasure is never handed out after it (its key died with the DEK),
  and no ``sessions`` row of an erased generation is left behind;
* an open for data received before the erasure answers None (erased), never a live session;
* every opener got an answer (no deadlock, no error).
On PostgreSQL the threads are split over two replicas (two vault applications on one schema, each
with its own locks, which meet only in PostgreSQL's advisory locks). Seeds are fixed per case, so a
failure reproduces.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from pathlib import Path

import pytest

from services.vault.application import RecordIn, VaultApplication
from services.vault.domain import SubjectKeyring
from shared.config import Settings
from shared.keysource import FileKeySource

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)


def _subject(i: int) -> str:
    return f"sr_{i:032x}"


PG = {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres",
      "POSTGRES_DBNAME": "test", "POSTGRES_PASSWORD": ""}


@pytest.fixture(params=["sqlite", "postgres"])
def replicas(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[list[VaultApplication]]:
    """One vault on SQLite; two replicas of one vault on PostgreSQL."""
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
    if request.param == "postgres":
        settings = Settings(data_dir=settings.data_dir, key_dir=settings.key_dir,
                            persistence="postgres", postgres=PG,
                            schema_prefix=f"t{uuid.uuid4().hex[:10]}")
    apps = [VaultApplication(settings, FileKeySource(tmp_path / "keys"), buckets=2)
            for _ in range(2 if request.param == "postgres" else 1)]
    yield apps
    for app in apps:
        app.close()
    if request.param == "postgres":
        import psycopg

        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as db:
            db.execute(f'DROP SCHEMA IF EXISTS "{settings.schema("vault")}" CASCADE')


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sessions_under_concurrent_stores_and_erasures(replicas: list[VaultApplication],
                                                       seed: int) -> None:
    rng = random.Random(seed)
    vault = replicas[0]
    subjects = [_subject(i) for i in range(6)]
    hints = [f"conv-{i}" for i in range(4)]
    vault.open_sessions([(subjects[0], hints[0], NOW)])  # one known subject before the race
    # (subject, hint) -> list of (epoch of erasures seen before and after, session id)
    seen: dict[tuple[str, str], list[tuple[int, int, str]]] = defaultdict(list)
    erasures: dict[str, int] = defaultdict(int)
    erased_before: dict[str, list[dt.datetime]] = defaultdict(list)
    errors: list[BaseException] = []
    guard = threading.Lock()
    start = threading.Barrier(9)

    def opener(k: int) -> None:
        local = random.Random(seed * 100 + k)
        start.wait()
        for _ in range(60):
            batch = [(local.choice(subjects), local.choice(hints)) for _ in range(local.randint(1, 5))]
            with guard:
                before = {s: erasures[s] for s, _ in batch}
            received = dt.datetime.now(dt.timezone.utc)
            found = replicas[k % len(replicas)].open_sessions([(s, h, received) for s, h in batch])
            with guard:
                for (s, h), session in zip(batch, found, strict=True):
                    if session is not None:
                        seen[(s, h)].append((before[s], erasures[s], session[0]))

    def storer(k: int) -> None:
        local = random.Random(seed * 1000 + k)
        start.wait()
        for _ in range(25):
            s = local.choice(subjects)
            replicas[k % len(replicas)].store([RecordIn(str(uuid.uuid4()), s, "user.content", "redacted", "eu",
                                  b"text", dt.datetime.now(dt.timezone.utc), str(uuid.uuid4()))])

    def eraser() -> None:
        start.wait()
        for n in range(8):
            s = rng.choice(subjects)
            with guard:
                erasures[s] += 1  # openers that began before this see the old epoch
            began = dt.datetime.now(dt.timezone.utc)
            replicas[n % len(replicas)].shred_subject(s, f"req-{seed}-{n}")
            with guard:
                erased_before[s].append(began)  # data received before this is covered
                erasures[s] += 1

    def run(target, *args) -> threading.Thread:  # noqa: ANN001
        def body() -> None:
            try:
                target(*args)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
        thread = threading.Thread(target=body)
        thread.start()
        return thread

    threads = [run(opener, k) for k in range(6)] + [run(storer, k) for k in range(2)] + [run(eraser)]
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors

    for (s, h), opens in seen.items():
        by_epoch: dict[int, set[str]] = defaultdict(set)
        for epoch_before, epoch_after, session_id in opens:
            if epoch_before == epoch_after and epoch_before % 2 == 0:  # no erasure overlapped the call
                by_epoch[epoch_before].add(session_id)
        for epoch, ids in by_epoch.items():
            assert len(ids) == 1, f"two sessions for one hint between erasures (epoch {epoch})"
        ids_per_epoch = [next(iter(ids)) for _, ids in sorted(by_epoch.items())]
        assert len(ids_per_epoch) == len(set(ids_per_epoch)), "a session survived an erasure"

    # Rows left: only of live generations; data received before an erasure is refused.
    for s in subjects:
        if not erasures[s]:
            continue
        keyring = vault.repository.get(SubjectKeyring.create_id(s))
        rows = vault.db.execute("SELECT generation FROM sessions WHERE subject_ref=?", (s,))
        live = keyring.generation if keyring.active else None
        assert all(int(g) == live for (g,) in rows), "a sessions row of an erased generation is left"
        last = erased_before[s][-1]
        assert all(r.open_sessions([(s, "conv-0", last)]) == [None] for r in replicas)


def test_a_burst_of_new_subjects_is_created_in_few_batches(replicas: list[VaultApplication]) -> None:
    """32 threads open sessions of 32 new subjects at once: each gets its own session, the same one
    when it opens it again, and the creations run as a few batches (each takes the session lock once),
    not one lock and one commit per caller. The first batch is held 50 ms so that the others queue."""
    app = replicas[0]
    acquired, sync = [], app.session_lock.on_acquire

    def counted() -> None:
        acquired.append(1)
        if len(acquired) == 1:
            threading.Event().wait(0.05)
        sync()

    app.session_lock.on_acquire = counted
    subjects = [_subject(10_000 + i) for i in range(32)]
    start, got = threading.Barrier(len(subjects)), {}

    def one(ref: str) -> None:
        start.wait()
        got[ref] = app.open_sessions([(ref, "hint-1", NOW)])[0]

    threads = [threading.Thread(target=one, args=(ref,)) for ref in subjects]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len({got[ref][0] for ref in subjects}) == len(subjects)
    assert app.open_sessions([(ref, "hint-1", NOW) for ref in subjects]) == [got[ref] for ref in subjects]
    assert len(acquired) <= len(subjects) // 4, len(acquired)


def test_a_failing_batch_of_creations_fails_its_callers_writes_nothing_and_the_retry_works(
        replicas: list[VaultApplication]) -> None:
    """A write failure in the batched creation (its sessions transaction, then its keyring save)
    reaches every caller of that batch as an error, never a hang or a session that was not written;
    no ``sessions`` row is left for a caller that got an error, and the retry gets one session per
    subject that stays the same."""
    app = replicas[0]
    for step, target in enumerate(("db.transaction", "save")):
        owner, name = (app.db, "transaction") if target == "db.transaction" else (app, "save")
        real = getattr(owner, name)

        def failing(*args: Any, **kwargs: Any) -> Any:
            raise OSError("injected write failure")

        setattr(owner, name, failing)
        subjects = [_subject(20_000 + 100 * step + i) for i in range(16)]
        start, outcomes = threading.Barrier(len(subjects)), {}

        def one(ref: str) -> None:
            start.wait()
            try:
                outcomes[ref] = app.open_sessions([(ref, "hint-1", NOW)])[0]
            except Exception as exc:  # noqa: BLE001 - the injected failure, as each caller sees it
                outcomes[ref] = exc

        threads = [threading.Thread(target=one, args=(ref,)) for ref in subjects]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        setattr(owner, name, real)
        assert len(outcomes) == len(subjects), "a caller of the failed batch hung"
        assert all(isinstance(o, OSError) for o in outcomes.values()), (target, outcomes)
        rows = app.db.read(f"SELECT COUNT(*) FROM sessions WHERE subject_ref IN "
                           f"({','.join('?' * len(subjects))})", subjects)
        assert rows[0][0] == 0 or target == "save", "a session row was left for a failed caller"
        retry = app.open_sessions([(ref, "hint-1", NOW) for ref in subjects])
        assert None not in retry and len({s[0] for s in retry}) == len(subjects)
        assert app.open_sessions([(ref, "hint-1", NOW) for ref in subjects]) == retry
