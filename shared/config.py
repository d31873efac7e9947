"""Configuration, read once at start-up from the environment and command line; fails fast.

Every setting the product reads (``LETHE_*``, ``POSTGRES_*``, ``VAULT_*``/``BAO_*``, ``OTEL_*``) is
declared once below in :data:`DECLARED` (name, kind, default, allowed values, meaning); this is the
only module that reads the environment (the client library, a separate package, reads its own
``LETHE_CLIENT_*`` settings declared here too). :func:`load_settings` checks every declared setting
at start-up, so a bad value is one :class:`ConfigError` naming the setting (never its value); other
modules look values up with :func:`setting`. ``docs/configuration.md`` is generated from the
declarations (``python -m shared.config``) and a unit test keeps both in step with the code. An
unknown ``LETHE_*`` variable in the environment is warned about once per process (one line).

Every Lethe process (service or CLI) finds its deployment through two folders:

* the data dir (``LETHE_DATA_DIR``, default ``./var``): event stores, record stores, logs, and
  ``deployment.json`` (the addresses and pids that ``lethe up`` chose);
* the key dir (``LETHE_KEY_DIR``, default ``<data dir>-keys``): the root key source (keys, pepper,
  TLS material), kept apart from the data so that a copy of the data dir holds no usable key.

Persistence is configuration too: ``LETHE_PERSISTENCE`` is ``sqlite`` (default; one file per service
under the data dir) or ``postgres`` (the ``POSTGRES_*`` settings, one schema per service;
``POSTGRES_DBNAME`` and ``POSTGRES_USER`` must then be set explicitly, there is no default database).
Nothing outside this module and :mod:`shared.store` knows which one is in use.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Setting:
    """One environment setting: its name, kind, default and meaning (one line, for the table).

    Kinds: ``text`` (any string), ``secret`` (any string, never printed), ``path``, ``address``
    (``host:port``), ``int``/``float`` (at least ``minimum``), ``choice`` (one of ``choices``;
    compared case-insensitively when ``fold`` is set), ``flag`` (``0`` or ``1``).
    """

    name: str
    kind: str
    default: str
    meaning: str
    choices: tuple[str, ...] = ()
    minimum: float = 0
    reader: str = "services and CLI"
    fold: bool = False

    def allowed(self) -> str:
        """Allowed values, as the table shows them."""
        if self.kind in ("choice", "flag"):
            return " \\| ".join(f"`{c}`" for c in self.choices)
        if self.kind in ("int", "float"):
            return f"{'integer' if self.kind == 'int' else 'number'} >= {self.minimum:g}"
        return {"address": "`host:port`", "path": "a path", "secret": "any (secret)"}.get(self.kind, "any")

    def parse(self, raw: str | None) -> str | int | float:
        """The typed value of ``raw`` (None or blank: the default); raises ConfigError naming the setting."""
        raw = (raw or "").strip()
        if not raw:
            raw = self.default if self.kind in ("int", "float", "choice", "flag") else ""
            return self.parse(raw) if raw else raw
        if self.kind in ("int", "float"):
            try:
                value: float = int(raw) if self.kind == "int" else float(raw)
            except ValueError:
                raise ConfigError(f"{self.name} must be {'an integer' if self.kind == 'int' else 'a number'}") from None
            if not value >= self.minimum or value in (float("inf"), float("-inf")):
                raise ConfigError(f"{self.name} must be a finite number >= {self.minimum:g}")
            return value
        if self.kind in ("choice", "flag"):
            value_s = raw.lower() if self.fold else raw
            if value_s not in self.choices:
                raise ConfigError(f"{self.name} must be one of: {', '.join(self.choices)}")
            return value_s
        if self.kind == "address":
            host, _, port = raw.rpartition(":")
            if not host or not port.isdigit() or not 0 <= int(port) < 65536:
                raise ConfigError(f"{self.name} must be host:port")
        return raw


_PG = "with `LETHE_PERSISTENCE=postgres`"
_ADDRESSES = tuple(Setting(f"LETHE_{s.upper()}_ADDRESS", "address", "from `deployment.json`",
                           f"where the {s} service is reached (Kubernetes: `{s}:50051`); "
                           "default: the address `lethe up` recorded" + (
                               "; also read by the client library" if s == "ingestion" else ""))
                   for s in SERVICES)
SETTINGS_DECLARED: tuple[Setting, ...] = (
    # Where a deployment lives.
    Setting("LETHE_DATA_DIR", "path", "`./var`", "data dir: event and record stores, logs, "
            "`deployment.json` (`--data-dir` wins)", reader="services, CLI, client library"),
    Setting("LETHE_KEY_DIR", "path", "`<data dir>-keys`", "key dir: the root key source (pepper, "
            "event ciphers, TLS and audit keys); `--key-dir` wins", reader="services, CLI, client library"),
    Setting("LETHE_VAULT_KEY_DIR", "path", "the key dir", "writable key source for the vault's bucket "
            "keys when the key dir is a read-only Secret", reader="vault"),
    # Persistence.
    Setting("LETHE_PERSISTENCE", "choice", "sqlite", "event stores: one SQLite file per service, or "
            "PostgreSQL (one schema per service)", choices=("sqlite", "postgres")),
    Setting("POSTGRES_HOST", "text", "`127.0.0.1`", f"PostgreSQL host {_PG}"),
    Setting("POSTGRES_PORT", "int", "5432", f"PostgreSQL port {_PG}", minimum=1),
    Setting("POSTGRES_DBNAME", "text", "none: required", f"PostgreSQL database; must be set {_PG}"),
    Setting("POSTGRES_USER", "text", "none: required", f"PostgreSQL user; must be set {_PG}"),
    Setting("POSTGRES_PASSWORD", "secret", "empty", "PostgreSQL password; empty: none sent "
            "(`trust`/peer authentication)"),
    Setting("LETHE_POSTGRES_SCHEMA_PREFIX", "text", "lethe", "schema of a service: "
            "`<prefix>_<service>` (a lower-case identifier)"),
    # Network.
    *_ADDRESSES,
    Setting("LETHE_LISTEN", "address", "`127.0.0.1:0`", "a service's gRPC listen address when "
            "`--address` is not given", reader="services"),
    Setting("LETHE_HEALTH_ADDRESS", "address", "none", "plaintext port serving only the health "
            "service (Kubernetes gRPC probes)", reader="services"),
    Setting("LETHE_METRICS_ADDRESS", "address", "none", "serve `GET /metrics` (Prometheus text "
            "format) on this address", reader="services"),
    Setting("LETHE_PROFILE", "choice", "local", "`production` turns gRPC server reflection off",
            choices=("local", "production"), reader="services"),
    Setting("LETHE_INSECURE_LOCAL_DEV", "flag", "0", "`1`: plaintext gRPC without mutual TLS, "
            "for local experiments only", choices=("0", "1"), reader="services, CLI, client library"),
    Setting("LETHE_NAMESPACE", "text", "lethe", "Kubernetes namespace named in the service "
            "certificates (`<service>.<namespace>.svc`)", reader="CLI (`lethe up`, `lethe certs`)"),
    Setting("LETHE_CERT_VALIDITY_DAYS", "int", "90", "validity of the TLS certificates that "
            "`lethe up` and `lethe certs rotate` issue", minimum=1, reader="CLI"),
    # Keys.
    Setting("LETHE_KEY_SOURCE", "choice", "file", "where the vault's bucket keys live: files in the "
            "key source, or a Vault/OpenBao Transit engine", choices=("file", "transit"), reader="vault, CLI"),
    Setting("VAULT_ADDR", "text", "none", "Transit server `http(s)://host:port`, required with "
            "`LETHE_KEY_SOURCE=transit`", reader="vault, CLI"),
    Setting("VAULT_TOKEN", "secret", "none", "Transit token, required with "
            "`LETHE_KEY_SOURCE=transit`", reader="vault, CLI"),
    Setting("BAO_ADDR", "text", "none", "OpenBao's name for `VAULT_ADDR` (used when that is unset)",
            reader="vault, CLI"),
    Setting("BAO_TOKEN", "secret", "none", "OpenBao's name for `VAULT_TOKEN` (used when that is unset)",
            reader="vault, CLI"),
    Setting("LETHE_TRANSIT_MOUNT", "text", "transit", "the Transit engine's mount path",
            reader="vault, CLI"),
    Setting("LETHE_AUDIT_ORIGIN", "text", "`lethe.local/<schema prefix>`", "prefix of each log's "
            "checkpoint origin `<prefix>/<service>` (no spaces or `+`), e.g. `privacy.example.com/prod`"),
    # Policy and limits.
    Setting("LETHE_POLICY_FILE", "path", "bundled `policy.toml`", "the privacy policy "
            "(retention rules, hold reasons)"),
    Setting("LETHE_AUTHZ_FILE", "path", "bundled policy", "method -> allowed identities, and "
            "read scopes", reader="services"),
    Setting("LETHE_RATE_LIMIT_PER_S", "float", "5000", "calls per second per caller identity "
            "(burst twice that)", reader="services"),
    Setting("LETHE_REFUSAL_WINDOW_S", "float", "60", "refused calls of one caller, method and "
            "reason are recorded as one event per window of this many seconds", minimum=0.1,
            reader="services"),
    Setting("LETHE_SWEEP_INTERVAL_S", "float", "0", "seconds between automatic retention sweeps "
            "(0: only on request / CronJob)", reader="retention"),
    # Detection.
    Setting("LETHE_REDACTION_OPERATOR", "choice", "placeholder", "`pseudonym`: session-consistent "
            "surrogates instead of typed placeholders in the redacted form",
            choices=("placeholder", "pseudonym"), reader="ingestion"),
    Setting("LETHE_DETECTION_WORKERS", "int", "0", "PII detection processes (0: min(2, CPUs))",
            reader="anonymization"),
    Setting("LETHE_DETECTION_BUDGET_S", "float", "10", "seconds of detection allowed per text "
            "before it is refused (`DETECTION_BUDGET_EXCEEDED`)", minimum=0.001, reader="anonymization"),
    # Telemetry and logs.
    Setting("LETHE_LOG_FORMAT", "choice", "text", "service log lines: plain text or one JSON "
            "object per line", choices=("text", "json"), reader="services", fold=True),
    Setting("LETHE_TRACE_FILE", "path", "none", "write spans as JSON lines to this file "
            "(`{service}` is replaced by the service name)", reader="services"),
    Setting("OTEL_EXPORTER_OTLP_ENDPOINT", "text", "none", "export traces and metrics over OTLP "
            "(unset: nothing is exported; other `OTEL_*` go to the OpenTelemetry SDK)", reader="services"),
    # Gateway, tools, client library.
    Setting("LETHE_UPSTREAM_API_KEY", "secret", "none", "API key the gateway sends upstream",
            reader="gateway"),
    Setting("LETHE_HANDBOOK_DIR", "path", "`shared` beside the checkout", "labelled PII data sets "
            "read by `make eval`, `make bench` and one regression test", reader="`make eval`, `make bench`"),
    Setting("LETHE_CLIENT_CONFIG", "path", "none", "a TOML file with the client's settings",
            reader="client library"),
    Setting("LETHE_CLIENT_CA", "path", "`<key dir>/tls/ca.pem`", "CA certificate (PEM) the client "
            "trusts", reader="client library"),
    Setting("LETHE_CLIENT_CERT", "path", "`<key dir>/tls/<identity>.pem`", "the client's certificate "
            "(PEM)", reader="client library"),
    Setting("LETHE_CLIENT_KEY", "path", "`<key dir>/tls/<identity>.key`", "the client's private key "
            "(PEM)", reader="client library"),
    Setting("LETHE_CLIENT_IDENTITY", "text", "client", "which identity's certificate the client "
            "presents", reader="client library"),
)
DECLARED: dict[str, Setting] = {s.name: s for s in SETTINGS_DECLARED}
# Read only by the test suite and its hooks (never by the product): documented, not warned about.
TEST_SETTINGS: tuple[str, ...] = (
    "LETHE_FUZZ_EXAMPLES", "LETHE_KUSTOMIZE", "LETHE_SCREENSHOT_DIR", "LETHE_KILL_SEED",
    "LETHE_KILL_INGEST_ROUNDS", "LETHE_KILL_ERASE_ROUNDS", "LETHE_AUDIT_BENCH_EVENTS",
    "LETHE_TEST_KILL_AT", "LETHE_TEST_KILL_IN")
_warned = False


def setting(name: str) -> Any:
    """The value of a declared setting (typed: str, int or float; blank: its default or "").

    Raises:
        ConfigError: when the value is not allowed (the message names the setting, not the value).
        KeyError: when ``name`` is not declared (a programming error).
    """
    return DECLARED[name].parse(os.environ.get(name))


def environment() -> dict[str, str]:
    """A copy of the whole environment, for child processes (``lethe up`` passes it on)."""
    return dict(os.environ)


def number_setting(name: str, default: float = 0) -> float:
    """The value of a numeric setting; ``default`` when unset; raises ConfigError when invalid."""
    value = setting(name) if os.environ.get(name, "").strip() else default
    return float(value) if DECLARED[name].kind == "float" else value


def check_environment() -> None:
    """Check every declared setting (ConfigError on the first bad one) and warn once, on stderr,
    about ``LETHE_*`` variables that nothing reads (a typo would otherwise mean the default)."""
    global _warned
    for name in DECLARED:
        setting(name)
    unknown = sorted(n for n in os.environ
                     if n.startswith("LETHE_") and n not in DECLARED and n not in TEST_SETTINGS)
    if unknown and not _warned:
        _warned = True
        sys.stderr.write(f"lethe: warning: unknown setting{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(unknown)} (ignored; see docs/configuration.md)\n")


def _postgres_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The ``POSTGRES_*`` keys for eventsourcing; ConfigError naming the first required one unset."""
    postgres = {k: v for k, v in env.items() if k.startswith("POSTGRES_")}
    missing = [n for n in ("POSTGRES_DBNAME", "POSTGRES_USER") if not env.get(n, "").strip()]
    if missing:
        raise ConfigError(f"LETHE_PERSISTENCE=postgres needs {' and '.join(missing)} set explicitly")
    postgres.setdefault("POSTGRES_HOST", "127.0.0.1")
    postgres.setdefault("POSTGRES_PORT", "5432")
    postgres.setdefault("POSTGRES_PASSWORD", "")
    return postgres


