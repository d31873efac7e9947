"""Property-based fuzzing of every RPC's request message against the real services.

Every method of every service in the proto descriptors (including ``EventLogService`` on each of
the five services and the streaming ones) is called with requests generated two ways:

* structured: a strategy per field type (text incl. unicode and huge values, ints at their limits,
  bytes, unknown enum values, nested messages, repeated fields with a few or very many items);
* raw: random bytes parsed with ``Request.FromString`` (bytes that do not parse are skipped).

Properties: the status is never UNKNOWN or INTERNAL (nor UNAVAILABLE / DEADLINE_EXCEEDED: a crash
or a hang), the service is still SERVING afterwards, error details never contain the canary string
put into the inputs (no personal data in messages), and a rejected write is not partial: after a
refused Store / Ingest / IngestStream / OpenSessions the vault and ingestion event counts and the
vault's record store are unchanged.

Examples per RPC and generator: ``LETHE_FUZZ_EXAMPLES`` (default 25; ``make fuzz`` runs 500).
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared.authz import load_authz
from shared.config import SERVICES
from shared.gen.lethe.v1 import (
    anonymization_pb2,
    events_pb2,
    ingestion_pb2,
    retention_pb2,
    rights_pb2,
    vault_pb2,
)
from shared.keysource import FileKeySource
from tests.conftest import Deployment

EXAMPLES = int(os.environ.get("LETHE_FUZZ_EXAMPLES", "25"))
CANARY = "Zq9CanaryXj4"  # stands for personal data: must never come back in an error
BAD_CODES = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE,
             grpc.StatusCode.DEADLINE_EXCEEDED}
# Writes whose refusal must leave no trace in the vault / ingestion logs or the record store.
WRITES = {"lethe.v1.VaultService/Store", "lethe.v1.VaultService/OpenSessions",
          "lethe.v1.IngestionService/Ingest", "lethe.v1.IngestionService/IngestStream"}
CALL_TIMEOUT_S = 60.0
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                         suppress_health_check=list(HealthCheck), database=None)

_MODULES = {"ingestion": ingestion_pb2, "anonymization": anonymization_pb2, "vault": vault_pb2,
            "retention": retention_pb2, "rights": rights_pb2}


@dataclass(frozen=True)
class Rpc:
    """One method on one service process, and the identity allowed to call it."""

    service: str
    method: str  # lethe.v1.Service/Method
    desc: Any
    identity: str

    @property
    def request_class(self) -> Any:
        return message_factory.GetMessageClass(self.desc.input_type)

    @property
    def response_class(self) -> Any:
        return message_factory.GetMessageClass(self.desc.output_type)

    def __str__(self) -> str:
        return f"{self.service}:{self.method.split('.')[-1]}"


def _identity(policy: dict[str, frozenset[str]], method: str) -> str:
    callers = policy.get(method) or policy.get(f"{method.split('/')[0]}/*") or frozenset()
    assert callers, f"no identity may call {method}"
    return "operator" if "operator" in callers else sorted(callers)[0]


def all_rpcs() -> list[Rpc]:
    """Every RPC of the contract: each service's own methods plus EventLogService on all five."""
    policy = load_authz()
    out = []
    for service, module in _MODULES.items():
        for sdesc in module.DESCRIPTOR.services_by_name.values():
            for m in sdesc.methods:
                name = f"{sdesc.full_name}/{m.name}"
                out.append(Rpc(service, name, m, _identity(policy, name)))
    for service in SERVICES:
        for m in events_pb2.DESCRIPTOR.services_by_name["EventLogService"].methods:
            name = f"lethe.v1.EventLogService/{m.name}"
            out.append(Rpc(service, name, m, _identity(policy, name)))
    return out


RPCS = all_rpcs()

