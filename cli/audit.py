"""Audit replay and verification over the five services' event logs.

``integrity`` checks each service's log against its signed tree heads (shared/transparency.py:
streamed, from scratch or from a checkpoint file) and runs first; ``prove`` builds the offline
proof document that shared/proofcheck.py checks. ``read_logs`` streams every service's log over
``ReadEvents``. ``timeline`` merges them into one
lifecycle history (optionally of one subject). ``verify`` checks each log's shape and the services'
agreement with each other, and returns violations by kind, each naming service, position and ids:

Integrity kinds (first problem per service): HEAD_SIGNATURE_INVALID, KEY_CHANGED,
HISTORY_REWRITTEN, EVENT_MISSING, EVENT_OUT_OF_ORDER, EVENT_ALTERED, EVENT_UNDECODABLE,
LOG_TRUNCATED, LOG_ALTERED (see shared/transparency.py). Cross-service kinds:

* LOG_GAP: positions are not gap-free from 1 (an event was dropped or inserted);
* PII_IN_EVENT: an attribute holds an e-mail address or a full IP address in clear;
* RECORD_WITHOUT_SCHEDULE / SCHEDULE_WITHOUT_RECORD: vault and retention disagree;
* INGESTED_NOT_STORED: an ingested interaction's record is missing in the vault;
* EXPIRED_NOT_PURGED: retention expired a record the vault never purged;
* ERASURE_INCOMPLETE: a fulfilled erasure lacks the vault's shred or retention's closing;
* ERASED_SCHEDULE_OPEN: a record whose key was shredded still has a live schedule;
* READ_AFTER_ERASURE: a record was read after its key was shredded (its generation, but not its
  category when the shred kept it under legal hold: see :func:`shred_destroys`);
* ERASED_KEY_ALIVE: a bucket key version that wrapped a shredded generation still exists in the
  vault's key source (checked when the key source is visible to the auditor; see
  :func:`bucket_versions_in`): a copy of the data dir taken before that erasure would decrypt it;
* REQUEST_OVERDUE: a data-subject request is open past its deadline.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from shared.app import UNDECODABLE
from shared.clients import Peers
from shared.config import SERVICES
from shared.gen.lethe.v1 import events_pb2, events_pb2_grpc, retention_pb2, retention_pb2_grpc
from shared.keysource import FileKeySource
from shared.merkle import HASH_SIZE
from shared.proofcheck import PROOF_FORMAT
from shared.transit import transit_bucket_keys
from shared.transparency import CHECKPOINT_FORMAT, Outcome, Problem, UndecodableEvent, verify_log

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d./])")


@dataclass(frozen=True)
class Entry:
    """One event of one service's log, decoded."""

    service: str
    position: int
    event: str
    originator_id: str
    version: int
    recorded_at: dt.datetime
    attributes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        attrs = {k: v for k, v in self.attributes.items() if k != "originator_topic"}
        return {"time": self.recorded_at.isoformat(), "service": self.service,
                "position": self.position, "event": self.event, "id": self.originator_id,
                "attributes": attrs}


@dataclass(frozen=True)
class Violation:
    """A broken guarantee: kind, service, position and a message with ids only."""

    kind: str
    service: str
    position: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"kind": self.kind, "service": self.service, "position": self.position,
                "message": self.message}


def _entry(service: str, e: Any) -> Entry:
    return Entry(service, e.position, e.event_type, e.originator_id, e.originator_version,
                 e.recorded_at.ToDatetime(tzinfo=dt.timezone.utc), json.loads(e.attributes_json))


def _catch_up(peers: Peers, attempts: int = 8) -> None:
    """Let retention follow the vault's and rights' logs to their end before they are compared.

    A service that is (re)starting answers UNAVAILABLE: retried with backoff for about 20 s.
    """
    stub = retention_pb2_grpc.RetentionServiceStub(peers.channel("retention"))
    for attempt in range(attempts):
        try:
            stub.ListSchedules(retention_pb2.ListSchedulesRequest(subject_ref=""), timeout=60)
            return
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or attempt == attempts - 1:
                raise
            time.sleep(min(0.5 * 2 ** attempt, 4.0))


