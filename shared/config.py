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
import sys
from collections.abc import Mapping
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
        refusal_window_s: refused calls of one caller, method and reason are recorded as one
            ``CallRefused`` event per window of this many seconds (``LETHE_REFUSAL_WINDOW_S``).
        vault_key_dir: writable key source for the vault's bucket keys (``LETHE_VAULT_KEY_DIR``;
            default: the key dir). In Kubernetes the key dir is a read-only Secret and this is a
            separate volume (or a KMS): the one place that must support true deletion.
        key_source: where the vault's bucket keys live: ``"file"`` (default, the key source above)
            or ``"transit"`` (``LETHE_KEY_SOURCE``; a HashiCorp Vault / OpenBao Transit engine).
        transit_address, transit_token: the Transit server (``VAULT_ADDR`` / ``VAULT_TOKEN``, or
            ``BAO_ADDR`` / ``BAO_TOKEN``), required with ``key_source="transit"``.
        transit_mount: the Transit engine's mount path (``LETHE_TRANSIT_MOUNT``, default ``transit``).
        audit_origin: prefix of each service's checkpoint origin, ``<prefix>/<service>``
            (``LETHE_AUDIT_ORIGIN``; default ``lethe.local/<schema prefix>``): name the deployment
            uniquely, e.g. ``privacy.example.com/prod``; it is also the checkpoint key's name.
        cert_validity_days: validity of the TLS certificates ``lethe up`` and ``lethe certs rotate``
            issue (``LETHE_CERT_VALIDITY_DAYS``, default 90).
    """

    data_dir: Path
    key_dir: Path
    persistence: str = "sqlite"
    postgres: dict[str, str] = field(default_factory=dict)
    tls: bool = True
    peers: dict[str, str] = field(default_factory=dict)
    sweep_interval_s: float = 0.0
    refusal_window_s: float = 60.0
    vault_key_dir: Path | None = None
    schema_prefix: str = "lethe"
    key_source: str = "file"
    transit_address: str = ""
    transit_token: str = field(default="", repr=False)
    transit_mount: str = "transit"
    audit_origin: str = ""
    cert_validity_days: int = 90

    def schema(self, service: str) -> str:
        """PostgreSQL schema of a service: ``<prefix>_<service>`` (``LETHE_POSTGRES_SCHEMA_PREFIX``)."""
        return f"{self.schema_prefix}_{service}"

    def origin(self, service: str) -> str:
        """The C2SP checkpoint origin (and note key name) of a service's log."""
        return f"{self.audit_origin or 'lethe.local/' + self.schema_prefix}/{service}"

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


# Numeric settings, checked at start-up by every process (even those read by another module):
# name -> (type, smallest allowed value). A bad value is a ConfigError naming the setting.
NUMBER_SETTINGS: dict[str, tuple[type, float]] = {
    "LETHE_SWEEP_INTERVAL_S": (float, 0),
    "LETHE_RATE_LIMIT_PER_S": (float, 0),
    "LETHE_DETECTION_WORKERS": (int, 0),
    # Seconds of PII detection allowed per text before the text is refused (DETECTION_BUDGET_EXCEEDED).
    "LETHE_DETECTION_BUDGET_S": (float, 0.001),
    "LETHE_REFUSAL_WINDOW_S": (float, 0.1),
    "LETHE_CERT_VALIDITY_DAYS": (int, 1),
}
CHOICE_SETTINGS: dict[str, tuple[str, ...]] = {
    "LETHE_PERSISTENCE": ("sqlite", "postgres"),
    "LETHE_REDACTION_OPERATOR": ("placeholder", "pseudonym"),
    "LETHE_KEY_SOURCE": ("file", "transit"),
}


def number_setting(name: str, default: float = 0) -> float:
    """The value of a numeric ``LETHE_*`` setting; raises ConfigError when it is not a number."""
    kind, minimum = NUMBER_SETTINGS[name]
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {'an integer' if kind is int else 'a number'}") from None
    if not value >= minimum or value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{name} must be a finite number >= {minimum:g}")
    return value


def _check_settings() -> None:
    for name in NUMBER_SETTINGS:
        number_setting(name)
    for name, choices in CHOICE_SETTINGS.items():
        value = os.environ.get(name)
        if value is not None and value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(repr(c) for c in choices)}")


