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
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from services.gateway.app import Gateway
from services.gateway.delivery import DeliveryWorker
from services.gateway.door import GatewayConfig
from services.gateway.record import GatewayLog
from services.gateway.reidentify import Redactor, Surrogates
from services.gateway.spool import Spool, SpooledInteraction
from shared.clients import Peers
from shared.config import Settings, number_setting, setting
from shared.gen.lethe.v1 import ingestion_pb2_grpc
from shared.keysource import FileKeySource

log = logging.getLogger("lethe.gateway")
IDENTITY = "client"
LINGER_S = 0.05  # delivery starts this long after a burst's first spooled turn


class Recorder:
    """Spools each turn, wakes the worker, and logs re-identifications and interruptions.

    Writes happen on one writer thread (the event loop never waits on a disk); the app awaits
    the returned future before it sends the end of an answer, so an answered turn is durable.
    :meth:`refusing` says whether the spool is writable: it is probed at most once a second
    (every 0.2 s after a failure), and a failed write marks it unwritable at once.
    """

    def __init__(self, spool: Spool, worker: DeliveryWorker, events: GatewayLog) -> None:
        self.spool = spool
        self.worker = worker
        self.events = events
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="lethe-spool-writer")
        self._queued = 0  # submitted, not yet written
        self._lock = threading.Lock()
        self._failing = False
        self._probed = 0.0
        self._nudged = False

    def __call__(self, item: SpooledInteraction, surrogates: Surrogates, streamed: bool) -> Future[None]:
        """Queue ``item`` for the spool; the future is done once it is durable (or failed)."""
        with self._lock:
            self._queued += 1
        return self._writer.submit(self._write, item, surrogates, streamed)

    def close(self) -> None:
        """Finish the queued writes."""
        self._writer.shutdown(wait=True)

    def refusing(self) -> bool:
        """True while the spool cannot be written (then new turns are refused, never lost)."""
        now = time.monotonic()
        if now - self._probed >= (0.2 if self._failing else 1.0):
            self._probed = now
            try:
                self.spool.probe()
                self._failing = False
            except OSError:
                if not self._failing:
                    log.error("the spool is not writable: new turns are refused")
                self._failing = True
        return self._failing

    def _write(self, item: SpooledInteraction, surrogates: Surrogates, streamed: bool) -> None:
        """Durably spool ``item``; record its re-identifications (counts per type only) and its
        interruption. Raises (after logging, never the content) when the spool write fails."""
        try:
            self.spool.put(item)
        except Exception:
            self._failing = True
            log.exception("could not spool an interaction")
            raise
        finally:
            with self._lock:
                self._queued -= 1
        self._nudge()
        if surrogates.reidentified:
            self.events.record_reidentification(item.request_id, dict(surrogates.reidentified), streamed)
        if item.interrupted:
            self.events.record_interruption(item.request_id, item.interrupted, len(item.response))

    def _nudge(self) -> None:
        """Wake the delivery worker :data:`LINGER_S` after the first of a burst of writes, so
        that turns go to ingestion in batches and its fsyncs do not queue behind each answer's."""
        with self._lock:
            if self._nudged:
                return
            self._nudged = True

        def wake() -> None:
            with self._lock:
                self._nudged = False
            self.worker.notify()

        timer = threading.Timer(LINGER_S, wake)
        timer.daemon = True
        timer.start()

    def state(self) -> dict[str, Any]:
        """Spool length, whether it is writable, delivery outcomes so far (no personal data)."""
        return {"spooled": self._queued + len(self.spool), "spool_writable": not self._failing,
                "delivered": dict(self.worker.counts)}


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
