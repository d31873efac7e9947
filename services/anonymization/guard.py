"""A per-text time budget for detection, enforced by worker processes that can be killed and replaced.

Detection is linear in its input (see ``recognizers.base``), yet a budget is the backstop a service
needs: a text that still takes too long must never stall the process that answers calls and health
checks. So the service runs detection in worker processes (``spawn``ed, each with its own engine) and
waits for each chunk of up to ``CHUNK`` texts for at most ``budget_s`` per text in it. A chunk over
its budget gets its worker killed (SIGKILL: a regex cannot be interrupted any other way) and
replaced, and its texts are re-run one by one, each with ``budget_s``, to find the ones over budget.

Fail closed: a text over budget is never returned undetected. ``analyze_batch`` raises
``DetectionBudgetExceeded`` naming the indices of those texts (never their content); the other texts'
results are discarded with them, and the caller may resubmit the batch without those texts.

Priority: de-identification mostly runs behind acknowledged ingests (the ingestion worker), so the
workers run at a lower CPU priority (:data:`NICENESS`, nice(2)) and the calls that answer callers
(acknowledgements, reads, health checks) get the CPU first on a busy machine.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
from typing import Sequence

# Texts sent to a worker per budgeted round trip (the worker batches them through spaCy).
CHUNK = 32
# A worker loads the spaCy model before its first job: allowed this long, budget aside.
STARTUP_S = 300.0
# Added to a worker's nice value at start (0-19 on Linux; higher is lower priority).
NICENESS = 10


class DetectionBudgetExceeded(Exception):
    """Detection of some texts ran over the per-text budget; ``indices`` names them (sorted)."""

    def __init__(self, indices: list[int], budget_s: float) -> None:
        super().__init__(f"detection exceeded its {budget_s:g} s budget for {len(indices)} text(s)")
        self.indices = indices
        self.budget_s = budget_s


class _WorkerDied(Exception):
    pass


def _serve(conn, model_name: str, threshold: float, entities: tuple[str, ...]) -> None:
    """Worker process body: load one engine, then answer ``(texts, batch_size)`` jobs with rows."""
    from .engine import DetectionEngine

    os.nice(NICENESS)
    engine = DetectionEngine(model_name, threshold, entities or None, workers=1)
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        texts, batch_size = job
        conn.send([[(d.type, d.start, d.end, d.score) for d in found]
                   for found in engine._analyze_local(texts, batch_size)])


class _Worker:
    """One worker process and its end of the pipe."""

    def __init__(self, args: tuple) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, *args), daemon=True,
                                   name="lethe-detection-worker")
        self.process.start()
        child.close()
        if not self.conn.poll(STARTUP_S) or self._recv() != "ready":
            self.kill()
            raise _WorkerDied()

    def _recv(self):
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            raise _WorkerDied() from None

    def run(self, texts: list[str], batch_size: int, timeout_s: float) -> list | None:
        """Rows for ``texts``, or None when the worker ran over ``timeout_s`` (it is then killed)."""
        try:
            self.conn.send((texts, batch_size))
        except (OSError, ValueError):
            raise _WorkerDied() from None
        if not self.conn.poll(timeout_s):
            self.kill()
            return None
        return self._recv()

    def kill(self) -> None:
        """Stop the process now (SIGKILL) and reap it."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    @property
    def alive(self) -> bool:
        return self.process.is_alive()


class BudgetedDetector:
    """Run detection in up to ``workers`` replaceable processes with a per-text budget.

    :param args: ``(model_name, threshold, entities)`` for each worker's engine.
    :param budget_s: seconds of detection allowed per text (> 0).
    :param workers: worker processes (>= 1), started on first use; callers beyond them wait.
    """

    def __init__(self, args: tuple, budget_s: float, workers: int = 1) -> None:
        if not budget_s > 0:
            raise ValueError("budget_s must be > 0")
        self.args = args
        self.budget_s = budget_s
        self.workers = max(1, workers)
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._started = 0
        self._lock = threading.Lock()
        self._all: list[_Worker] = []

    def _take(self) -> _Worker:
        with self._lock:
            if self._idle.empty() and self._started < self.workers:
                self._started += 1
                try:
                    return self._spawn()
                except Exception:
                    self._started -= 1
                    raise
        return self._idle.get()

    def _spawn(self) -> _Worker:
        try:
            worker = _Worker(self.args)
        except _WorkerDied:
            raise RuntimeError("a detection worker process failed to start") from None
        self._all.append(worker)
        return worker

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
        return self._spawn()

    def analyze_batch(self, texts: Sequence[str], batch_size: int = 64) -> list[list[tuple]]:
        """Rows ``(type, start, end, score)`` per text, in input order.

        :raises DetectionBudgetExceeded: when one or more texts ran over the budget.
        """
        worker = self._take()
        out: list[list[tuple]] = []
        over: list[int] = []
        try:
            for base in range(0, len(texts), CHUNK):
                chunk = list(texts[base:base + CHUNK])
                worker, rows = self._run(worker, chunk, batch_size, self.budget_s * len(chunk))
                if rows is None:  # find the texts over budget, one at a time
                    rows = []
                    for i, text in enumerate(chunk):
                        worker, one = self._run(worker, [text], batch_size, self.budget_s)
                        if one is None:
                            over.append(base + i)
                            one = [[]]
                        rows.extend(one)
                out.extend(rows)
        finally:
            self._idle.put(worker)
        if over:
            raise DetectionBudgetExceeded(over, self.budget_s)
        return out

    def _run(self, worker: _Worker, texts: list[str], batch_size: int,
             timeout_s: float) -> tuple[_Worker, list | None]:
        """Run one job; a worker that timed out or died is replaced. Returns (worker, rows or None)."""
        try:
            if not worker.alive:
                worker = self._replace(worker)
            rows = worker.run(texts, batch_size, timeout_s)
        except _WorkerDied:
            worker = self._replace(worker)
            rows = worker.run(texts, batch_size, timeout_s)
        if rows is None:
            worker = self._replace(worker)
        return worker, rows

    def close(self) -> None:
        """Stop every worker process."""
        with self._lock:
            for worker in self._all:
                worker.kill()
            self._all.clear()
            self._started = 0
            while not self._idle.empty():
                self._idle.get_nowait()
