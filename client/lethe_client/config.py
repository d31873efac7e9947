"""Where the ingestion service is and which certificate to present (mutual TLS).

Read from arguments, a TOML file, or the environment, in that order of preference:

* ``LETHE_INGESTION_ADDRESS``: ``host:port``; else ``ingestion`` in ``$LETHE_DATA_DIR/deployment.json``
  (what ``lethe up`` records);
* ``LETHE_CLIENT_CA`` / ``LETHE_CLIENT_CERT`` / ``LETHE_CLIENT_KEY``: PEM files; else
  ``$LETHE_KEY_DIR/tls/{ca.pem, <identity>.pem, <identity>.key}`` with ``LETHE_CLIENT_IDENTITY``
  (default ``client``, the least privileged identity that may ingest);
* ``LETHE_INSECURE_LOCAL_DEV=1``: plaintext, for local experiments only.

A TOML file (``LETHE_CLIENT_CONFIG`` or :meth:`ClientConfig.from_file`) holds the same keys in
lower case without the prefix: ``address``, ``ca``, ``cert``, ``key``, ``timeout_s``.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path


class ConfigError(Exception):
    """A setting is missing or unreadable (the message names the setting, never a secret)."""


@dataclass(frozen=True)
class ClientConfig:
    """Connection settings: ``address`` ``host:port``; PEM bytes; per-call deadline in seconds."""

    address: str
    ca: bytes = b""
    cert: bytes = b""
    key: bytes = b""
    insecure: bool = False
    timeout_s: float = 30.0
    server_name: str = "ingestion"

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ClientConfig:
        """Read a TOML file; paths in it are relative to the file."""
        base = Path(path).resolve().parent
        data = tomllib.loads(Path(path).read_text())
        pem = {k: _read(base / data[k], k) for k in ("ca", "cert", "key") if k in data}
        if "address" not in data:
            raise ConfigError("address is missing in the client config file")
        return cls(address=data["address"], timeout_s=float(data.get("timeout_s", 30.0)), **pem)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ClientConfig:
        """Read the environment (see the module's docstring); raises ConfigError."""
        env = dict(os.environ if env is None else env)
        if env.get("LETHE_CLIENT_CONFIG"):
            return cls.from_file(env["LETHE_CLIENT_CONFIG"])
        address = env.get("LETHE_INGESTION_ADDRESS") or _from_deployment(env)
        if env.get("LETHE_INSECURE_LOCAL_DEV") == "1":
            return cls(address=address, insecure=True)
        identity = env.get("LETHE_CLIENT_IDENTITY", "client")
        keys = Path(env["LETHE_KEY_DIR"]) / "tls" if env.get("LETHE_KEY_DIR") else None
        files = {"ca": env.get("LETHE_CLIENT_CA") or (keys and keys / "ca.pem"),
                 "cert": env.get("LETHE_CLIENT_CERT") or (keys and keys / f"{identity}.pem"),
                 "key": env.get("LETHE_CLIENT_KEY") or (keys and keys / f"{identity}.key")}
        missing = [k for k, v in files.items() if not v]
        if missing:
            raise ConfigError(f"set LETHE_CLIENT_{missing[0].upper()} or LETHE_KEY_DIR")
        return cls(address=address, **{k: _read(Path(v), k) for k, v in files.items()})


def _read(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise ConfigError(f"cannot read the {name} file {path}") from None


def _from_deployment(env: dict[str, str]) -> str:
    path = Path(env.get("LETHE_DATA_DIR") or "./var") / "deployment.json"
    try:
        return str(json.loads(path.read_text())["services"]["ingestion"]["address"])
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError("set LETHE_INGESTION_ADDRESS (no deployment.json in LETHE_DATA_DIR)") from None
