"""Vault service process: ``python -m services.vault.main [--data-dir D] [--key-dir K] [--address A]``."""

from __future__ import annotations

import threading
from typing import Any

from services.vault.application import VaultApplication
from services.vault.servicer import VaultServicer
from shared.config import ConfigError, Settings, exit_on_config_error
from shared.gen.lethe.v1 import vault_pb2, vault_pb2_grpc
from shared.keysource import FileKeySource, KeySourceError
from shared.server import run_service
from shared.transit import TransitError, transit_bucket_keys


def build(settings: Settings, keys: FileKeySource) -> tuple[Any, Any, Any]:
    """Wire the vault: application, servicer registration, background workers (none).

    With ``LETHE_KEY_SOURCE=transit`` an unreachable Transit (or a refused token) at start-up, and a
    ``keys.db`` written with the other key source, are one line on stderr and exit 1.
    """
    try:
        transit = transit_bucket_keys(settings)
        if transit is not None:
            transit.check()
        app = VaultApplication(settings, keys)
    except (TransitError, KeySourceError) as error:
        exit_on_config_error("lethe-vault", ConfigError(f"LETHE_KEY_SOURCE: {error}"))

    def register(server: Any) -> list[str]:
        vault_pb2_grpc.add_VaultServiceServicer_to_server(VaultServicer(app), server)
        return [vault_pb2.DESCRIPTOR.services_by_name["VaultService"].full_name]

    stopping = threading.Event()

    def reclaimer() -> None:
        while not stopping.is_set():
            if app.reclaim_wanted.wait(1.0):
                app.reclaim_wanted.clear()
                try:
                    app.reclaim()
                except Exception:  # noqa: BLE001 - found again at the next wake-up
                    app.reclaim_wanted.set()

    threading.Thread(target=reclaimer, daemon=True, name="reclaimer").start()
    return app, register, stopping.set


if __name__ == "__main__":
    run_service("vault", build)
