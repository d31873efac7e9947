"""The authorization matrix: every RPC of every service called by every identity.

The expected matrix is the table below, written from each role's job (README "Security"), not read
from ``shared/authz.toml``: a policy broader (or narrower) than the table fails. Every RPC in the
proto descriptors must have a row, so a new RPC without a decided row fails too. Calls carry empty
requests: an allowed call may fail validation (INVALID_ARGUMENT, NOT_FOUND, ...) but never with
PERMISSION_DENIED; a refused one always is. Callers without a certificate of our CA are refused at
the handshake. Scopes inside an allowed method: retention reads only redacted forms from the vault,
and only the operator sweeps as if the clock read a later time.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from shared.config import SERVICES
from shared.gen.lethe.v1 import (
    anonymization_pb2,
    events_pb2,
    events_pb2_grpc,
    ingestion_pb2,
    retention_pb2,
    retention_pb2_grpc,
    rights_pb2,
    vault_pb2,
    vault_pb2_grpc,
)
from shared.keysource import FileKeySource
from shared.tls import secure_channel
from tests.conftest import Deployment

SERVICE_IDS = {"ingestion", "anonymization", "vault", "retention", "rights"}
ROLES = {"operator", "client", "sweeper", "auditor", "legal", "console"}
EVERYONE = SERVICE_IDS | ROLES

# Full method -> identities allowed, on the service that owns the method.
EXPECTED: dict[str, set[str]] = {
    "lethe.v1.IngestionService/Ingest": {"client"},
    "lethe.v1.IngestionService/IngestStream": {"client"},
    "lethe.v1.AnonymizationService/Anonymize": {"ingestion", "operator"},
    "lethe.v1.AnonymizationService/AnonymizeBatch": {"ingestion", "operator"},
    "lethe.v1.AnonymizationService/Aggregate": {"retention"},
    "lethe.v1.AnonymizationService/Reidentify": {"operator"},
    "lethe.v1.VaultService/OpenSessions": {"ingestion"},
    "lethe.v1.VaultService/Store": {"ingestion"},
    "lethe.v1.VaultService/Read": {"retention"},
    "lethe.v1.VaultService/ExportSubject": {"rights"},
    "lethe.v1.VaultService/Purge": {"retention"},
    "lethe.v1.VaultService/GetRecordFacts": {"retention"},
    "lethe.v1.VaultService/ShredSubject": {"rights"},
    "lethe.v1.VaultService/RotateKey": {"operator"},
    "lethe.v1.VaultService/RegisterRecipient": {"operator"},
    "lethe.v1.VaultService/ListRecipients": {"operator", "console"},
    "lethe.v1.VaultService/Disclose": {"operator"},
    "lethe.v1.VaultService/Transfer": {"operator"},
    "lethe.v1.RetentionService/ListSchedules": {"rights", "operator", "auditor", "console"},
    "lethe.v1.RetentionService/Sweep": {"operator", "sweeper"},
    "lethe.v1.RetentionService/PlaceHold": {"operator", "console"},
    "lethe.v1.RetentionService/ReleaseHold": {"operator", "console"},
    "lethe.v1.RetentionService/ListHolds": {"operator", "console", "legal"},
    "lethe.v1.RetentionService/ResolveTicket": {"operator"},
    "lethe.v1.RetentionService/ForgetSubject": {"rights"},
    "lethe.v1.RetentionService/ListErasureBlockers": {"rights", "console"},
    "lethe.v1.RightsService/SubmitRequest": {"client", "operator"},
    "lethe.v1.RightsService/GetRequest": {"client", "operator", "console"},
    "lethe.v1.RightsService/ListRequests": {"operator", "console"},
    "lethe.v1.RightsService/ExtendRequest": {"operator", "console"},
    "lethe.v1.RightsService/ResolveSubject": {"operator", "console"},
    "lethe.v1.RightsService/RevealSubject": {"console"},
    "lethe.v1.RightsService/DenyRequest": {"operator", "console"},
    "lethe.v1.RightsService/CompleteRequest": {"operator", "console"},
    "grpc.health.v1.Health/Check": EVERYONE,
    "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": {"operator"},
}
# Every service's event log: method -> identities allowed on all five services.
EVENT_LOG: dict[str, set[str]] = {
    "ReadEvents": {"auditor", "console"},
    "GetLogInfo": {"auditor", "operator", "console"},
    "GetSignedTreeHead": {"auditor", "console"},
    "GetInclusionProof": {"auditor", "console"},
    "GetConsistencyProof": {"auditor", "console"},
    "ReadLeafHashes": {"auditor", "console"},
    "GetCheckpoint": {"auditor"},
}
# Followers: service -> identities that may also ReadEvents of that service's log (and no other).
FOLLOWERS: dict[str, set[str]] = {"vault": {"retention", "rights"}, "rights": {"retention"},
                                  "retention": {"rights"}}
# Client roles that must never reach anything that returns decrypted content.
DECRYPTING = {"lethe.v1.VaultService/Read", "lethe.v1.VaultService/ExportSubject",
              "lethe.v1.VaultService/Disclose", "lethe.v1.VaultService/Transfer"}


def _owner(full_service: str) -> str | None:
    return {"lethe.v1.IngestionService": "ingestion", "lethe.v1.AnonymizationService": "anonymization",
            "lethe.v1.VaultService": "vault", "lethe.v1.RetentionService": "retention",
            "lethe.v1.RightsService": "rights"}.get(full_service)


def _rpcs() -> list[tuple[str, str, Any, set[str]]]:
    """(service called, full method, method descriptor, expected identities) for every RPC."""
    out = []
    for module in (ingestion_pb2, anonymization_pb2, vault_pb2, retention_pb2, rights_pb2):
        for desc in module.DESCRIPTOR.services_by_name.values():
            for m in desc.methods:
                name = f"{desc.full_name}/{m.name}"
                assert name in EXPECTED, f"{name}: add a row to EXPECTED (who may call it?)"
                out.append((_owner(desc.full_name), name, m, EXPECTED[name]))
    shared = [(health_pb2, "grpc.health.v1.Health", "Check"),
              (reflection_pb2, "grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo")]
    for service in SERVICES:
        for m in events_pb2.DESCRIPTOR.services_by_name["EventLogService"].methods:
            assert m.name in EVENT_LOG, f"EventLogService/{m.name}: add a row to EVENT_LOG"
            allowed = EVENT_LOG[m.name] | (FOLLOWERS.get(service, set()) if m.name == "ReadEvents"
                                           else set())
            out.append((service, f"lethe.v1.EventLogService/{m.name}", m, allowed))
        for module, full, method in shared:
            m = module.DESCRIPTOR.services_by_name[full.rsplit(".", 1)[1]].methods_by_name[method]
            out.append((service, f"{full}/{method}", m, EXPECTED[f"{full}/{method}"]))
    return out


def _call(channel: grpc.Channel, method: str, desc: Any) -> grpc.StatusCode:
    req_cls = message_factory.GetMessageClass(desc.input_type)
    resp_cls = message_factory.GetMessageClass(desc.output_type)
    kwargs = dict(request_serializer=req_cls.SerializeToString,
                  response_deserializer=resp_cls.FromString)
    request = req_cls()
    if method.endswith("/ServerReflectionInfo"):
        request = req_cls(list_services="")
    try:
        if desc.client_streaming and desc.server_streaming:
            list(channel.stream_stream(f"/{method}", **kwargs)(iter([request]), timeout=30))
        elif desc.client_streaming:
            channel.stream_unary(f"/{method}", **kwargs)(iter([request]), timeout=30)
        elif desc.server_streaming:
            list(channel.unary_stream(f"/{method}", **kwargs)(request, timeout=30))
        else:
            channel.unary_unary(f"/{method}", **kwargs)(request, timeout=30)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def _addresses(dep: Deployment) -> dict[str, str]:
    return {n: s["address"] for n, s in
            json.loads((dep.data_dir / "deployment.json").read_text())["services"].items()}


def _channel(dep: Deployment, identity: str, service: str) -> grpc.Channel:
    return secure_channel(_addresses(dep)[service], FileKeySource(dep.key_dir), identity, service)


def test_the_expected_matrix_gives_client_roles_no_decryption_and_the_ai_service_no_reads() -> None:
    """The table itself keeps the roles' promises (a wrong table would make the matrix moot)."""
    for method in DECRYPTING:
        assert not EXPECTED[method] & ROLES - {"operator"}, method
    # the one exception: the console's reveal, recorded by rights with its reason before any data
    assert EXPECTED["lethe.v1.RightsService/RevealSubject"] == {"console"}
    client = {m for m, ids in EXPECTED.items() if "client" in ids}
    assert client == {"lethe.v1.IngestionService/Ingest", "lethe.v1.IngestionService/IngestStream",
                      "lethe.v1.RightsService/SubmitRequest", "lethe.v1.RightsService/GetRequest",
                      "grpc.health.v1.Health/Check"}
    assert not any("client" in ids or "sweeper" in ids or "legal" in ids for ids in EVENT_LOG.values())