# ---------------------------------------------------------------- strategies per field type
_F = FieldDescriptor
_INT_LIMITS = {
    _F.TYPE_INT32: (-2**31, 2**31 - 1), _F.TYPE_SINT32: (-2**31, 2**31 - 1),
    _F.TYPE_SFIXED32: (-2**31, 2**31 - 1), _F.TYPE_INT64: (-2**63, 2**63 - 1),
    _F.TYPE_SINT64: (-2**63, 2**63 - 1), _F.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    _F.TYPE_UINT32: (0, 2**32 - 1), _F.TYPE_FIXED32: (0, 2**32 - 1),
    _F.TYPE_UINT64: (0, 2**64 - 1), _F.TYPE_FIXED64: (0, 2**64 - 1)}
# Values the services actually look for, so that fuzzing gets past the first validation.
_WORDS = ["", " ", "EU", "US", "gdpr", "ccpa", "personal", "aggregate", "user.content",
          "user.contact", "system.operations", "original", "redacted", "metadata", "contact",
          "model-training", "interaction", "support_ticket", "analytics", "support", "default",
          "203.0.113.7", "2001:db8::1", "Mozilla/5.0 Firefox/120.0", "sr_" + "0" * 32,
          "sr_" + "a" * 32, str(uuid.UUID(int=1)), "litigation", "2030-01-01", "\x00", "\u202e",
          "ＥＵ", "e\u0301"]
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def _string(small: bool) -> st.SearchStrategy[str]:
    options = [_text, st.sampled_from(_WORDS),
               st.tuples(_text, _text).map(lambda p: p[0] + CANARY + p[1]),
               st.sampled_from(["sr_", "acct-"]).map(lambda p: p + CANARY),
               st.uuids().map(str)]
    if not small:  # over the 256 KiB / 1 MiB limits (and one under)
        options.append(st.sampled_from([100_000, 256 * 1024 + 1, 1024 * 1024 + 1]).map(
            lambda n: (CANARY + " lorem ipsum ") * (n // 24) + "é" * 3))
    return st.one_of(*options)


def _bytes(small: bool) -> st.SearchStrategy[bytes]:
    options = [st.binary(max_size=64), st.sampled_from([b"", b"\x00" * 32, os.urandom(32)]),
               st.just(CANARY.encode())]
    if not small:
        options.append(st.sampled_from([1024 * 1024 + 1, 2 * 1024 * 1024]).map(lambda n: b"\xff" * n))
    return st.one_of(*options)


def _scalar(field: Any, small: bool) -> st.SearchStrategy[Any]:
    t = field.type
    if t == _F.TYPE_STRING:
        return _string(small)
    if t == _F.TYPE_BYTES:
        return _bytes(small)
    if t == _F.TYPE_BOOL:
        return st.booleans()
    if t in _INT_LIMITS:
        lo, hi = _INT_LIMITS[t]
        edges = [v for v in (lo, hi, 0, 1, -1, 2**31 - 1, 2**31, 253402300799, 253402300800,
                             -62135596801, 1_700_000_000, 999_999_999, 1_000_000_000)
                 if lo <= v <= hi]
        return st.one_of(st.sampled_from(edges), st.integers(lo, hi))
    if t in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32 if t == _F.TYPE_FLOAT else 64)
    if t == _F.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-2**31, 2**31 - 1))
    raise AssertionError(f"unhandled field type {t} of {field.full_name}")


def _is_repeated(field: Any) -> bool:
    if hasattr(field, "is_repeated"):
        return bool(field.is_repeated)
    return field.label == _F.LABEL_REPEATED


def _element(field: Any, depth: int, small: bool) -> st.SearchStrategy[Any]:
    if field.type == _F.TYPE_MESSAGE:
        return message_strategy(field.message_type, depth + 1, small)
    return _scalar(field, small)


