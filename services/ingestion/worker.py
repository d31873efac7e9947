"""The de-identification worker: a thread of the ingestion process that drains the queue.

It drains at start-up whatever an earlier run acknowledged and did not finish, then whenever
``ingest`` queues something (``app.queued``), else every ``idle_s`` seconds. When a downstream
service is unavailable it waits (0.2 s doubling to 5 s) and tries again; the queue keeps the
items meanwhile. It logs outcomes and error kinds only, never ids of subjects or content.
"""

from __future__ import annotations

import logging
import threading

from services.ingestion.application import QUEUE_BATCH, IngestionApplication

log = logging.getLogger("lethe.ingestion")


class DeidentificationWorker:
    """``start()`` / ``stop()`` around :meth:`IngestionApplication.drain`."""

    def __init__(self, app: IngestionApplication, batch: int = QUEUE_BATCH,
                 idle_s: float = 1.0) -> None:
        self.app = app
        self.batch = batch
        self.idle_s = idle_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lethe-deidentify", daemon=True)

    def start(self) -> DeidentificationWorker:
        """Start the thread (it resumes what is queued first)."""
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the run in flight; what is still queued stays queued."""
        self._stop.set()
        self.app.queued.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        backoff = 0.2
        drained_since_scrub = False
        while not self._stop.is_set():
            try:
                if self.app.drain(self.batch):
                    backoff, drained_since_scrub = 0.2, True
                    continue
                if drained_since_scrub:  # idle: overwrite the removed rows' old WAL frames
                    self.app.queue.scrub()
                    drained_since_scrub = False
                self.app.queued.wait(self.idle_s)
                self.app.queued.clear()
            except Exception as exc:  # noqa: BLE001 - the queue keeps the items; try again later
                log.warning("de-identification paused (%s); retrying", type(exc).__name__)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
