"""Ingest binds its request id with its first answer, in one commit after the call
(shared/idempotency.py, APPLICATION_IDEMPOTENT). Attempts to break what the binding promised before:
* a crowd of threads sends one id with a few different requests at the same moment: the servicer
  runs once, for one request; every caller of that request gets the same first answer, every
  other caller REQUEST_ID_REUSED (and is recorded as refused);
* a retry of the bound request that arrives while a refused latecomer holds the id's claim still
  gets the first answer (the latecomer's claim is no evidence of a binding);
* a call that fails binds its id all the same: another request with it is refused later, the same
  request runs again (nothing was answered);
* two replicas (two stores on one file, no shared claims) race one id with two requests: one
  answer wins durably; the other replica's caller is refused, never answered with the winner's;
* a store that cannot write fails the call (UNAVAILABLE or INTERNAL), leaves nothing bound, and
  the retry on a writable store runs and binds.
* a failure at each write step (the effect's commit, the binding's commit after the effect) and a
  SIGKILL between them: the effect exists once, the retry with the same id is answered and binds it.
The crowd and the replicas run on SQLite and on PostgreSQL (one schema per case, dropped after).
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from shared.errors import Unavailable
from shared.gen.lethe.v1 import ingestion_pb2
from shared.idempotency import APPLICATION_IDEMPOTENT, IdempotencyStore
from shared.server import Guards, _guard
from shared.config import Settings
from shared.store import SqlStore, open_store
from tests.unit.test_idempotency import Aborted, FakeContext
from tests.unit.test_store_readers import PG

INGEST = "lethe.v1.IngestionService/Ingest"


def _request(n: int, request_id: str = "req-1") -> ingestion_pb2.IngestRequest:
    return ingestion_pb2.IngestRequest(request_id=request_id, interactions=[
        ingestion_pb2.Interaction(account_id=f"acct-{n}", prompt=f"prompt {n}")])


class Servicer:
    """Counts runs per request; answers with the request's first account id."""

    def __init__(self, fail: bool = False) -> None:
        self.runs: list[str] = []
        self.fail = fail
        self.lock = threading.Lock()

    def __call__(self, request: Any, context: Any) -> Any:
        with self.lock:
            self.runs.append(request.interactions[0].account_id)
        if self.fail:
            raise Unavailable("vault is unavailable; retry later")
        return ingestion_pb2.IngestResponse(results=[ingestion_pb2.IngestResult(
            interaction_id=request.interactions[0].account_id)])


def _guarded(store: IdempotencyStore, servicer: Servicer, refused: list[Any]) -> Any:
    return _guard(f"/{INGEST}", servicer, False, Guards(idempotency=store,
                                                       refused=lambda *a: refused.append(a)),
                  lambda r: r if isinstance(r, bytes) else r.SerializeToString())


def _call(guard: Any, request: Any) -> tuple[str, Any]:
    context = FakeContext("client")
    try:
        answer = guard(request, context)
    except Aborted:
        return "refused" if context.code == grpc.StatusCode.ALREADY_EXISTS else str(context.code), None
    return "answered", answer if isinstance(answer, bytes) else answer.SerializeToString()


@pytest.fixture(params=["sqlite", "postgres"])
def opener(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[], SqlStore]]:
    """Opens a connection set to one idempotency store (call it twice: two replicas)."""
    if request.param == "sqlite":
        yield lambda: SqlStore(str(tmp_path / "i.db"))
        return
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys", persistence="postgres",
                        postgres=PG, schema_prefix=f"t{uuid.uuid4().hex[:10]}")
    yield lambda: open_store(settings, "test", "idempotency")
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as db:
        db.execute(f'DROP SCHEMA IF EXISTS "{settings.schema("test")}" CASCADE')


def test_ingest_is_the_deferred_method(tmp_path: Path) -> None:
    store = IdempotencyStore(SqlStore(str(tmp_path / "i.db")))
    assert INGEST in APPLICATION_IDEMPOTENT and store.deferred == APPLICATION_IDEMPOTENT


