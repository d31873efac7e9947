"""Mutual TLS material for local deployments, made with ``cryptography``, and gRPC credentials.

``lethe up`` creates a local CA and one certificate per identity in ``<key dir>/tls/``: each service
(:data:`SERVICE_IDENTITIES`) and each client role (:data:`CLIENT_IDENTITIES`: ``operator`` for the
CLI's administrative commands, ``client`` for the AI service, ``sweeper`` for scheduled sweeps,
``auditor`` for log audits, ``legal`` for legal holds, ``console`` for the DPO console). A caller's
identity is its certificate's common name (``shared/authz.toml`` says what each may call); servers
require a client certificate from the same CA (plaintext connections are refused). In Kubernetes the
same file names are mounted from one Secret per identity (or cert-manager).

Server identity pinning: a service certificate names only its own service, as SANs ``<service>``,
``<service>.<namespace>``, ``<service>.<namespace>.svc`` and ``<service>.<namespace>.svc.cluster.local``
(namespace from ``LETHE_NAMESPACE``, default ``lethe``), and clients open each channel with
``grpc.ssl_target_name_override`` set to the service they mean (:func:`channel_options`), so a peer
presenting another service's certificate fails the handshake (UNAVAILABLE) before any request byte
is sent, whatever address it listens on. Client-role certificates are for client authentication
only (extended key usage ``clientAuth``, no DNS names): they cannot serve. Keys are ECDSA P-256;
certificates are valid for ``LETHE_CERT_VALIDITY_DAYS`` days (default 90; never beyond the CA's own
validity, 10 years) and re-issued by ``lethe up`` when within a third of that (at most a week) of
expiry. :func:`rotate_certificates` (``lethe certs rotate``) re-issues every certificate now, from the
existing CA or from a new one; processes read their certificates at start, so running services use
the new ones after a restart (with a new CA, restart them all: old and new certificates do not
trust each other).
"""

from __future__ import annotations

import datetime as dt

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.config import SERVICES, number_setting
from shared.keysource import FileKeySource

SERVICE_IDENTITIES = SERVICES
CLIENT_IDENTITIES = ("operator", "client", "sweeper", "auditor", "legal", "console")
IDENTITIES = (*SERVICE_IDENTITIES, *CLIENT_IDENTITIES)
DEFAULT_NAMESPACE = "lethe"
CA_VALIDITY = dt.timedelta(days=3650)
_SERVER_USAGE = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
_CLIENT_USAGE = [ExtendedKeyUsageOID.CLIENT_AUTH]


def validity() -> dt.timedelta:
    """How long new certificates are valid (``LETHE_CERT_VALIDITY_DAYS``, default 90 days)."""
    return dt.timedelta(days=int(number_setting("LETHE_CERT_VALIDITY_DAYS", 90)))


def namespace() -> str:
    """The Kubernetes namespace named in service certificates (``LETHE_NAMESPACE``, default lethe)."""
    from shared.config import setting

    return setting("LETHE_NAMESPACE") or DEFAULT_NAMESPACE


def service_names(service: str, ns: str | None = None) -> list[str]:
    """The DNS names a service's certificate carries: short name, then the cluster names."""
    ns = ns or namespace()
    return [service, f"{service}.{ns}", f"{service}.{ns}.svc", f"{service}.{ns}.svc.cluster.local"]


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _expected(identity: str, ns: str) -> tuple[list[str], list[x509.ObjectIdentifier]]:
    if identity in SERVICE_IDENTITIES:
        return service_names(identity, ns), _SERVER_USAGE
    return [], _CLIENT_USAGE


def _current(source: FileKeySource, identity: str, ns: str, ca: x509.Certificate) -> bool:
    """True when ``identity``'s certificate exists, is signed by ``ca`` and has today's names."""
    if not (source.exists(f"tls/{identity}.pem") and source.exists(f"tls/{identity}.key")):
        return False
    cert = x509.load_pem_x509_certificate(source.get(f"tls/{identity}.pem"))
    names, usage = _expected(identity, ns)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found_names = sans.get_values_for_type(x509.DNSName)
        found_other = len(list(sans)) - len(found_names)
    except x509.ExtensionNotFound:
        found_names, found_other = [], 0
    try:
        found_usage = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        found_usage = []
    try:
        cert.verify_directly_issued_by(ca)  # not one of an older CA of the same name
    except (ValueError, TypeError, InvalidSignature):
        return False
    return (cert.issuer == ca.subject and sorted(found_names) == sorted(names)
            and found_other == 0 and sorted(u.dotted_string for u in found_usage)
            == sorted(u.dotted_string for u in usage)
            and cert.not_valid_after_utc > dt.datetime.now(dt.timezone.utc)
            + min(dt.timedelta(days=7), validity() / 3))