def _field(field: Any, depth: int, small: bool) -> st.SearchStrategy[Any]:
    if not _is_repeated(field):
        return _element(field, depth, small)
    few = st.one_of(st.lists(_element(field, depth, small), max_size=4),
                    # the same item twice in one request (a client retrying inside a batch)
                    st.tuples(_element(field, depth, small), st.integers(2, 3)).map(
                        lambda p: [p[0]] * p[1]))
    # Very many items (over the batch limits): one small element repeated, cheap to build.
    many = st.tuples(_element(field, depth, True), st.sampled_from([1001, 10_001])).map(
        lambda p: [p[0]] * p[1])
    return st.one_of(few, few, few, many) if depth == 0 else few


def _near_valid_interaction() -> st.SearchStrategy[Any]:
    """Interactions that pass validation (mostly), with fuzzed texts: reach the whole pipeline."""
    text = st.one_of(_text.map(lambda t: t + " " + CANARY),
                     st.sampled_from(["Call me on +44 20 7946 0958, " + CANARY,
                                      "mail jane.doe@example.com " + CANARY, "\u202e" + CANARY]))

    def build(p: tuple[Any, ...]) -> Any:
        msg = ingestion_pb2.Interaction(account_id="acct-" + CANARY + p[0], session_hint=p[1],
                                        client_ip=p[2], user_agent=p[3], region=p[4], kind=p[5],
                                        prompt=p[6], response=p[7], contact=p[8], sequence=p[9])
        msg.occurred_at.FromDatetime(p[10])
        return msg

    import datetime as dt
    return st.tuples(
        st.sampled_from(["", "1", "é"]), st.sampled_from(["", "s1", CANARY]),
        st.sampled_from(["", "203.0.113.7", "2001:db8::1", "::ffff:10.0.0.1", "fe80::1%eth0"]),
        st.sampled_from(["", "Mozilla/5.0 Firefox/120.0", "Googlebot"]), st.sampled_from(["EU", "US"]),
        st.sampled_from(["", "interaction", "support_ticket"]), text, text | st.just(""),
        st.just("") | text, st.integers(0, 2**31 - 1),
        st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2026, 1, 1),
                     timezones=st.just(dt.timezone.utc))).map(build)


def message_strategy(desc: Descriptor, depth: int = 0, small: bool = False) -> st.SearchStrategy[Any]:
    """Messages of type ``desc`` with any subset of fields set to generated values."""
    cls = message_factory.GetMessageClass(desc)
    if depth > 4:
        return st.builds(cls)
    if desc.full_name == "lethe.v1.Interaction" and not small:
        return st.one_of(_generic_message(desc, cls, depth, small), _near_valid_interaction())
    return _generic_message(desc, cls, depth, small)


def _generic_message(desc: Descriptor, cls: Any, depth: int, small: bool) -> st.SearchStrategy[Any]:
    fields = {f.name: st.none() | _field(f, depth, small) for f in desc.fields}

    def build(values: dict[str, Any]) -> Any:
        msg = cls()
        for f in desc.fields:
            value = values[f.name]
            if value is None:
                continue
            if _is_repeated(f):
                if f.type == _F.TYPE_MESSAGE:
                    for v in value:
                        getattr(msg, f.name).add().CopyFrom(v)
                else:
                    getattr(msg, f.name).extend(value)
            elif f.type == _F.TYPE_MESSAGE:
                getattr(msg, f.name).CopyFrom(value)
            else:
                setattr(msg, f.name, value)
        return msg

    return st.fixed_dictionaries(fields).map(build)