def test_exactly_the_expected_identity_method_pairs_pass(sqlite_deployment: Deployment) -> None:
    dep = sqlite_deployment
    wrong = []
    rpcs = _rpcs()
    for identity in sorted(EVERYONE):
        channels = {s: _channel(dep, identity, s) for s in SERVICES}
        for service, method, desc, allowed in rpcs:
            code = _call(channels[service], method, desc)
            refused = code == grpc.StatusCode.PERMISSION_DENIED
            if (identity in allowed) == refused or code in (
                    grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE):
                wrong.append((identity, service, method, code.name))
        for channel in channels.values():
            channel.close()
    assert not wrong, wrong[:30]


def _foreign_credentials() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "operator")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@pytest.mark.parametrize("kind", ["plaintext", "unknown_ca"])
def test_callers_without_a_certificate_of_our_ca_are_refused(sqlite_deployment: Deployment,
                                                             kind: str) -> None:
    dep = sqlite_deployment
    keys = FileKeySource(dep.key_dir)
    for service, address in _addresses(dep).items():
        if kind == "plaintext":
            channel = grpc.insecure_channel(address)
        else:
            cert, key = _foreign_credentials()
            channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(
                keys.get("tls/ca.pem"), key, cert), [("grpc.ssl_target_name_override", service)])
        stub = events_pb2_grpc.EventLogServiceStub(channel)
        with pytest.raises(grpc.RpcError) as exc:
            stub.GetLogInfo(events_pb2.GetLogInfoRequest(), timeout=10)
        assert exc.value.code() == grpc.StatusCode.UNAVAILABLE
        channel.close()