def _read_peers(deployment: Path) -> dict[str, str]:
    """Addresses recorded by ``lethe up`` in ``deployment.json``; ConfigError when it is corrupt."""
    try:
        recorded = json.loads(deployment.read_text())
    except (OSError, ValueError, RecursionError):
        raise ConfigError(f"cannot read {deployment}: not a JSON document; "
                          "remove it or run `lethe down`") from None
    services = recorded.get("services", {}) if isinstance(recorded, dict) else None
    if not isinstance(services, dict) or not all(
            isinstance(info, dict) and isinstance(info.get("address"), str) for info in services.values()):
        raise ConfigError(f"{deployment} is corrupt (expected services with addresses); "
                          "remove it or run `lethe down`")
    return {str(name): info["address"] for name, info in services.items()}


def _transit_settings(env: Mapping[str, str]) -> dict[str, str]:
    """``LETHE_KEY_SOURCE=transit``: the server, token and mount; ConfigError when one is missing."""
    if env.get("LETHE_KEY_SOURCE", "file") != "transit":
        return {}
    address = env.get("VAULT_ADDR") or env.get("BAO_ADDR") or ""
    token = env.get("VAULT_TOKEN") or env.get("BAO_TOKEN") or ""
    mount = env.get("LETHE_TRANSIT_MOUNT") or "transit"
    if not address.startswith(("http://", "https://")):
        raise ConfigError("LETHE_KEY_SOURCE=transit needs VAULT_ADDR (or BAO_ADDR) as http(s)://host:port")
    if not token:
        raise ConfigError("LETHE_KEY_SOURCE=transit needs VAULT_TOKEN (or BAO_TOKEN)")
    from shared.transit import valid_mount

    if not valid_mount(mount):
        raise ConfigError("LETHE_TRANSIT_MOUNT must be a mount path such as 'transit'")
    return {"key_source": "transit", "transit_address": address, "transit_token": token,
            "transit_mount": mount}


def _audit_origin(env: Mapping[str, str]) -> str:
    """``LETHE_AUDIT_ORIGIN``: a checkpoint origin prefix (printable, no spaces or '+')."""
    origin = env.get("LETHE_AUDIT_ORIGIN", "").strip().rstrip("/")
    if origin and (not origin.isprintable() or "+" in origin or any(c.isspace() for c in origin)):
        raise ConfigError("LETHE_AUDIT_ORIGIN must be a name without spaces or '+', "
                          "e.g. privacy.example.com/prod")
    return origin


def exit_on_config_error(program: str, error: ConfigError) -> None:
    """Print one line naming the program and the setting on stderr, and exit 1 (no traceback)."""
    sys.stderr.write(f"{program}: configuration error: {error}\n")
    raise SystemExit(1)


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
    _check_settings()
    persistence = env.get("LETHE_PERSISTENCE", "sqlite")
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
        peers.update(_read_peers(deployment))
    for name in SERVICES:
        address = env.get(f"LETHE_{name.upper()}_ADDRESS")
        if address:
            peers[name] = address
    tls = env.get("LETHE_INSECURE_LOCAL_DEV", "") != "1"
    sweep = number_setting("LETHE_SWEEP_INTERVAL_S")
    vault_keys = env.get("LETHE_VAULT_KEY_DIR")
    prefix = env.get("LETHE_POSTGRES_SCHEMA_PREFIX", "lethe")
    if not prefix.isidentifier() or not prefix.islower():
        raise ConfigError("LETHE_POSTGRES_SCHEMA_PREFIX must be a lower-case identifier")
    return Settings(data_dir=data, key_dir=keys, persistence=persistence, postgres=postgres,
                    tls=tls, peers=peers, sweep_interval_s=sweep,
                    refusal_window_s=number_setting("LETHE_REFUSAL_WINDOW_S", 60.0),
                    vault_key_dir=Path(vault_keys).resolve() if vault_keys else None,
                    schema_prefix=prefix, audit_origin=_audit_origin(env),
                    cert_validity_days=int(number_setting("LETHE_CERT_VALIDITY_DAYS", 90)),
                    **_transit_settings(env))
