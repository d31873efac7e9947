"""Mutual TLS material for local deployments, made with ``cryptography``, and gRPC credentials.

``lethe up`` creates a local CA and one certificate per identity (each service, plus ``operator`` for
the CLI) in ``<key dir>/tls/``. A caller's identity is the certificate's common name; servers require
a client certificate from the same CA (plaintext connections are refused). In Kubernetes the same
file names are mounted from Secrets (or cert-manager).

Keys are ECDSA P-256; certificates are valid for 365 days with SANs ``localhost``, ``127.0.0.1`` and
the identity's own name.
"""

from __future__ import annotations

import datetime as dt
import ipaddress

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.config import SERVICES
from shared.keysource import FileKeySource

IDENTITIES = (*SERVICES, "operator")
_VALIDITY = dt.timedelta(days=365)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure_local_pki(source: FileKeySource) -> None:
    """Create the local CA and every identity's key and certificate if missing (idempotent)."""
    if source.exists("tls/ca.pem"):
        return
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lethe-local-ca")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + _VALIDITY)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .sign(ca_key, hashes.SHA256()))
    for identity in IDENTITIES:
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.DNSName("localhost"), x509.DNSName(identity),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)]))
                .issuer_name(ca_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + _VALIDITY)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(ca_key, hashes.SHA256()))
        source.put(f"tls/{identity}.key", _pem_key(key))
        source.put(f"tls/{identity}.pem", cert.public_bytes(serialization.Encoding.PEM))
    source.put("tls/ca.key", _pem_key(ca_key))
    source.put("tls/ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM))


def server_credentials(source: FileKeySource, identity: str) -> grpc.ServerCredentials:
    """mTLS server credentials for ``identity``: client certificates from the CA are required."""
    return grpc.ssl_server_credentials(
        [(source.get(f"tls/{identity}.key"), source.get(f"tls/{identity}.pem"))],
        root_certificates=source.get("tls/ca.pem"), require_client_auth=True)


def channel_credentials(source: FileKeySource, identity: str) -> grpc.ChannelCredentials:
    """mTLS channel credentials presenting ``identity``'s certificate."""
    return grpc.ssl_channel_credentials(root_certificates=source.get("tls/ca.pem"),
                                        private_key=source.get(f"tls/{identity}.key"),
                                        certificate_chain=source.get(f"tls/{identity}.pem"))


def peer_identity(context: grpc.ServicerContext) -> str | None:
    """The caller's identity (certificate common name), or None on an unauthenticated channel."""
    names = context.auth_context().get("x509_common_name")
    return names[0].decode("ascii") if names else None
