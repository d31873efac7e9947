"""The authorization matrix: every RPC called by every identity; exactly the allowed pairs pass.

Identities: each service's and the operator's certificate, no certificate (plaintext), and a
certificate from an unknown CA. Calls carry empty requests: an allowed call may fail validation
(INVALID_ARGUMENT, NOT_FOUND, ...) but never PERMISSION_DENIED; a refused one always is.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.authz import load_authz
from shared.config import SERVICES
from shared.gen.lethe.v1 import (
    anonymization_pb2_grpc,
    events_pb2_grpc,
    ingestion_pb2_grpc,
    retention_pb2_grpc,
    rights_pb2_grpc,
    vault_pb2_grpc,
)
from shared.keysource import FileKeySource
from shared.tls import IDENTITIES
from tests.conftest import Deployment

MODULES = {"ingestion": ingestion_pb2_grpc, "anonymization": anonymization_pb2_grpc,
           "vault": vault_pb2_grpc, "retention": retention_pb2_grpc, "rights": rights_pb2_grpc}
# Calls that would change state even with an empty request are skipped for allowed callers.
MUTATING_WHEN_EMPTY = {"lethe.v1.RetentionService/Sweep"}


def _methods() -> list[tuple[str, str, object, object, bool]]:
    """(service, full method, request class, response class, server streaming) for every RPC."""
    from google.protobuf import symbol_database  # noqa: F401 - descriptors are registered

    from shared.gen.lethe.v1 import (
        anonymization_pb2,
        events_pb2,
        ingestion_pb2,
        retention_pb2,
        rights_pb2,
        vault_pb2,
    )
    out = []
    pb = {"ingestion": ingestion_pb2, "anonymization": anonymization_pb2, "vault": vault_pb2,
          "retention": retention_pb2, "rights": rights_pb2}
    for service, module in pb.items():
        for desc in module.DESCRIPTOR.services_by_name.values():
            for m in desc.methods:
                out.append((service, f"{desc.full_name}/{m.name}", m, m.server_streaming,
                            m.client_streaming))
    for service in SERVICES:
        for m in events_pb2.DESCRIPTOR.services_by_name["EventLogService"].methods:
            out.append((service, f"lethe.v1.EventLogService/{m.name}", m, m.server_streaming,
                        m.client_streaming))
    return out


def _call(channel: grpc.Channel, method: str, desc: object, server_streaming: bool,
          client_streaming: bool) -> grpc.StatusCode:
    from google.protobuf import message_factory
    req_cls = message_factory.GetMessageClass(desc.input_type)  # type: ignore[attr-defined]
    resp_cls = message_factory.GetMessageClass(desc.output_type)  # type: ignore[attr-defined]
    kwargs = dict(request_serializer=req_cls.SerializeToString,
                  response_deserializer=resp_cls.FromString)
    try:
        if client_streaming:
            channel.stream_unary(f"/{method}", **kwargs)(iter([req_cls()]), timeout=30)
        elif server_streaming:
            list(channel.unary_stream(f"/{method}", **kwargs)(req_cls(), timeout=30))
        else:
            channel.unary_unary(f"/{method}", **kwargs)(req_cls(), timeout=30)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def _foreign_credentials(tmp: Path) -> grpc.ChannelCredentials:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "operator")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def test_exactly_the_allowed_identity_method_pairs_pass(sqlite_deployment: Deployment,
                                                        tmp_path: Path) -> None:
    dep = sqlite_deployment
    keys = FileKeySource(dep.key_dir)
    addresses = {n: s["address"] for n, s in
                 json.loads((dep.data_dir / "deployment.json").read_text())["services"].items()}
    policy = load_authz()
    ca = keys.get("tls/ca.pem")
    wrong = []
    for identity in IDENTITIES:
        creds = grpc.ssl_channel_credentials(ca, keys.get(f"tls/{identity}.key"),
                                             keys.get(f"tls/{identity}.pem"))
        channels = {s: grpc.secure_channel(a, creds) for s, a in addresses.items()}
        for service, method, desc, ss, cs in _methods():
            name_service = method.split("/")[0]
            allowed = identity in (policy.get(method) or policy.get(f"{name_service}/*") or ())
            if allowed and method in MUTATING_WHEN_EMPTY:
                continue
            code = _call(channels[service], method, desc, ss, cs)
            if allowed == (code == grpc.StatusCode.PERMISSION_DENIED) or code in (
                    grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE):
                wrong.append((identity, method, code.name))
        for channel in channels.values():
            channel.close()
    assert not wrong, wrong[:20]


@pytest.mark.parametrize("kind", ["plaintext", "unknown_ca"])
def test_callers_without_a_certificate_of_our_ca_are_refused(sqlite_deployment: Deployment,
                                                             tmp_path: Path, kind: str) -> None:
    dep = sqlite_deployment
    keys = FileKeySource(dep.key_dir)
    addresses = json.loads((dep.data_dir / "deployment.json").read_text())["services"]
    for service, info in addresses.items():
        if kind == "plaintext":
            channel = grpc.insecure_channel(info["address"])
        else:
            cert, key = _foreign_credentials(tmp_path)
            channel = grpc.secure_channel(info["address"], grpc.ssl_channel_credentials(
                keys.get("tls/ca.pem"), key, cert))
        stub = events_pb2_grpc.EventLogServiceStub(channel)
        from shared.gen.lethe.v1 import events_pb2
        with pytest.raises(grpc.RpcError) as exc:
            stub.GetLogInfo(events_pb2.GetLogInfoRequest(), timeout=10)
        assert exc.value.code() == grpc.StatusCode.UNAVAILABLE
        channel.close()


def test_refusals_are_recorded_as_events(sqlite_deployment: Deployment) -> None:
    events = sqlite_deployment.lethe_json("audit", "replay", "--json")
    refused = [e for e in events if e["event"] == "CallRefused"]
    assert refused and {"caller", "method", "reason"} <= set(refused[0]["attributes"])


def test_a_retry_with_the_same_request_id_returns_the_first_answer(sqlite_deployment: Deployment) -> None:
    from shared.gen.lethe.v1 import retention_pb2, vault_pb2
    dep = sqlite_deployment
    keys = FileKeySource(dep.key_dir)
    addresses = json.loads((dep.data_dir / "deployment.json").read_text())["services"]
    creds = grpc.ssl_channel_credentials(keys.get("tls/ca.pem"), keys.get("tls/operator.key"),
                                         keys.get("tls/operator.pem"))
    vault = vault_pb2_grpc.VaultServiceStub(grpc.secure_channel(addresses["vault"]["address"], creds))
    first = vault.RotateKey(vault_pb2.RotateKeyRequest(request_id="rot-1", scope=vault_pb2.KEY_SCOPE_BUCKET,
                                                       bucket=-1), timeout=60)
    versions = keys.list("vault")
    again = vault.RotateKey(vault_pb2.RotateKeyRequest(request_id="rot-1", scope=vault_pb2.KEY_SCOPE_BUCKET,
                                                       bucket=-1), timeout=60)
    assert again == first and keys.list("vault") == versions  # not rotated a second time
    retention = retention_pb2_grpc.RetentionServiceStub(
        grpc.secure_channel(addresses["retention"]["address"], creds))
    hold = retention.PlaceHold(retention_pb2.PlaceHoldRequest(
        request_id="hold-r1", reason="litigation",
        target=retention_pb2.HoldTarget(category="user.contact")), timeout=30)
    released = [retention.ReleaseHold(retention_pb2.ReleaseHoldRequest(
        hold_id=hold.hold_id, request_id="rel-1"), timeout=30) for _ in range(2)]
    assert released[0] == released[1] and released[0].released