# ---------------------------------------------------------------- the deployment under fuzz
class Target:
    """Channels per (service, identity) to one deployment, and the checks after each call."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        record = json.loads((dep.data_dir / "deployment.json").read_text())
        self.addresses = {n: s["address"] for n, s in record["services"].items()}
        self.pids = {n: s["pid"] for n, s in record["services"].items()}
        self.keys = FileKeySource(dep.key_dir)
        self._channels: dict[tuple[str, str], grpc.Channel] = {}
        self.cases: Counter[str] = Counter()
        self.codes: Counter[str] = Counter()

    def channel(self, service: str, identity: str) -> grpc.Channel:
        key = (service, identity)
        if key not in self._channels:
            creds = grpc.ssl_channel_credentials(self.keys.get("tls/ca.pem"),
                                                 self.keys.get(f"tls/{identity}.key"),
                                                 self.keys.get(f"tls/{identity}.pem"))
            self._channels[key] = grpc.secure_channel(  # pinned: the certificate names the service
                self.addresses[service], creds, [("grpc.ssl_target_name_override", service)])
        return self._channels[key]

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()

    def call(self, rpc: Rpc, request: Any) -> tuple[grpc.StatusCode, str]:
        """(status code, details incl. trailing metadata) of one call."""
        channel = self.channel(rpc.service, rpc.identity)
        kw = dict(request_serializer=lambda m: m.SerializeToString(),
                  response_deserializer=rpc.response_class.FromString)
        path = f"/{rpc.method}"
        try:
            if rpc.desc.client_streaming:
                items = request if isinstance(request, list) else [request]
                channel.stream_unary(path, **kw)(iter(items), timeout=CALL_TIMEOUT_S)
            elif rpc.desc.server_streaming:
                for _ in channel.unary_stream(path, **kw)(request, timeout=CALL_TIMEOUT_S):
                    pass
            else:
                channel.unary_unary(path, **kw)(request, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as exc:
            trailing = " ".join(repr(v) for _, v in (exc.trailing_metadata() or ()))
            return exc.code(), f"{exc.details()} {trailing}"
        return grpc.StatusCode.OK, ""

    def log_size(self, service: str) -> int:
        stub = self.channel(service, "operator").unary_unary(
            "/lethe.v1.EventLogService/GetLogInfo",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=events_pb2.GetLogInfoResponse.FromString)
        return stub(events_pb2.GetLogInfoRequest(), timeout=10).size

    def event_types(self, service: str, after: int) -> set[str]:
        """Types of the events of a service's log after position ``after``."""
        stub = self.channel(service, "auditor").unary_stream(
            "/lethe.v1.EventLogService/ReadEvents",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=events_pb2.ReadEventsResponse.FromString)
        return {r.event.event_type for r in stub(events_pb2.ReadEventsRequest(
            after_position=after), timeout=10)}

    def record_rows(self) -> tuple[int, int, int]:
        """Rows in the vault's record store: (records, blobs, sessions)."""
        path = self.dep.data_dir / "vault" / "records.db"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
            return tuple(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # type: ignore[return-value]
                         for t in ("records", "blobs", "sessions"))

    def snapshot(self) -> tuple[int, int, tuple[int, int, int]]:
        self.wait_for_ingest_queue()
        return self.log_size("vault"), self.log_size("ingestion"), self.record_rows()

    def wait_for_ingest_queue(self, timeout_s: float = 60) -> None:
        """Let ingestion's worker store what an earlier accepted Ingest queued (it writes to the
        vault and ingestion logs in the background), so that it is not taken for a trace."""
        import time
        path = self.dep.data_dir / "ingestion" / "pending.db"
        deadline = time.monotonic() + timeout_s
        while path.exists() and time.monotonic() < deadline:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
                if not db.execute("SELECT COUNT(*) FROM pending WHERE parked = ''").fetchone()[0]:
                    return
            time.sleep(0.1)

    def healthy(self, service: str) -> bool:
        try:
            os.kill(self.pids[service], 0)
        except ProcessLookupError:
            return False
        stub = health_pb2_grpc.HealthStub(self.channel(service, "operator"))
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        except grpc.RpcError:
            return False
        return resp.status == health_pb2.HealthCheckResponse.SERVING

    def check(self, rpc: Rpc, request: Any, kind: str) -> None:
        """Call once and assert every property."""
        before = self.snapshot() if rpc.method in WRITES else None
        code, details = self.call(rpc, request)
        self.cases[kind] += 1
        self.codes[code.name] += 1
        assert code not in BAD_CODES, f"{rpc}: {code.name} {details[:300]!r}"
        assert CANARY not in details, f"{rpc}: error details echo the input: {details[:300]!r}"
        if before is not None and code != grpc.StatusCode.OK:
            after = self.snapshot()
            for i, service in enumerate(("vault", "ingestion")):  # the refusal may be recorded
                if after[i] != before[i]:
                    assert self.event_types(service, before[i]) == {"CallRefused"}, rpc
            assert after[2] == before[2], f"{rpc}: a refused write ({code.name}) left a trace"
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED or rpc.method in WRITES:
            assert self.healthy(rpc.service), f"{rpc}: service not healthy after the call"