def markdown_table() -> str:
    """The table of every setting, as ``docs/configuration.md`` holds it."""
    rows = ["| setting | kind | default | allowed | read by | meaning |", "|---|---|---|---|---|---|"]
    for s in SETTINGS_DECLARED:
        rows.append(f"| `{s.name}` | {s.kind} | {s.default} | {s.allowed()} | {s.reader} | {s.meaning} |")
    return "\n".join(rows) + "\n"


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
        ConfigError: on a bad value of any declared setting, ``LETHE_PERSISTENCE=postgres`` without
            ``POSTGRES_DBNAME``/``POSTGRES_USER``, or an unreadable deployment file.
    """
    env = os.environ
    data = Path(data_dir or env.get("LETHE_DATA_DIR") or "./var").resolve()
    keys = Path(key_dir or env.get("LETHE_KEY_DIR") or default_key_dir(data)).resolve()
    check_environment()
    persistence = setting("LETHE_PERSISTENCE")
    postgres = _postgres_settings(env) if persistence == "postgres" else {
        k: v for k, v in env.items() if k.startswith("POSTGRES_")}
    peers: dict[str, str] = {}
    deployment = data / DEPLOYMENT_FILE
    if deployment.exists():
        peers.update(_read_peers(deployment))
    for name in SERVICES:
        address = setting(f"LETHE_{name.upper()}_ADDRESS")
        if address:
            peers[name] = address
    tls = setting("LETHE_INSECURE_LOCAL_DEV") != "1"
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


if __name__ == "__main__":  # python -m shared.config > docs/configuration.md (the table part)
    sys.stdout.write(markdown_table())
