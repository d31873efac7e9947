"""Anonymization service process: ``python -m services.anonymization.main [--data-dir D]``."""

from __future__ import annotations

from typing import Any

from services.anonymization.application import AnonymizationApplication
from services.anonymization.servicer import AnonymizationServicer
from shared.config import Settings
from shared.gen.lethe.v1 import anonymization_pb2, anonymization_pb2_grpc
from shared.keysource import FileKeySource
from shared.server import run_service


def build(settings: Settings, keys: FileKeySource) -> tuple[Any, Any, Any]:
    """Wire anonymization: application (loads the engine once) and servicer."""
    app = AnonymizationApplication(settings, keys)

    def register(server: Any) -> list[str]:
        anonymization_pb2_grpc.add_AnonymizationServiceServicer_to_server(
            AnonymizationServicer(app), server)
        return [anonymization_pb2.DESCRIPTOR.services_by_name["AnonymizationService"].full_name]

    return app, register, lambda: None


if __name__ == "__main__":
    run_service("anonymization", build)
