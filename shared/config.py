"""Configuration, read once at start-up from the environment and command line; fails fast.

Every Lethe process (service or CLI) finds its deployment through two folders:

* the data dir (``LETHE_DATA_DIR``, default ``./var``): event stores, record stores, logs, and
  ``deployment.json`` (the addresses and pids that ``lethe up`` chose);
* the key dir (``LETHE_KEY_DIR``, default ``<data dir>-keys``): the root key source (keys, pepper,
  TLS material), kept apart from the data so that a copy of the data dir holds no usable key.

Persistence is configuration too: ``LETHE_PERSISTENCE`` is ``sqlite`` (default; one file per service
under the data dir) or ``postgres`` (``LETHE_POSTGRES_DSN``-style settings, one schema per service).
Nothing outside this module and :mod:`shared.store` knows which one is in use.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

SERVICES = ("ingestion", "anonymization", "vault", "retention", "rights")
DEPLOYMENT_FILE = "deployment.json"


class ConfigError(Exception):
    """Raised when configuration is missing or invalid (message names the setting, never a value)."""


@dataclass(frozen=True)
class Settings:
    """Where a deployment lives and how its services are reached.

    Attributes:
        data_dir: absolute path of the data dir.
        key_dir: absolute path of the key dir (root key source).
        persistence: ``"sqlite"`` or ``"postgres"``.
        postgres: eventsourcing PostgreSQL settings (``POSTGRES_*`` keys) when persistence is postgres.
        tls: True to use mutual TLS between services (default); False only for explicit local dev.
        peers: service name -> ``host:port``.
        sweep_interval_s: seconds between automatic retention sweeps (0 = only on request).
        vault_key_dir: writable key source for the vault's bucket keys (``LETHE_VAULT_KEY_DIR``;
            default: the key dir). In Kubernetes the key dir is a read-only Secret and this is a
            separate volume (or a KMS): the one place that must support true deletion.
    """

    data_dir: Path
    key_dir: Path
    persistence: str = "sqlite"
    postgres: dict[str, str] = field(default_factory=dict)
    tls: bool = True
    peers: dict[str, str] = field(default_factory=dict)
    sweep_interval_s: float = 0.0
    vault_key_dir: Path | None = None
    schema_prefix: str = "lethe"

    def schema(self, service: str) -> str:
        """PostgreSQL schema of a service: ``<prefix>_<service>`` (``LETHE_POSTGRES_SCHEMA_PREFIX``)."""
        return f"{self.schema_prefix}_{service}"

    def service_dir(self, service: str) -> Path:
        """Return (and create) ``<data_dir>/<service>``, the service's own folder."""
        path = self.data_dir / service
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def peer(self, service: str) -> str:
        """Return the ``host:port`` of a service; raises ConfigError when unknown."""
        try:
            return self.peers[service]
        except KeyError:
            raise ConfigError(f"no address configured for service {service!r}") from None


def default_key_dir(data_dir: Path) -> Path:
    """The local default key dir: a sibling folder ``<data dir name>-keys`` (outside the data dir)."""
    return data_dir.parent / f"{data_dir.name}-keys"


def load_settings(data_dir: str | os.PathLike[str] | None = None,
                  key_dir: str | os.PathLike[str] | None = None) -> Settings:
    """Build Settings from arguments, then ``LETHE_*`` environment variables, then defaults.

    Peer addresses come from ``LETHE_<SERVICE>_ADDRESS`` when set (Kubernetes), else from the
    data dir's ``deployment.json`` written by ``lethe up``.

    Raises:
        ConfigError: on an unknown persistence kind or an unreadable deployment file.
    """
    env = os.environ
    data = Path(data_dir or env.get("LETHE_DATA_DIR") or "./var").resolve()
    keys = Path(key_dir or env.get("LETHE_KEY_DIR") or default_key_dir(data)).resolve()
    persistence = env.get("LETHE_PERSISTENCE", "sqlite")
    if persistence not in ("sqlite", "postgres"):
        raise ConfigError("LETHE_PERSISTENCE must be 'sqlite' or 'postgres'")
    postgres = {k: v for k, v in env.items() if k.startswith("POSTGRES_")}
    if persistence == "postgres":
        postgres.setdefault("POSTGRES_DBNAME", "test")
        postgres.setdefault("POSTGRES_HOST", "127.0.0.1")
        postgres.setdefault("POSTGRES_PORT", "5432")
        postgres.setdefault("POSTGRES_USER", "postgres")
        postgres.setdefault("POSTGRES_PASSWORD", "")
    peers: dict[str, str] = {}
    deployment = data / DEPLOYMENT_FILE
    if deployment.exists():
        try:
            recorded = json.loads(deployment.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {DEPLOYMENT_FILE}") from exc
        for name, info in recorded.get("services", {}).items():
            peers[name] = info["address"]
    for name in SERVICES:
        address = env.get(f"LETHE_{name.upper()}_ADDRESS")
        if address:
            peers[name] = address
    tls = env.get("LETHE_INSECURE_LOCAL_DEV", "") != "1"
    sweep = float(env.get("LETHE_SWEEP_INTERVAL_S", "0") or 0)
    vault_keys = env.get("LETHE_VAULT_KEY_DIR")
    prefix = env.get("LETHE_POSTGRES_SCHEMA_PREFIX", "lethe")
    if not prefix.isidentifier() or not prefix.islower():
        raise ConfigError("LETHE_POSTGRES_SCHEMA_PREFIX must be a lower-case identifier")
    return Settings(data_dir=data, key_dir=keys, persistence=persistence, postgres=postgres,
                    tls=tls, peers=peers, sweep_interval_s=sweep,
                    vault_key_dir=Path(vault_keys).resolve() if vault_keys else None,
                    schema_prefix=prefix)
