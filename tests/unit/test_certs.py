"""Certificates (shared.tls, cli.certs): configurable validity, rotation from the same or a new CA,
and the Kubernetes Secrets of a namespace, validated offline with kubernetes-validate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from cli.certs import rotate, secret_manifests, write_manifests
from shared.config import ConfigError, Settings, load_settings
from shared.keysource import FileKeySource
from shared.tls import IDENTITIES, SERVICE_IDENTITIES, ensure_local_pki, service_names


def _cert(keys: FileKeySource, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(keys.get(f"tls/{name}.pem"))


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    s = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
    ensure_local_pki(FileKeySource(s.key_dir), "lethe")
    return s


def test_validity_is_configurable_and_defaults_to_90_days(tmp_path: Path, monkeypatch) -> None:
    keys = FileKeySource(tmp_path / "k90")
    ensure_local_pki(keys, "lethe")
    c = _cert(keys, "vault")
    assert c.not_valid_after_utc - c.not_valid_before_utc == dt.timedelta(days=90, minutes=5)
    monkeypatch.setenv("LETHE_CERT_VALIDITY_DAYS", "30")
    assert load_settings(tmp_path / "v").cert_validity_days == 30
    keys = FileKeySource(tmp_path / "k30")
    ensure_local_pki(keys, "lethe")
    c = _cert(keys, "operator")
    assert c.not_valid_after_utc - c.not_valid_before_utc == dt.timedelta(days=30, minutes=5)
    for bad in ("0", "ninety", "1.5"):
        monkeypatch.setenv("LETHE_CERT_VALIDITY_DAYS", bad)
        with pytest.raises(ConfigError, match="LETHE_CERT_VALIDITY_DAYS"):
            load_settings(tmp_path / "v")


def test_service_certificates_carry_short_and_qualified_names(settings: Settings) -> None:
    keys = FileKeySource(settings.key_dir)
    sans = _cert(keys, "rights").extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sans.value.get_values_for_type(x509.DNSName) == service_names("rights", "lethe") == [
        "rights", "rights.lethe", "rights.lethe.svc", "rights.lethe.svc.cluster.local"]


def test_rotate_keeps_the_ca_and_changes_every_serial(settings: Settings) -> None:
    keys = FileKeySource(settings.key_dir)
    ca = keys.get("tls/ca.pem")
    before = {i: _cert(keys, i).serial_number for i in IDENTITIES}
    assert sorted(rotate(settings)) == sorted(IDENTITIES)
    assert keys.get("tls/ca.pem") == ca
    after = {i: _cert(keys, i) for i in IDENTITIES}
    ca_cert = x509.load_pem_x509_certificate(ca)
    for i, cert in after.items():
        assert cert.serial_number != before[i]
        cert.verify_directly_issued_by(ca_cert)
    assert ensure_local_pki(keys, "lethe") == []  # the rotated set is current


def test_rotate_with_a_new_ca_reissues_everything_under_it(settings: Settings) -> None:
    keys = FileKeySource(settings.key_dir)
    old_ca = keys.get("tls/ca.pem")
    rotate(settings, new_ca=True)
    new_ca = x509.load_pem_x509_certificate(keys.get("tls/ca.pem"))
    assert keys.get("tls/ca.pem") != old_ca
    for i in IDENTITIES:
        _cert(keys, i).verify_directly_issued_by(new_ca)


def test_certificates_of_an_older_ca_of_the_same_name_are_reissued(settings: Settings) -> None:
    keys = FileKeySource(settings.key_dir)
    old = keys.get("tls/vault.pem")
    ca = (keys.get("tls/ca.pem"), keys.get("tls/ca.key"))
    rotate(settings, new_ca=True)
    keys.put("tls/vault.pem", old)  # a stale certificate left behind
    assert ensure_local_pki(keys, "lethe") == ["vault"]
    assert (keys.get("tls/ca.pem"), keys.get("tls/ca.key")) != ca


def test_k8s_secrets_validate_and_hold_one_tls_secret_per_identity(settings: Settings,
                                                                   tmp_path: Path) -> None:
    import kubernetes_validate

    docs = secret_manifests(settings, "lethe-dev")
    tls = {d["metadata"]["name"]: d for d in docs if d["type"] == "kubernetes.io/tls"}
    assert sorted(tls) == sorted(f"lethe-tls-{i}" for i in IDENTITIES)
    for d in docs:
        assert d["metadata"]["namespace"] == "lethe-dev"
        kubernetes_validate.validate(d, "1.30.0", strict=True)
    for d in tls.values():
        assert {"tls.crt", "tls.key", "ca.crt"} <= set(d["data"])
    keys = FileKeySource(settings.key_dir)
    sans = _cert(keys, "vault").extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert "vault.lethe-dev.svc" in sans.value.get_values_for_type(x509.DNSName)
    names = {d["metadata"]["name"] for d in docs}
    assert {f"lethe-event-cipher-{s}" for s in SERVICE_IDENTITIES} <= names
    assert {"lethe-pepper", "lethe-vault-keys"} <= names
    out = tmp_path / "secrets"
    write_manifests(docs, out)
    files = sorted(out.iterdir())
    assert len(files) == len(docs) and all(f.stat().st_mode & 0o077 == 0 for f in files)
    assert yaml.safe_load(files[0].read_text())["kind"] == "Secret"
    assert len(list(yaml.safe_load_all(write_manifests(docs, None)))) == len(docs)
