"""Wiring of ``lethe gateway``: key source, spool, delivery worker, event log, redactor, uvicorn.

Keys (from the deployment's key source, created on first use, 32 bytes each): ``gateway/spool``
(seals spool entries), ``gateway/pseudonym`` (derives per-session pseudonym keys),
``event-cipher/gateway`` (the gateway's event log). Ingestion is called as the ``client``
identity (its certificate in the key dir). uvicorn's access log is off: it would log client
addresses. With ``--forward redacted`` detection runs under the anonymization service's per-text
budget (``LETHE_DETECTION_BUDGET_S``, :mod:`services.anonymization.guard`): a prompt over it is
refused, never forwarded unredacted.
"""

from __future__ import annotations

import logging
from typing import Any

from services.gateway.app import Gateway
from services.gateway.delivery import DeliveryWorker
from services.gateway.door import GatewayConfig
from services.gateway.record import GatewayLog
from services.gateway.recorder import Recorder
from services.gateway.reidentify import Redactor
from services.gateway.spool import Spool
from shared.clients import Peers
from shared.config import Settings, number_setting, setting
from shared.gen.lethe.v1 import ingestion_pb2_grpc
from shared.keysource import FileKeySource

log = logging.getLogger("lethe.gateway")
IDENTITY = "client"


def build(config: GatewayConfig, settings: Settings) -> tuple[Gateway, DeliveryWorker, Any]:
    """The gateway app's parts; the caller starts the worker and closes ``closer`` at the end."""
    keys = FileKeySource(settings.key_dir)
    spool = Spool(settings.service_dir("gateway") / "spool", keys.get_or_create("gateway/spool"))
    peers = Peers(settings, keys, IDENTITY)
    stub = ingestion_pb2_grpc.IngestionServiceStub(peers.channel("ingestion"))
    worker = DeliveryWorker(spool, stub.Ingest)
    events = GatewayLog(settings, keys)
    redactor = None
    if config.forward == "redacted":
        from services.anonymization.application import DEFAULT_DETECTION_BUDGET_S
        from services.anonymization.engine import DetectionEngine
        from services.anonymization.guard import DetectionBudgetExceeded

        budget_s = number_setting("LETHE_DETECTION_BUDGET_S", DEFAULT_DETECTION_BUDGET_S)
        engine = DetectionEngine(budget_s=budget_s)  # worker processes, killed when over budget
        try:
            engine.analyze_batch(["warm-up"])  # start a worker now, not on the first prompt
        except DetectionBudgetExceeded:
            pass  # a first call can be slow (lazy loading); its worker was replaced
        redactor = Redactor(engine, keys.get_or_create("gateway/pseudonym"))

    recorder = Recorder(spool, worker, events)

    def close() -> None:
        recorder.close()
        worker.stop()
        spool.close()
        if redactor is not None:
            redactor.engine.close()
        peers.close()
        events.close()

    return Gateway(config, recorder, redactor), worker, close


def serve(config: GatewayConfig, settings: Settings, host: str, port: int) -> None:
    """Run until interrupted (SIGINT/SIGTERM); undelivered turns stay in the spool for next time."""
    import uvicorn

    gateway, worker, close = build(config, settings)
    worker.start()
    try:
        uvicorn.run(gateway.app(), host=host, port=port, access_log=False, log_level="warning",
                    timeout_graceful_shutdown=10)
    finally:
        close()


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv6 as ``[::1]:8080``) -> (host, port); raises ValueError when malformed."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("--listen must be HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def make_config(upstream: str, forward: str, trusted_proxies: list[str], default_region: str,
                account_header: str, session_header: str, pass_authorization: bool) -> GatewayConfig:
    """Check the command line's options; raises ValueError naming the option."""
    import ipaddress

    if not upstream.startswith(("http://", "https://")):
        raise ValueError("--upstream must be an http:// or https:// URL")
    if forward not in ("original", "redacted"):
        raise ValueError("--forward must be original or redacted")
    try:
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in trusted_proxies)
    except ValueError:
        raise ValueError("--trusted-proxy must be an IP address or CIDR network") from None
    return GatewayConfig(upstream=upstream, forward=forward, trusted_proxies=nets,
                         default_region=default_region, account_header=account_header.lower(),
                         session_header=session_header.lower(), pass_authorization=pass_authorization,
                         upstream_api_key=setting("LETHE_UPSTREAM_API_KEY"))