def read_logs(peers: Peers) -> dict[str, list[Entry]]:
    """Every service's log, in order (retention first catches up with the vault's log)."""
    _catch_up(peers)
    logs: dict[str, list[Entry]] = {}
    for service in SERVICES:
        stub = events_pb2_grpc.EventLogServiceStub(peers.channel(service))
        logs[service] = [_entry(service, r.event)
                         for r in stub.ReadEvents(events_pb2.ReadEventsRequest(), timeout=600)]
    return logs


# ------------------------------------------------------------------ integrity (verifiable logs)
def head_dict(h: Any) -> dict[str, Any]:
    """A SignedTreeHead message as the JSON form shared/merkle.py signs and verifies."""
    return {"log_id": h.log_id, "tree_size": h.tree_size, "timestamp_ms": h.timestamp_ms,
            "root_hash": h.root_hash.hex(), "signature": base64.b64encode(h.signature).decode()}


class GrpcSource:
    """A shared.transparency LogSource over a service's EventLogService.

    ``collect`` (a list) receives every streamed event as an Entry for the cross-service checks.
    """

    def __init__(self, service: str, stub: Any, collect: list[Entry] | None = None) -> None:
        self.service, self.stub, self.collect = service, stub, collect

    def events(self, after: int) -> Iterator[Any]:  # noqa: D102
        stream = self.stub.ReadEvents(events_pb2.ReadEventsRequest(after_position=after),
                                      timeout=3600)
        try:
            for r in stream:
                if r.event.event_type == UNDECODABLE:
                    raise UndecodableEvent(self.service)
                if self.collect is not None:
                    self.collect.append(_entry(self.service, r.event))
                yield r.event
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.INTERNAL:  # a service down is not a tamper
                raise
            raise UndecodableEvent(self.service) from None
        finally:
            stream.cancel()

    def consistency(self, first: int, second: int) -> list[bytes]:  # noqa: D102
        return list(self.stub.GetConsistencyProof(events_pb2.GetConsistencyProofRequest(
            first_size=first, second_size=second), timeout=600).proof)

    def leaf_hashes(self, after: int, limit: int) -> Iterator[bytes]:  # noqa: D102
        for r in self.stub.ReadLeafHashes(events_pb2.ReadLeafHashesRequest(
                after_position=after, limit=limit), timeout=3600):
            yield from (r.hashes[i:i + HASH_SIZE] for i in range(0, len(r.hashes), HASH_SIZE))


def load_checkpoint(path: Path | None) -> dict[str, Any]:
    """The auditor's checkpoint file (``{}`` when absent): per service, key, head and frontier."""
    if path is None or not path.exists():
        return {}
    doc = json.loads(path.read_text())
    if doc.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a {CHECKPOINT_FORMAT} file")
    return doc["services"]


def save_checkpoint(path: Path, services: dict[str, Any]) -> None:
    """Write the checkpoint atomically (mode 0600)."""
    doc = {"format": CHECKPOINT_FORMAT,
           "written_at": dt.datetime.now(dt.timezone.utc).isoformat(), "services": services}
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(doc, indent=1))
    os.replace(tmp, path)


