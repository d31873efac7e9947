"""Server identity pinning: a client reaches only the service it meant, whatever listens on the port.

Servers run in this process on port 0 with certificates from a fresh local PKI; clients are
:class:`shared.clients.Peers` channels, as every service and the CLI use them. An impostor (a
process holding another service's or a client role's certificate) listening where the client
expects rights must fail the handshake with UNAVAILABLE, and its handler must never run.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.clients import Peers
from shared.config import Settings
from shared.gen.lethe.v1 import rights_pb2, rights_pb2_grpc
from shared.keysource import FileKeySource
from shared.tls import (
    CLIENT_IDENTITIES,
    IDENTITIES,
    SERVICE_IDENTITIES,
    ensure_local_pki,
    server_credentials,
    service_names,
)

ACCOUNT = "acct-pinning-7f3a"


class _Recorder(grpc.GenericRpcHandler):
    """Answers every method with an empty message and remembers every request it received."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        def handle(request: bytes, context: Any) -> bytes:
            with self.lock:
                self.received.append((details.method, request))
            return b""
        return grpc.unary_unary_rpc_method_handler(handle)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> FileKeySource:
    source = FileKeySource(tmp_path_factory.mktemp("pinning") / "keys")
    ensure_local_pki(source, "lethe")
    return source


def _serve(keys: FileKeySource, identity: str) -> tuple[grpc.Server, int, _Recorder]:
    recorder = _Recorder()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[recorder])
    port = server.add_secure_port("127.0.0.1:0", server_credentials(keys, identity))
    server.start()
    return server, port, recorder


@pytest.fixture
def serve(keys: FileKeySource) -> Iterator[Any]:
    servers: list[grpc.Server] = []

    def start(identity: str) -> tuple[int, _Recorder]:
        server, port, recorder = _serve(keys, identity)
        servers.append(server)
        return port, recorder
    yield start
    for server in servers:
        server.stop(None)


def _submit_as(keys: FileKeySource, identity: str, port: int) -> grpc.StatusCode:
    """SubmitRequest to "rights" at ``port`` (an account id in the request), as ``identity``."""
    peers = Peers(Settings(Path("/nonexistent"), Path("/nonexistent"),
                           peers={"rights": f"127.0.0.1:{port}"}), keys, identity)
    try:
        stub = rights_pb2_grpc.RightsServiceStub(peers.channel("rights"))
        stub.SubmitRequest(rights_pb2.SubmitRequestRequest(account_id=ACCOUNT), timeout=10)
    except grpc.RpcError as exc:
        return exc.code()
    finally:
        peers.close()
    return grpc.StatusCode.OK


def test_the_client_reaches_the_service_it_meant(keys: FileKeySource, serve: Any) -> None:
    port, recorder = serve("rights")
    assert _submit_as(keys, "operator", port) == grpc.StatusCode.OK
    assert [m for m, _ in recorder.received] == ["/lethe.v1.RightsService/SubmitRequest"]
    assert ACCOUNT.encode() in recorder.received[0][1]


@pytest.mark.parametrize("impostor", [i for i in IDENTITIES if i != "rights"])
def test_a_peer_with_another_identity_posing_as_rights_gets_no_request_bytes(
        keys: FileKeySource, serve: Any, impostor: str) -> None:
    """Another service's certificate (e.g. anonymization's) or a client role's fails the handshake."""
    port, recorder = serve(impostor)
    for caller in ("operator", "client", "ingestion"):
        assert _submit_as(keys, caller, port) == grpc.StatusCode.UNAVAILABLE, (impostor, caller)
    assert recorder.received == []


def test_service_certificates_name_only_their_own_service(keys: FileKeySource) -> None:
    """Short and cluster names of the service itself: no localhost, no IP, no other service."""
    for identity in IDENTITIES:
        cert = x509.load_pem_x509_certificate(keys.get(f"tls/{identity}.pem"))
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert cn == identity
        try:
            sans = list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            sans = []
        names = [s.value for s in sans]
        if identity in SERVICE_IDENTITIES:
            assert names == service_names(identity, "lethe")
            assert f"{identity}.lethe.svc.cluster.local" in names
        else:
            assert identity in CLIENT_IDENTITIES and names == [], identity


def _old_style_certificate(keys: FileKeySource, identity: str) -> None:
    """A certificate as made before pinning: SANs localhost, 127.0.0.1 and the identity."""
    import ipaddress

    from cryptography.hazmat.primitives import serialization
    ca_key = serialization.load_pem_private_key(keys.get("tls/ca.key"), password=None)
    ca = x509.load_pem_x509_certificate(keys.get("tls/ca.pem"))
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.DNSName(identity),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    keys.put(f"tls/{identity}.pem", cert.public_bytes(serialization.Encoding.PEM))


def test_an_existing_key_dir_gets_pinned_certificates_for_missing_and_old_identities(
        tmp_path: Path) -> None:
    keys = FileKeySource(tmp_path / "keys")
    ensure_local_pki(keys, "lethe")
    ca_before = keys.get("tls/ca.pem")
    _old_style_certificate(keys, "rights")
    keys.destroy("tls/sweeper.pem")
    assert sorted(ensure_local_pki(keys, "lethe")) == ["rights", "sweeper"]
    assert keys.get("tls/ca.pem") == ca_before  # same CA: running peers keep trusting each other
    assert ensure_local_pki(keys, "lethe") == []
    assert sorted(ensure_local_pki(keys, "lethe-dev")) == sorted(SERVICE_IDENTITIES)