def test_refusals_are_recorded_as_events(sqlite_deployment: Deployment) -> None:
    events = sqlite_deployment.lethe_json("audit", "replay", "--json")
    refused = [e for e in events if e["event"] == "CallRefused"]
    assert refused and {"caller", "method", "reason"} <= set(refused[0]["attributes"])


def _sweep(dep: Deployment, identity: str, at: dt.datetime) -> grpc.StatusCode:
    request = retention_pb2.SweepRequest(request_id=f"scope-{identity}-{int(at.timestamp())}")
    request.at.FromDatetime(at)
    try:
        retention_pb2_grpc.RetentionServiceStub(_channel(dep, identity, "retention")).Sweep(
            request, timeout=120)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def test_only_the_operator_sweeps_as_of_a_later_time(sqlite_deployment: Deployment) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    assert _sweep(sqlite_deployment, "sweeper", now + dt.timedelta(days=400)) == \
        grpc.StatusCode.PERMISSION_DENIED
    assert _sweep(sqlite_deployment, "sweeper", now - dt.timedelta(minutes=1)) == grpc.StatusCode.OK
    assert _sweep(sqlite_deployment, "operator", now + dt.timedelta(minutes=1)) == grpc.StatusCode.OK
    sqlite_deployment.lethe("retention", "sweep")  # the CronJob's command, as the sweeper


def test_retention_reads_only_redacted_forms_from_the_vault(sqlite_deployment: Deployment,
                                                            tmp_path: Path) -> None:
    dep = sqlite_deployment
    line = {"account_id": "acct-scope-1", "session_hint": "s1", "client_ip": "203.0.113.9",
            "user_agent": "Mozilla/5.0", "region": "EU", "timestamp": "2026-01-05T10:00:00Z",
            "kind": "support_ticket", "prompt": "My order 4471 never arrived",
            "response": "Sorry to hear that", "contact": "reach me at scope.tester@example.org"}
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(line) + "\n")
    dep.lethe("ingest", str(path))  # as the client identity
    stored = [e for e in dep.lethe_json("audit", "replay", "--json") if e["event"] == "RecordStored"]
    forms: dict[str, list[str]] = {}
    for e in stored:
        forms.setdefault(e["attributes"]["form"], []).append(e["id"])
    assert forms.get("redacted") and set(forms) - {"redacted"}, sorted(forms)
    vault = vault_pb2_grpc.VaultServiceStub(_channel(dep, "retention", "vault"))
    read = vault.Read(vault_pb2.ReadRequest(record_ids=forms["redacted"], purpose="aggregation"),
                      timeout=30)
    assert {r.form for r in read.records} == {"redacted"}
    for form, ids in forms.items():
        if form == "redacted":
            continue
        with pytest.raises(grpc.RpcError) as exc:
            vault.Read(vault_pb2.ReadRequest(record_ids=[ids[0], *forms["redacted"]],
                                             purpose="aggregation"), timeout=30)
        assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED, form
        assert "scope.tester" not in (exc.value.details() or "")


def test_a_retry_with_the_same_request_id_returns_the_first_answer(sqlite_deployment: Deployment) -> None:
    dep = sqlite_deployment
    keys = FileKeySource(dep.key_dir)
    vault = vault_pb2_grpc.VaultServiceStub(_channel(dep, "operator", "vault"))
    first = vault.RotateKey(vault_pb2.RotateKeyRequest(request_id="rot-1", scope=vault_pb2.KEY_SCOPE_BUCKET,
                                                       bucket=-1), timeout=60)
    versions = keys.list("vault")
    again = vault.RotateKey(vault_pb2.RotateKeyRequest(request_id="rot-1", scope=vault_pb2.KEY_SCOPE_BUCKET,
                                                       bucket=-1), timeout=60)
    assert again == first and keys.list("vault") == versions  # not rotated a second time
    retention = retention_pb2_grpc.RetentionServiceStub(_channel(dep, "operator", "retention"))
    hold = retention.PlaceHold(retention_pb2.PlaceHoldRequest(
        request_id="hold-r1", reason="litigation",
        target=retention_pb2.HoldTarget(category="user.contact")), timeout=30)
    released = [retention.ReleaseHold(retention_pb2.ReleaseHoldRequest(
        hold_id=hold.hold_id, request_id="rel-1"), timeout=30) for _ in range(2)]
    assert released[0] == released[1] and released[0].released
