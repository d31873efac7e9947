"""``lethe certs rotate`` and ``lethe k8s secrets``: the deployment's TLS material and its Secrets.

``rotate`` re-issues every identity's key and certificate from the existing local CA (or, with
``--ca``, from a new CA) in the key dir (:func:`shared.tls.rotate_certificates`). Processes read
their certificates when they start: running services keep the old ones until restarted.

``k8s secrets`` writes the Kubernetes Secret manifests of a namespace from the key dir (made or
completed first, with service certificates naming that namespace): one ``kubernetes.io/tls``
Secret ``lethe-tls-<identity>`` per identity (``tls.crt``, ``tls.key``, ``ca.crt``, and the same
material under the file names the manifests project: ``ca.pem``, ``<identity>.pem``,
``<identity>.key``), plus the Opaque Secrets of the event ciphers, audit keys, pepper and vault
root key. Manifests hold private keys: files are written 0600, and are for development clusters;
production Secrets come from a secret manager.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

from cli.deployment import prepare_keys
from shared.config import SERVICES, Settings
from shared.keysource import FileKeySource
from shared.tls import IDENTITIES, ensure_local_pki, rotate_certificates

ROOT_KEY = "vault/root/v1"


def rotate(settings: Settings, new_ca: bool = False) -> list[str]:
    """Re-issue every certificate (from a new CA with ``new_ca``); returns the identities."""
    return rotate_certificates(FileKeySource(settings.key_dir), new_ca=new_ca)


def _secret(name: str, ns: str, files: dict[str, bytes], kind: str = "Opaque") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": kind,
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"app.kubernetes.io/part-of": "lethe"}},
            "data": {k: base64.b64encode(v).decode("ascii") for k, v in files.items()}}


def tls_secret(keys: FileKeySource, identity: str, ns: str) -> dict[str, Any]:
    """The ``kubernetes.io/tls`` Secret of one identity."""
    ca, crt, key = (keys.get("tls/ca.pem"), keys.get(f"tls/{identity}.pem"),
                    keys.get(f"tls/{identity}.key"))
    return _secret(f"lethe-tls-{identity}", ns, {
        "tls.crt": crt, "tls.key": key, "ca.crt": ca,
        "ca.pem": ca, f"{identity}.pem": crt, f"{identity}.key": key}, "kubernetes.io/tls")


def secret_manifests(settings: Settings, ns: str) -> list[dict[str, Any]]:
    """Every Secret of a namespace, making the key dir's missing keys and certificates first."""
    keys = prepare_keys(settings)
    ensure_local_pki(keys, ns)
    keys.get_or_create(ROOT_KEY, 32)
    docs = [tls_secret(keys, identity, ns) for identity in IDENTITIES]
    docs += [_secret(f"lethe-event-cipher-{s}", ns, {s: keys.get(f"event-cipher/{s}")})
             for s in SERVICES]
    docs += [_secret(f"lethe-audit-{s}", ns, {f"{s}.ed25519": keys.get(f"audit/{s}.ed25519"),
                                             f"{s}.pub": keys.get(f"audit/{s}.pub")})
             for s in SERVICES]
    docs.append(_secret("lethe-pepper", ns, {"pepper": keys.get("pepper")}))
    docs.append(_secret("lethe-vault-keys", ns, {"root-v1": keys.get(ROOT_KEY)}))
    return docs


def write_manifests(docs: list[dict[str, Any]], out_dir: Path | None) -> str:
    """Write one ``<name>.yaml`` per Secret (0600) into ``out_dir``; without it, return them as
    one multi-document YAML stream."""
    if out_dir is None:
        return yaml.safe_dump_all(docs, sort_keys=False)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for doc in docs:
        path = out_dir / f"{doc['metadata']['name']}.yaml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yaml.safe_dump(doc, fh, sort_keys=False)
    return ""