def test_a_retry_waiting_behind_a_refused_latecomer_gets_the_first_answer(tmp_path: Path) -> None:
    store = IdempotencyStore(SqlStore(str(tmp_path / "i.db")))
    servicer, refused = Servicer(), []
    guard = _guarded(store, servicer, refused)
    assert _call(guard, _request(1))[0] == "answered"  # request 1 is bound
    in_lookup, go_on = threading.Event(), threading.Event()
    lookup = store.lookup

    def slow_lookup(*key: str) -> Any:  # the latecomer holds the claim while it reads
        in_lookup.set()
        go_on.wait(10)
        return lookup(*key)

    store.lookup = slow_lookup  # type: ignore[method-assign]
    outcomes: dict[str, tuple[str, Any]] = {}
    late = threading.Thread(target=lambda: outcomes.update(late=_call(guard, _request(2))))
    late.start()
    assert in_lookup.wait(10)
    store.lookup = lookup  # type: ignore[method-assign]
    retry = threading.Thread(target=lambda: outcomes.update(retry=_call(guard, _request(1))))
    retry.start()
    retry.join(0.3)  # it reaches the claim the latecomer holds
    go_on.set()
    late.join(10)
    retry.join(10)
    assert outcomes["late"] == ("refused", None)
    assert outcomes["retry"][0] == "answered" and servicer.runs == ["acct-1"]