def integrity(peers: Peers, keys: dict[str, str], checkpoint: dict[str, Any],
              full: bool = False) -> tuple[dict[str, Outcome], dict[str, list[Entry]]]:
    """Verify each service's log against its signed head (and the checkpoint's, if any).

    ``keys``: service -> hex public key trusted by the auditor. With a checkpoint entry for a
    service, only events after it are streamed (unless ``full``), and the new head must be
    consistent with the checkpoint's. Returns the outcomes and the logs read whole (services
    verified from scratch), as Entries for the cross-service checks.
    """
    _catch_up(peers)
    outcomes: dict[str, Outcome] = {}
    logs: dict[str, list[Entry]] = {}
    for service in SERVICES:
        stub = events_pb2_grpc.EventLogServiceStub(peers.channel(service))
        head = head_dict(stub.GetSignedTreeHead(events_pb2.GetSignedTreeHeadRequest(),
                                                timeout=600).head)
        cp = checkpoint.get(service)
        key = keys.get(service, "")
        if cp and cp.get("public_key") != key:
            outcomes[service] = Outcome(service, Problem(
                "KEY_CHANGED", 0, "the service's public key differs from the checkpoint's"), 0, head)
            continue
        collect: list[Entry] | None = [] if (full or not cp) else None
        out = verify_log(service, key, head, GrpcSource(service, stub, collect),
                         None if full else cp)
        if full and cp and out.problem is None:  # from scratch, still consistent with the checkpoint
            again = verify_log(service, key, head, GrpcSource(service, stub), cp)
            out.problem = again.problem
        if out.checkpoint:
            out.checkpoint["public_key"] = key
        outcomes[service] = out
        if collect is not None and out.problem is None:
            logs[service] = collect
    return outcomes, logs


def integrity_violations(outcomes: dict[str, Outcome]) -> list[Violation]:
    """The first problem of each service's log, as violations."""
    return [Violation(o.problem.kind, s, o.problem.position, o.problem.message)
            for s, o in outcomes.items() if o.problem]


def prove(peers: Peers, keys: dict[str, str], record: str | None = None,
          subject: str | None = None) -> dict[str, Any]:
    """The ``lethe.audit-proof/v1`` document of a record's or a subject's lifecycle.

    Every event of the record (aggregates with that id) or of the subject (aggregates that
    carry its ``subject_ref``), in time order, each with its stored bytes and an RFC 9162
    inclusion proof against its service's signed tree head. Checked offline by
    ``python -m shared.proofcheck``. Names the subject by ``subject_ref`` only.
    """
    logs = read_logs(peers)
    if record:
        entries = sorted((e for log in logs.values() for e in log if e.originator_id == record),
                         key=lambda e: (e.recorded_at, SERVICES.index(e.service), e.position))
    else:
        entries = timeline(logs, subject)
    if not entries:
        raise LookupError("no events for this record or subject")
    wanted: dict[str, set[int]] = defaultdict(set)
    for e in entries:
        wanted[e.service].add(e.position)
    heads, raw = {}, {}
    for service, positions in wanted.items():
        stub = events_pb2_grpc.EventLogServiceStub(peers.channel(service))
        heads[service] = head_dict(stub.GetSignedTreeHead(
            events_pb2.GetSignedTreeHeadRequest(), timeout=600).head)
        for r in stub.ReadEvents(events_pb2.ReadEventsRequest(
                after_position=min(positions) - 1, limit=max(positions) - min(positions) + 1),
                timeout=600):
            if r.event.position in positions:
                raw[(service, r.event.position)] = r.event
    events = []
    for e in entries:
        head, ev = heads[e.service], raw[(e.service, e.position)]
        if e.position > head["tree_size"]:
            continue  # appended after the head was signed: cannot be proven yet
        stub = events_pb2_grpc.EventLogServiceStub(peers.channel(e.service))
        proof = stub.GetInclusionProof(events_pb2.GetInclusionProofRequest(
            position=e.position, tree_size=head["tree_size"]), timeout=600)
        events.append({**e.as_dict(), "version": ev.originator_version, "topic": ev.topic,
                       "stored_state": base64.b64encode(ev.stored_state).decode(),
                       "tree_size": proof.tree_size,
                       "inclusion_proof": [h.hex() for h in proof.audit_path]})
    return {"format": PROOF_FORMAT,
            "subject": {"record": record} if record else {"subject_ref": subject},
            "public_keys": {s: keys[s] for s in heads if s in keys},
            "tree_heads": heads, "events": events}


