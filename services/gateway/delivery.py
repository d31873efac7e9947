"""The spool's delivery worker: a background thread that hands spooled interactions to ingestion.

Batches of up to :data:`BATCH` entries go to ``IngestionService/Ingest`` as the ``client``
identity. The batch's ``request_id`` is derived from its entries' request ids (``uuid5``), so a
batch retried after a lost answer carries the same id and the same content (AIP-155). An entry is
removed from the spool once ingestion answered for it: STORED, DUPLICATE (delivered before),
ERASED (the subject was erased meanwhile: dropped, as ingestion says) or REJECTED (it can never
be accepted; counted, its reason logged, never its content). UNAVAILABLE, DEADLINE_EXCEEDED and
RESOURCE_EXHAUSTED keep the batch in the spool and back off (0.2 s doubling up to 5 s).

Woken by a new entry, the worker waits :data:`LINGER_S` first, so that turns go to ingestion in
batches and its fsyncs do not queue behind each answer's; idle, it looks every
:data:`IDLE_S` for spool segments left by a gateway that stopped or died, and delivers them too.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import grpc

from services.gateway.spool import Spool, SpooledInteraction
from shared.gen.lethe.v1 import ingestion_pb2 as pb
from shared.ids import stable_id

log = logging.getLogger("lethe.gateway")
BATCH = 64
LINGER_S = 0.05  # delivery starts this long after a burst's first spooled turn
IDLE_S = 5.0
TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.RESOURCE_EXHAUSTED)
_NAMES = {pb.INGEST_OUTCOME_STORED: "stored", pb.INGEST_OUTCOME_DUPLICATE: "duplicate",
          pb.INGEST_OUTCOME_REJECTED: "rejected", pb.INGEST_OUTCOME_ERASED: "erased",
          pb.INGEST_OUTCOME_ACCEPTED: "accepted"}  # durably queued by ingestion: delivered


def to_proto(n: int, item: SpooledInteraction) -> pb.Interaction:
    """A spooled interaction as an ingestion ``Interaction`` (client_ip = the prefix's network)."""
    message = pb.Interaction(account_id=item.account_id, session_hint=item.session_id,
                             client_ip=item.network_prefix.split("/", 1)[0],
                             user_agent=item.user_agent, region=item.region, kind="interaction",
                             prompt=item.prompt, response=item.response, sequence=n)
    message.occurred_at.FromDatetime(dt.datetime.fromisoformat(item.occurred_at))
    return message


def batch_request_id(items: list[SpooledInteraction]) -> str:
    """The batch's idempotency key: the same entries give the same id."""
    return str(stable_id("gateway-ingest", *sorted(i.request_id for i in items)))


class DeliveryWorker:
    """Delivers the spool in the background; ``ingest`` is ``IngestionServiceStub.Ingest``.

    ``counts`` holds outcomes delivered so far (stored, duplicate, rejected, erased).
    """

    def __init__(self, spool: Spool, ingest: Callable[..., Any], timeout_s: float = 30.0) -> None:
        self.spool = spool
        self.ingest = ingest
        self.timeout_s = timeout_s
        self.counts: Counter[str] = Counter()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lethe-spool", daemon=True)

    def start(self) -> None:
        """Start the thread (entries left by an earlier run are delivered first)."""
        self._thread.start()

    def notify(self) -> None:
        """Say that a new entry is in the spool."""
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the batch in flight; undelivered entries stay in the spool."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def deliver_once(self) -> int:
        """Deliver one batch; returns how many entries left the spool. Raises grpc.RpcError."""
        items = self.spool.pending(BATCH)
        if not items:
            return 0
        request = pb.IngestRequest(request_id=batch_request_id(items),
                                   interactions=[to_proto(n, i) for n, i in enumerate(items)])
        response = self.ingest(request, timeout=self.timeout_s)
        for result in response.results:
            item = items[result.sequence]
            outcome = _NAMES.get(result.outcome, "rejected")
            self.counts[outcome] += 1
            if outcome == "rejected":
                log.warning("spooled interaction %s rejected by ingestion: %s", item.request_id,
                            result.reason)
            self.spool.remove(item.request_id)
        return len(response.results)

    def _run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            try:
                if self.deliver_once():
                    backoff = 0.2
                    continue
                if self._wake.wait(IDLE_S):
                    self._wake.clear()
                    self._stop.wait(LINGER_S)
                else:
                    self.spool.adopt()
            except grpc.RpcError as exc:
                if exc.code() not in TRANSIENT:
                    log.error("delivery failed: %s", exc.code().name)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:  # noqa: BLE001 - keep delivering; never log content
                log.exception("delivery worker error")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
