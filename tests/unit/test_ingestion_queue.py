"""The durable ingest queue, tried the way it could break: a fault at every write step of
de-identification, erasure while items wait, runs past the worker's batch size, and someone who
holds the pepper (and every other key that survives an erasure) guessing content.

The downstream is an in-process stand-in that keeps the vault's rules that matter here: a session
(id, pseudonym key) per (subject, hint), gone at erasure; nothing received before an erasure is
opened or stored; a record id is stored once.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path

import pytest

from services.ingestion.application import DEIDENTIFIED, IngestionApplication
from services.ingestion.deidentify import DownstreamRefused, VaultRecordIn
from services.ingestion.domain import IngestedInteraction, InteractionIn
from shared.config import load_settings
from shared.crypto import DecryptionError, keyed_digest, subject_ref
from shared.ids import stable_id
from shared.keysource import FileKeySource
from services.ingestion.worker import QUEUE_BATCH, DeidentificationWorker


class Fault(Exception):
    """An injected failure."""


class FakeDownstream:
    """Vault and anonymization in one, with the vault's erasure rules; ``fail_at`` injects a
    Fault at the n-th call of a method (``{"store": 2}``), counted from the start."""

    def __init__(self) -> None:
        self.sessions: dict[tuple[str, str], tuple[str, bytes]] = {}
        self.erased_before: dict[str, dt.datetime] = {}
        self.records: dict[str, VaultRecordIn] = {}
        self.calls: dict[str, int] = {"open_sessions": 0, "anonymize": 0, "store": 0}
        self.fail_at: dict[str, int] = {}
        self.refuse = "poison"  # a store of a record holding this is refused for good

    def _call(self, name: str) -> None:
        self.calls[name] += 1
        if self.fail_at.get(name) == self.calls[name]:
            raise Fault(name)

    def open_sessions(self, items: list[tuple[str, str, dt.datetime]]) -> list[tuple[str, bytes] | None]:
        self._call("open_sessions")
        out: list[tuple[str, bytes] | None] = []
        for ref, hint, received_at in items:
            if ref in self.erased_before and received_at < self.erased_before[ref]:
                out.append(None)
                continue
            out.append(self.sessions.setdefault((ref, hint), (os.urandom(16).hex(), os.urandom(32))))
        return out

    def anonymize(self, texts: list[str], keys: list[bytes]) -> list[tuple[str, list[str]]]:
        self._call("anonymize")
        return [(t.replace("alice@example.org", "<EMAIL>"), ["EMAIL"] * t.count("alice@example.org"))
                for t in texts]

    def store(self, records: list[VaultRecordIn]) -> list[str]:
        self._call("store")
        if any(self.refuse.encode() in r.content for r in records):
            raise DownstreamRefused("VAULT_REFUSED")
        out = []
        for r in records:
            if r.subject_ref in self.erased_before and r.received_at < self.erased_before[r.subject_ref]:
                out.append("erased")
            elif r.record_id in self.records:
                out.append("duplicate")
            else:
                self.records[r.record_id] = r
                out.append("stored")
        return out

    def erase(self, ref: str) -> None:
        self.erased_before[ref] = dt.datetime.now(dt.timezone.utc)
        self.sessions = {k: v for k, v in self.sessions.items() if k[0] != ref}
        self.records = {k: r for k, r in self.records.items() if r.subject_ref != ref}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("LETHE_PERSISTENCE", "LETHE_INSECURE_LOCAL_DEV"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(tmp_path / "var", tmp_path / "keys")
    down = FakeDownstream()
    apps = [IngestionApplication(settings, FileKeySource(settings.key_dir), down)]

    def restart() -> IngestionApplication:  # a new process on the same store
        apps[-1].close()
        apps.append(IngestionApplication(settings, FileKeySource(settings.key_dir), down))
        return apps[-1]
    yield apps[0], down, restart, settings
    apps[-1].close()


WHEN = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=5)


def items(n: int, account: str = "acct-1", text: str = "write to alice@example.org",
          when: dt.datetime = WHEN) -> list[InteractionIn]:
    return [InteractionIn(account, f"conv-{i % 3}", "203.0.113.7", "Mozilla/5.0 Firefox/120.0", "EU",
                          when, "interaction", f"{text} ({i})", f"ok {i}", "") for i in range(n)]


def drain_all(app: IngestionApplication) -> None:
    while DeidentificationWorker(app).drain():
        pass


def ingested(app: IngestionApplication) -> list[str]:
    return [e.originator_id for e in app.read_events() if e.event_type == "InteractionIngested"]


def test_a_durable_ingest_answers_accepted_and_stores_nothing_until_drained(env) -> None:
    app, down, _, _ = env
    results = app.ingest(items(5))
    assert [r.status for r in results] == ["accepted"] * 5
    assert down.records == {} and down.calls["anonymize"] == 0 and app.queue.count() == 5
    assert [r.status for r in app.ingest(items(5))] == ["accepted"] * 5  # a retry while queued
    assert app.queue.count() == 5
    drain_all(app)
    assert app.queue.count() == 0 and len(down.records) == 15 and len(ingested(app)) == 5
    assert [r.status for r in app.ingest(items(5))] == ["duplicate"] * 5


def test_deidentified_answers_with_entity_counts_and_an_item_repeated_in_a_batch_once(env) -> None:
    app, down, _, _ = env
    batch = items(3)
    results = app.ingest([*batch, batch[0]], DEIDENTIFIED)
    assert [r.status for r in results] == ["stored"] * 3 + ["duplicate"]
    assert [r.entities_redacted for r in results[:3]] == [1, 1, 1]
    assert results[3].interaction_id == results[0].interaction_id
    assert app.queue.count() == 0 and len(ingested(app)) == 3


@pytest.mark.parametrize("step", ["open_sessions", "anonymize", "store", "store-second-call",
                                  "event", "remove"])
def test_a_fault_at_every_step_of_a_drain_loses_and_duplicates_nothing(env, step: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    app, down, restart, _ = env
    n = QUEUE_BATCH + QUEUE_BATCH // 2  # past one run of the worker
    big = "x" * 200_000  # so that a run's store is split in several vault calls
    batch = items(n, text=big + " alice@example.org")
    assert {r.status for r in app.ingest(batch)} == {"accepted"}
    before = dict(down.calls)
    if step in ("open_sessions", "anonymize", "store"):
        down.fail_at[step] = before[step] + 1
    elif step == "store-second-call":
        down.fail_at["store"] = before["store"] + 2
    elif step == "event":
        monkeypatch.setattr(app, "save", lambda *a, **k: (_ for _ in ()).throw(Fault("save")))
    else:
        monkeypatch.setattr(app.queue, "remove", lambda ids: (_ for _ in ()).throw(Fault("remove")))
    with pytest.raises(Fault):
        DeidentificationWorker(app).drain()
    assert app.queue.count() == n  # nothing left the queue: the run is replayed
    app = restart()  # the process died there
    drain_all(app)
    assert app.queue.count() == 0
    assert len(down.records) == 3 * n, "every acknowledged interaction stored"
    events = ingested(app)
    assert len(events) == n and len(set(events)) == n, "one InteractionIngested each"
    meta = [r for r in down.records.values() if r.form == "metadata"]
    assert all(b'"entities_redacted": {"EMAIL": 1}' in r.content for r in meta)


def test_an_erasure_while_items_wait_drops_them_unread_and_their_ciphertext_opens_to_nobody(env) -> None:
    app, down, _, settings = env
    app.ingest(items(4, "acct-erased"))
    app.ingest(items(3, "acct-kept"))
    erased = subject_ref(app.pepper, "acct-erased")
    entry = next(e for e in app.queue.oldest(100) if e.subject_ref == erased)
    old_key = down.sessions[(erased, entry.session_hint)][1]
    down.erase(erased)
    drain_all(app)
    assert app.queue.count() == 0
    assert {r.subject_ref for r in down.records.values()} == {subject_ref(app.pepper, "acct-kept")}
    assert len(ingested(app)) == 3
    # A copy of the queue taken before the erasure: the keys that still exist open nothing of it.
    for key in [app.pepper, *[k for _, k in down.sessions.values()]]:
        with pytest.raises(DecryptionError):
            entry.open(key)
    assert entry.open(old_key).prompt.startswith("write to")  # (the key the vault destroyed did)


def test_after_erasure_the_pepper_confirms_no_guessed_content(env) -> None:
    app, down, _, settings = env
    batch = items(4, "acct-guessed")
    app.ingest(batch[:2])
    app.ingest(batch[2:], DEIDENTIFIED)
    drain_all(app)
    app.ingest(items(2, "acct-guessed", "another"))  # still queued at the erasure
    down.erase(subject_ref(app.pepper, "acct-guessed"))
    drain_all(app)
    app.queue.scrub()
    # What the old scheme put in the log: ids anyone with the pepper recomputes from content.
    guesses = set()
    for item in [*batch, *items(2, "acct-guessed", "another")]:
        digest = keyed_digest(app.pepper, "interaction", item.account_id, item.session_hint,
                              item.occurred_at.isoformat(), item.kind, item.prompt, item.response,
                              item.contact)
        iid = stable_id("interaction", digest)
        guesses |= {str(iid), iid.hex, digest}
        guesses |= {str(stable_id("record", str(iid), form)) for form in ("original", "redacted", "metadata")}
    events = list(app.read_events())
    text = " ".join(f"{e.originator_id} {e.attributes_json()}" for e in events)
    assert not [g for g in guesses if g in text], "the log holds a pepper-derived id"
    for path in Path(settings.service_dir("ingestion")).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [g for g in guesses if g.encode() in data], path.name
            assert b"write to alice" not in data and b"another" not in data, path.name
    # Nor does the log keep a time, a kind, a region or entity counts per interaction.
    for e in events:
        if e.event_type == "InteractionIngested":
            assert set(e.attributes) == {"interaction_id", "subject_ref", "record_ids",
                                         "originator_topic"}
            assert e.recorded_at == dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def test_a_v1_event_reads_without_its_per_interaction_facts() -> None:
    state = {"interaction_id": "x", "subject_ref": "sr_" + "0" * 32, "kind": "interaction",
             "region": "EU", "received_at": "2026-01-01T00:00:00+00:00", "record_ids": ["r"],
             "entities_redacted": {"US_SSN": 1}}
    IngestedInteraction.InteractionIngested.upcast_v1_v2(state)
    assert set(state) == {"interaction_id", "subject_ref", "record_ids"}


def test_the_queue_is_committed_before_the_answer(env, tmp_path: Path) -> None:
    app, _, _, settings = env
    app.ingest(items(2))
    # Another connection (as after a SIGKILL) sees both rows, sealed.
    db = sqlite3.connect(Path(settings.service_dir("ingestion")) / "pending.db")
    rows = db.execute("SELECT blob FROM pending").fetchall()
    db.close()
    assert len(rows) == 2 and all(b"alice" not in bytes(r[0]) for r in rows)


def test_an_item_refused_for_good_is_parked_and_the_others_go_on(env) -> None:
    app, down, _, _ = env
    batch = items(10)
    batch[3] = items(1, text="poison")[0]
    app.ingest(batch)
    drain_all(app)
    assert app.queue.count() == 0 and app.queue.count(parked=True) == 1
    assert len(down.records) == 27 and len(ingested(app)) == 9
    worker = DeidentificationWorker(app)
    assert worker.drop_erased_parked() == 0  # its subject is still there: it stays parked
    down.erase(subject_ref(app.pepper, "acct-1"))
    assert worker.drop_erased_parked() == 1 and app.queue.count(parked=True) == 0


def test_a_stream_keeps_one_request_id_and_an_unknown_acknowledge_is_refused(env) -> None:
    from services.ingestion.servicer import IngestionServicer
    from shared.errors import InvalidArgument
    from shared.gen.lethe.v1 import ingestion_pb2 as pb

    app = env[0]
    servicer = IngestionServicer(app)

    def message(n: int, request_id: str, acknowledge: int = pb.ACKNOWLEDGE_DURABLE) -> pb.IngestStreamRequest:
        m = pb.Interaction(account_id="acct-s", region="EU", prompt=f"stream {n}", sequence=n)
        m.occurred_at.FromDatetime(WHEN)
        return pb.IngestStreamRequest(interaction=m, request_id=request_id, acknowledge=acknowledge)

    first = servicer.IngestStream(iter([message(0, "s-1"), message(1, ""), message(2, "s-1")]), None)
    assert [r.outcome for r in first.results] == [pb.INGEST_OUTCOME_ACCEPTED] * 3
    with pytest.raises(InvalidArgument) as changed:
        servicer.IngestStream(iter([message(0, "s-2"), message(1, "s-3")]), None)
    assert changed.value.reason == "REQUEST_ID_CHANGED"
    with pytest.raises(InvalidArgument) as bad_id:
        servicer.IngestStream(iter([message(0, "not an id@example.org")]), None)
    assert bad_id.value.reason == "REQUEST_ID_INVALID"
    with pytest.raises(InvalidArgument) as unknown:
        servicer.Ingest(pb.IngestRequest(interactions=[message(0, "").interaction], acknowledge=7), None)
    assert unknown.value.reason == "ACKNOWLEDGE_INVALID"
    done = servicer.Ingest(pb.IngestRequest(interactions=[message(5, "").interaction],
                                            acknowledge=pb.ACKNOWLEDGE_DEIDENTIFIED), None)
    assert done.results[0].outcome == pb.INGEST_OUTCOME_STORED