@pytest.fixture(scope="module")
def target(sqlite_deployment: Deployment, tmp_path_factory: pytest.TempPathFactory,
           request: pytest.FixtureRequest) -> Iterator[Target]:
    """The module's deployment with a little real data in it (so reads find something)."""
    dep = sqlite_deployment
    sample = tmp_path_factory.mktemp("fuzz") / "sample.jsonl"
    sample.write_bytes(dep.lethe("sample", "--accounts", "3", "--interactions", "12",
                                 "--seed", "7").stdout)
    dep.lethe("ingest", str(sample))
    t = Target(dep)
    yield t
    t.close()
    report(request, f"fuzz: {sum(t.cases.values())} RPC cases ({dict(t.cases)}) over {len(RPCS)} "
                    f"RPCs, {EXAMPLES} examples each; status codes {dict(t.codes)}")


def report(request: pytest.FixtureRequest, line: str) -> None:
    """Print past pytest's output capture (the counts belong in the CI log)."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        print("\n" + line, flush=True)


def _ids() -> list[str]:
    return [str(r) for r in RPCS]


def test_every_rpc_is_covered() -> None:
    names = {r.method for r in RPCS}
    for module in [*_MODULES.values(), events_pb2]:
        for sdesc in module.DESCRIPTOR.services_by_name.values():
            for m in sdesc.methods:
                assert f"{sdesc.full_name}/{m.name}" in names
    log_methods = len(events_pb2.DESCRIPTOR.services_by_name["EventLogService"].methods)
    assert sum(1 for r in RPCS if r.method.startswith("lethe.v1.EventLogService/")) == log_methods * len(SERVICES)


def _request_strategy(rpc: Rpc) -> st.SearchStrategy[Any]:
    one = message_strategy(rpc.desc.input_type)
    if rpc.desc.client_streaming:
        return st.one_of(st.lists(one, min_size=0, max_size=5),
                         st.tuples(one, st.integers(2, 3)).map(lambda p: [p[0]] * p[1]))
    return one


@pytest.mark.parametrize("rpc", RPCS, ids=_ids())
def test_structured_requests(target: Target, rpc: Rpc) -> None:
    @FUZZ_SETTINGS
    @given(request=_request_strategy(rpc))
    def run(request: Any) -> None:
        target.check(rpc, request, "structured")

    run()
    assert target.healthy(rpc.service)


@pytest.mark.parametrize("rpc", RPCS, ids=_ids())
def test_raw_bytes_requests(target: Target, rpc: Rpc) -> None:
    cls = rpc.request_class

    @FUZZ_SETTINGS
    @given(raw=st.one_of(st.binary(max_size=512),
                         message_strategy(rpc.desc.input_type, small=True).flatmap(
                             lambda m: st.tuples(st.just(m.SerializeToString()),
                                                 st.binary(max_size=16),
                                                 st.integers(0, 64)).map(
                                 lambda p: p[0][:len(p[0]) - p[2]] + p[1] if p[2] else p[0] + p[1]))))
    def run(raw: bytes) -> None:
        try:
            request = cls.FromString(raw)
        except (DecodeError, RuntimeError, ValueError):
            assume(False)
            return
        target.check(rpc, request, "raw")

    run()
    assert target.healthy(rpc.service)