def timeline(logs: dict[str, list[Entry]], subject_ref: str | None = None) -> list[Entry]:
    """All events in time order; with ``subject_ref``, only those of that subject's aggregates."""
    entries = [e for log in logs.values() for e in log]
    if subject_ref:
        ids = {e.originator_id for e in entries if e.attributes.get("subject_ref") == subject_ref}
        entries = [e for e in entries if e.originator_id in ids]
    return sorted(entries, key=lambda e: (e.recorded_at, SERVICES.index(e.service), e.position))


def _values(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _values(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _values(v)]
    return [obj] if isinstance(obj, str) else []


BucketVersions = Callable[[int], list[int]]


def bucket_versions_in(settings: Any) -> BucketVersions | None:
    """The live bucket key versions of the vault's key source, when this machine holds it.

    The source is ``settings.vault_key_dir`` or else ``settings.key_dir`` (the local profile);
    returns None when it holds no vault bucket keys (e.g. a KMS in production), in which case
    ERASED_KEY_ALIVE is not checked. With ``LETHE_KEY_SOURCE=transit`` the versions are those
    of the Transit keys (untrimmed versions count as alive), read with the auditor's token.
    """
    transit = transit_bucket_keys(settings)
    if transit is not None:
        return transit.versions
    source = FileKeySource(settings.vault_key_dir or settings.key_dir)
    if not source.list("vault/buckets"):
        return None
    return lambda bucket: sorted(int(n.rsplit("/v", 1)[1])
                                 for n in source.list(f"vault/buckets/{bucket:03d}"))


def erased_keys_alive(shreds: list[Entry], bucket_versions: BucketVersions) -> list[Violation]:
    """ERASED_KEY_ALIVE for each destroyed DEK whose bucket still holds a version below the one
    its shred rotated to (``buckets_rotated``: [[generation, bucket, version], ...], one entry per
    key group destroyed of a generation; groups a partial erasure kept are listed by the shred
    that later destroys them)."""
    out = []
    for e in shreds:
        for generation, bucket, version in e.attributes.get("buckets_rotated") or []:
            if any(v < int(version) for v in bucket_versions(int(bucket))):
                out.append(Violation("ERASED_KEY_ALIVE", "vault", e.position,
                                     f"request {e.attributes.get('request_id')} generation "
                                     f"{generation}: bucket {bucket} key below v{version} exists"))
    return out


def shred_destroys(shred: Entry, stored: Entry) -> bool:
    """True when the vault's ``SubjectShredded`` destroyed the key of a ``RecordStored`` record of
    the same subject: its generation is one the shred covers (up to ``generation``) and its
    category is not one the shred kept under legal hold (``kept_categories``, a partial erasure;
    a later shred destroys those)."""
    category = str(stored.attributes.get("category", ""))
    kept = shred.attributes.get("kept_categories") or []
    if any(category == k or category.startswith(k + ".") for k in kept):
        return False
    return int(stored.attributes["generation"]) <= int(shred.attributes["generation"])


def verify(logs: dict[str, list[Entry]], now: dt.datetime | None = None,
           bucket_versions: BucketVersions | None = None) -> list[Violation]:
    """Check every log and the services' agreement; returns violations (empty = intact).

    ``bucket_versions`` (bucket -> live key versions, see :func:`bucket_versions_in`) adds the
    ERASED_KEY_ALIVE check against the vault's key source.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    out: list[Violation] = []
    by: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for service, log in logs.items():
        for expected, e in enumerate(log, start=1):
            if e.position != expected:
                out.append(Violation("LOG_GAP", service, e.position,
                                     f"expected position {expected}"))
                break
        for e in log:
            by[(service, e.event)].append(e)
            for value in _values(e.attributes):
                if _EMAIL.search(value) or _IPV4.search(value):
                    out.append(Violation("PII_IN_EVENT", service, e.position,
                                         f"{e.event} holds an e-mail or IP address"))
                    break
    stored = {e.originator_id: e for e in by[("vault", "RecordStored")]}
    purged = {e.originator_id for e in by[("vault", "RecordPurged")]}
    shreds = by[("vault", "SubjectShredded")]
    shreds_of: dict[str, list[Entry]] = defaultdict(list)
    for e in shreds:
        shreds_of[e.attributes["subject_ref"]].append(e)
    shred_requests = {e.attributes["request_id"] for e in shreds}
    if bucket_versions is not None:
        out += erased_keys_alive(shreds, bucket_versions)

    def erased_at(record_id: str) -> dt.datetime | None:
        """When the record's key was first shredded (None: never, or an unknown record)."""
        s = stored.get(record_id)
        if s is None:
            return None
        times = [e.recorded_at for e in shreds_of.get(s.attributes["subject_ref"], ())
                 if shred_destroys(e, s)]
        return min(times, default=None)

    def erased(record_id: str) -> bool:
        return erased_at(record_id) is not None

    schedules = {e.originator_id: e for e in by[("retention", "ScheduleCreated")]}
    for rid, e in stored.items():
        if rid not in schedules:
            out.append(Violation("RECORD_WITHOUT_SCHEDULE", "vault", e.position, f"record {rid}"))
    for rid, e in schedules.items():
        if rid not in stored:
            out.append(Violation("SCHEDULE_WITHOUT_RECORD", "retention", e.position, f"record {rid}"))
    for e in by[("retention", "RecordExpired")]:
        if e.originator_id not in purged and not erased(e.originator_id):
            out.append(Violation("EXPIRED_NOT_PURGED", "retention", e.position,
                                 f"record {e.originator_id}"))
    for e in by[("ingestion", "InteractionIngested")]:
        for rid in e.attributes.get("record_ids", []):
            if rid not in stored:
                out.append(Violation("INGESTED_NOT_STORED", "ingestion", e.position, f"record {rid}"))
    closed = {e.originator_id for e in by[("retention", "ScheduleClosedByErasure")]}
    closed |= {e.originator_id for e in by[("retention", "RecordExpired")]}
    for rid, e in schedules.items():
        if erased(rid) and rid not in closed and e.attributes.get("state") == "scheduled":
            out.append(Violation("ERASED_SCHEDULE_OPEN", "retention", e.position, f"record {rid}"))
    for e in by[("vault", "RecordRead")]:
        at = erased_at(e.originator_id)
        if at is not None and e.recorded_at > at:
            out.append(Violation("READ_AFTER_ERASURE", "vault", e.position,
                                 f"record {e.originator_id}"))
    rights: dict[str, list[Entry]] = defaultdict(list)
    for e in logs.get("rights", []):
        rights[e.originator_id].append(e)
    for events in rights.values():
        if events[0].event != "RequestReceived":
            continue  # e.g. SubjectErasures: what rights learnt from the vault's log
        names = {e.event for e in events}
        first = events[0].attributes
        if first.get("kind") == "erasure" and "RequestFulfilled" in names:
            # Fulfilled only on the vault's shred for this request, or for the earlier request
            # it relies on (nothing new stored since) or duplicates (one open erasure each).
            done = events[-1]
            covered = {first["request_id"]} | {
                e.attributes.get("previous_request_id") or e.attributes.get("of_request_id")
                for e in events if e.event in ("NothingNewToErase", "DuplicateRecognised")}
            if not covered & shred_requests:
                out.append(Violation("ERASURE_INCOMPLETE", "rights", done.position,
                                     f"request {first['request_id']}"))
        if not names & {"RequestFulfilled", "RequestDenied"}:
            due = dt.datetime.fromisoformat(str(first.get("due_at")))
            if now > due:
                out.append(Violation("REQUEST_OVERDUE", "rights", events[0].position,
                                     f"request {first.get('request_id')}"))
    return out
