"""The recorder: turns go into the spool by group commit, then to the delivery worker.

``Recorder(item, surrogates, streamed)`` queues a turn and returns a future that is done once
the turn is durable (or failed). One writer thread takes every turn queued while it was busy and
writes them with one append and one ``fdatasync`` (:meth:`services.gateway.spool.Spool.put_many`),
so a lone turn waits for one sync and a burst of N concurrent turns shares one; the event loop
never waits on a disk. A turn that re-identified surrogates or was interrupted also gets its
event in the gateway's log (:mod:`services.gateway.record`: counts per entity type, the cause)
before its future is done; the others are released as soon as their group is synced.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, NamedTuple

from services.gateway.delivery import DeliveryWorker
from services.gateway.record import GatewayLog
from services.gateway.reidentify import Surrogates
from services.gateway.spool import Spool, SpooledInteraction

log = logging.getLogger("lethe.gateway")


class _Job(NamedTuple):
    item: SpooledInteraction
    surrogates: Surrogates
    streamed: bool
    future: Future[None]


class Recorder:
    """Spools turns by group commit, wakes the worker, logs re-identifications and interruptions.

    :meth:`refusing` says whether the spool is writable: it is probed at most once a second
    (every 0.2 s after a failure), and a failed write marks it unwritable at once.
    """

    def __init__(self, spool: Spool, worker: DeliveryWorker, events: GatewayLog) -> None:
        self.spool = spool
        self.worker = worker
        self.events = events
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._queued = 0  # submitted, not yet written
        self._lock = threading.Lock()
        self._failing = False
        self._probed = 0.0
        self._thread = threading.Thread(target=self._run, name="lethe-spool-writer", daemon=True)
        self._thread.start()

    def __call__(self, item: SpooledInteraction, surrogates: Surrogates, streamed: bool) -> Future[None]:
        """Queue ``item`` for the spool; the future is done once it is durable (or failed)."""
        future: Future[None] = Future()
        with self._lock:
            self._queued += 1
        self._queue.put(_Job(item, surrogates, streamed, future))
        return future

    def close(self) -> None:
        """Finish the queued writes and stop the writer."""
        self._queue.put(None)
        self._thread.join()

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

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while True:  # every turn that came while the last group was syncing
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                group.append(job)
            self._commit(group)

    def _commit(self, group: list[_Job]) -> None:
        """Write ``group`` durably, release it, record its events. A failed write fails every
        future of the group (logged without content) and marks the spool unwritable."""
        try:
            self.spool.put_many([job.item for job in group])
        except Exception as exc:  # noqa: BLE001 - every waiting turn must hear of it
            self._failing = True
            log.error("could not spool %d interaction(s): %s", len(group), type(exc).__name__)
            for job in group:
                job.future.set_exception(exc)
            return
        finally:
            with self._lock:
                self._queued -= len(group)
        self.worker.notify()
        for job in group:
            if not job.surrogates.reidentified and not job.item.interrupted:
                job.future.set_result(None)
        for job in group:
            if job.future.done():
                continue
            try:
                self._record_events(job)
                job.future.set_result(None)
            except Exception as exc:  # noqa: BLE001 - logged without content
                log.error("could not record the events of %s: %s", job.item.request_id, type(exc).__name__)
                job.future.set_exception(exc)

    def _record_events(self, job: _Job) -> None:
        item = job.item
        if job.surrogates.reidentified:
            self.events.record_reidentification(item.request_id, dict(job.surrogates.reidentified),
                                                job.streamed)
        if item.interrupted:
            self.events.record_interruption(item.request_id, item.interrupted, len(item.response))

    def state(self) -> dict[str, Any]:
        """Spool length, whether it is writable, delivery outcomes so far (no personal data)."""
        return {"spooled": self._queued + len(self.spool), "spool_writable": not self._failing,
                "delivered": dict(self.worker.counts)}