@pytest.mark.parametrize("seed", range(4))
def test_a_crowd_on_one_id_runs_one_request_once(opener: Callable[[], SqlStore], seed: int) -> None:
    rng = random.Random(seed)
    store = IdempotencyStore(opener())
    servicer, refused = Servicer(), []
    guard = _guarded(store, servicer, refused)
    picks = [rng.randrange(3) for _ in range(48)]
    outcomes: list[tuple[int, str, Any]] = []
    start = threading.Barrier(len(picks))

    def one(n: int) -> None:
        start.wait()
        outcomes.append((n, *_call(guard, _request(n))))

    threads = [threading.Thread(target=one, args=(n,)) for n in picks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    summary = sorted({(n, status) for n, status, _ in outcomes})
    assert len(servicer.runs) == 1, (servicer.runs, summary)
    winner = int(servicer.runs[0].split("-")[1])
    answers = {a for n, status, a in outcomes if status == "answered"}
    assert all(status == "answered" for n, status, _ in outcomes if n == winner), (winner, summary)
    assert all(status == "refused" for n, status, _ in outcomes if n != winner), (winner, summary)
    assert len(answers) == 1 and len(refused) == sum(n != winner for n in picks)
    assert _call(guard, _request(winner)) == ("answered", answers.pop())  # a later retry
    assert len(servicer.runs) == 1


def test_a_failed_call_binds_its_id(tmp_path: Path) -> None:
    store = IdempotencyStore(SqlStore(str(tmp_path / "i.db")))
    failing, refused = Servicer(fail=True), []
    guard = _guarded(store, failing, refused)
    assert _call(guard, _request(1))[0] == str(grpc.StatusCode.UNAVAILABLE)
    assert _call(guard, _request(2))[0] == "refused"
    assert _call(guard, _request(1))[0] == str(grpc.StatusCode.UNAVAILABLE)  # ran again
    assert failing.runs == ["acct-1", "acct-1"]
    working = Servicer()
    assert _call(_guarded(store, working, refused), _request(1))[0] == "answered"


@pytest.mark.parametrize("seed", range(3))
def test_two_replicas_racing_one_id_answer_one_request(opener: Callable[[], SqlStore], seed: int) -> None:
    replicas = [IdempotencyStore(opener()), IdempotencyStore(opener())]
    servicers, refused = [Servicer(), Servicer()], []
    guards = [_guarded(r, s, refused) for r, s in zip(replicas, servicers, strict=True)]
    results: dict[int, tuple[str, Any]] = {}
    start = threading.Barrier(2)

    def one(k: int) -> None:
        start.wait()
        results[k] = _call(guards[k], _request(k + 10 * seed))

    threads = [threading.Thread(target=one, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(s for s, _ in results.values()) == ["answered", "refused"]
    (winner,) = [k for k, (s, _) in results.items() if s == "answered"]
    sql = replicas[0].store
    assert sql.execute("SELECT COUNT(*) FROM request_digests")[0][0] == 1
    stored = sql.execute("SELECT response FROM idempotency")
    assert [bytes(r[0]) for r in stored] == [results[winner][1]]
    # Whatever ran, the loser's caller got no answer, and a retry of the loser stays refused.
    loser = 1 - winner
    assert _call(guards[loser], _request(loser + 10 * seed))[0] == "refused"


def test_a_read_only_store_fails_the_call_and_binds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "i.db"
    IdempotencyStore(SqlStore(str(path)))  # create the tables
    path.chmod(0o444)
    try:
        ro = SqlStore(str(path))
        ro.execute("PRAGMA query_only=ON")
        store = IdempotencyStore.__new__(IdempotencyStore)
        IdempotencyStore.__init__(store, _NoSchema(ro))
        servicer, refused = Servicer(), []
        status, _ = _call(_guarded(store, servicer, refused), _request(1))
        assert status in (str(grpc.StatusCode.UNAVAILABLE), str(grpc.StatusCode.INTERNAL))
    finally:
        path.chmod(0o644)
    fresh = IdempotencyStore(SqlStore(str(path)))
    assert fresh.lookup("client", INGEST, "req-1") == (None, None)
    again = Servicer()
    assert _call(_guarded(fresh, again, []), _request(1))[0] == "answered" and again.runs == ["acct-1"]


class _NoSchema:
    """A store whose schema statements are skipped (they would write), the rest passed on."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.blob = store.blob

    def execute(self, sql: str, params: Any = ()) -> Any:
        if sql.lstrip().upper().startswith(("CREATE", "DELETE")):
            return []
        return self._store.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class EffectServicer:
    """Ingest's shape: an effect idempotent by content (a row keyed by the request's content), then
    an answer. ``fail_effect`` makes the effect's write raise before it commits."""

    def __init__(self, effects: SqlStore, fail_effect: bool = False) -> None:
        self.effects = effects
        self.fail_effect = fail_effect
        effects.execute("CREATE TABLE IF NOT EXISTS effects (content TEXT PRIMARY KEY)")

    def __call__(self, request: Any, context: Any) -> Any:
        content = request.interactions[0].account_id
        with self.effects.transaction() as tx:
            tx.execute("INSERT INTO effects VALUES (?) ON CONFLICT DO NOTHING", (content,))
            if self.fail_effect:
                raise OSError("disk full")
        return ingestion_pb2.IngestResponse(results=[ingestion_pb2.IngestResult(interaction_id=content)])


@pytest.mark.parametrize("step", ["effect", "binding"])
def test_a_failure_at_each_write_step_leaves_one_effect_and_a_working_retry(
        tmp_path: Path, step: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The effect's commit fails, or the binding's commit after the effect fails: the caller gets
    an error, the retry with the same id is answered, the effect exists once, and later the id
    answers its first answer and refuses another request."""
    effects = SqlStore(str(tmp_path / "effects.db"))
    store = IdempotencyStore(SqlStore(str(tmp_path / "i.db")))
    servicer = EffectServicer(effects, fail_effect=step == "effect")
    if step == "binding":
        real = store._writes.run
        failed: list[bool] = []

        def fail_once(writes: Any) -> Any:
            if not failed:
                failed.append(True)
                raise OSError("read-only file system")
            return real(writes)
        monkeypatch.setattr(store._writes, "run", fail_once)
    guard = _guarded(store, servicer, [])
    status, _ = _call(guard, _request(1))
    assert status in (str(grpc.StatusCode.INTERNAL), str(grpc.StatusCode.UNAVAILABLE))
    servicer.fail_effect = False
    status, first = _call(guard, _request(1))
    assert status == "answered"
    assert effects.execute("SELECT content FROM effects") == [("acct-1",)]
    assert _call(guard, _request(1)) == ("answered", first)
    assert _call(guard, _request(2))[0] == "refused"
    assert effects.execute("SELECT COUNT(*) FROM effects")[0][0] == 1


_KILLED_CALLER = """
import os, sys
sys.path.insert(0, {repo!r})
from shared.gen.lethe.v1 import ingestion_pb2
from shared.idempotency import IdempotencyStore
from shared.store import SqlStore
from tests.unit.test_idempotency_deferred import EffectServicer, _call, _guarded, _request
effects = SqlStore({effects!r})
store = IdempotencyStore(SqlStore({idem!r}))
servicer = EffectServicer(effects)
def killed(writes):
    os.kill(os.getpid(), 9)  # SIGKILL after the effect committed, before the binding
store._writes.run = killed
_call(_guarded(store, servicer, []), _request(1))
"""


def test_sigkill_between_the_effect_and_the_binding(tmp_path: Path) -> None:
    """The process dies after the effect's commit and before the binding's: after the restart the
    retry runs again (the effect stays single), is answered, and binds the id."""
    import subprocess
    import sys

    repo = str(Path(__file__).resolve().parents[2])
    effects, idem = str(tmp_path / "effects.db"), str(tmp_path / "i.db")
    done = subprocess.run([sys.executable, "-c", _KILLED_CALLER.format(repo=repo, effects=effects, idem=idem)],
                          cwd=repo, capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr.decode()[-500:]
    store = IdempotencyStore(SqlStore(idem))
    effect_store = SqlStore(effects)
    assert effect_store.execute("SELECT content FROM effects") == [("acct-1",)]
    assert store.lookup("client", INGEST, "req-1") == (None, None)
    guard = _guarded(store, EffectServicer(effect_store), [])
    status, first = _call(guard, _request(1))
    assert status == "answered" and effect_store.execute("SELECT COUNT(*) FROM effects")[0][0] == 1
    assert _call(guard, _request(1)) == ("answered", first)
    assert _call(guard, _request(2))[0] == "refused"