def _issue(source: FileKeySource, identity: str, ns: str, ca_key: ec.EllipticCurvePrivateKey,
           ca: x509.Certificate) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    ca_name, until = ca.subject, min(now + validity(), ca.not_valid_after_utc)
    key = ec.generate_private_key(ec.SECP256R1())
    names, usage = _expected(identity, ns)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)]))
               .issuer_name(ca_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(until)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usage), critical=False))
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    source.put(f"tls/{identity}.key", _pem_key(key))
    source.put(f"tls/{identity}.pem", cert.public_bytes(serialization.Encoding.PEM))


def _make_ca(source: FileKeySource) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lethe-local-ca")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + CA_VALIDITY)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .sign(ca_key, hashes.SHA256()))
    source.put("tls/ca.key", _pem_key(ca_key))
    source.put("tls/ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM))


def ensure_local_pki(source: FileKeySource, ns: str | None = None) -> list[str]:
    """Create the local CA and every identity's key and certificate if missing (idempotent).

    Certificates that are missing, outdated (other names or usages than today's, e.g. made before
    server identity pinning, or for another namespace) or expiring within a week are re-issued by
    the existing CA; a key dir without the CA's key (a read-only Secret) is left as it is.
    Returns the identities (re-)issued.
    """
    ns = ns or namespace()
    if not source.exists("tls/ca.pem"):
        _make_ca(source)
    if not source.exists("tls/ca.key"):
        return []
    ca_cert, ca_key = _load_ca(source)
    issued = []
    for identity in IDENTITIES:
        if not _current(source, identity, ns, ca_cert):
            _issue(source, identity, ns, ca_key, ca_cert)
            issued.append(identity)
    return issued


def _load_ca(source: FileKeySource) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_cert = x509.load_pem_x509_certificate(source.get("tls/ca.pem"))
    ca_key = serialization.load_pem_private_key(source.get("tls/ca.key"), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("tls/ca.key is not an ECDSA key")
    return ca_cert, ca_key


def rotate_certificates(source: FileKeySource, ns: str | None = None,
                        new_ca: bool = False) -> list[str]:
    """Re-issue every identity's key and certificate now; returns the identities, all of them.

    From the existing CA (its key must be in ``source``), or, with ``new_ca``, from a CA made
    first. Raises FileNotFoundError when there is no CA key and ``new_ca`` is False (a key dir
    that is a read-only Secret: rotate where the CA key is kept).
    """
    ns = ns or namespace()
    if new_ca or not source.exists("tls/ca.pem"):
        _make_ca(source)
    if not source.exists("tls/ca.key"):
        raise FileNotFoundError("tls/ca.key: the CA's key is not in this key dir")
    ca_cert, ca_key = _load_ca(source)
    for identity in IDENTITIES:
        _issue(source, identity, ns, ca_key, ca_cert)
    return list(IDENTITIES)


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


def channel_options(service: str) -> list[tuple[str, str]]:
    """Channel options pinning the peer to ``service``: its certificate must name the service."""
    return [("grpc.ssl_target_name_override", service)]


def secure_channel(address: str, source: FileKeySource, identity: str, service: str,
                   options: list[tuple[str, object]] | None = None) -> grpc.Channel:
    """A mutual-TLS channel to ``service`` at ``address`` as ``identity``, pinned to that service."""
    return grpc.secure_channel(address, channel_credentials(source, identity),
                               [*(options or []), *channel_options(service)])


def peer_identity(context: grpc.ServicerContext) -> str | None:
    """The caller's identity (certificate common name), or None on an unauthenticated channel."""
    names = context.auth_context().get("x509_common_name")
    return names[0].decode("ascii") if names else None
