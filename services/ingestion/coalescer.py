"""Coalesce concurrent small ingest calls into one pipeline batch (leader/follower).

Each pipeline batch costs three downstream calls (sessions, anonymization, store) and one event
save, whatever its size; the anonymization engine is fastest on batches. When many clients send
one interaction per call, the first waiting caller becomes the leader, gathers what the others
submitted meanwhile (up to ``max_items``), runs one batch, and hands every caller its own results.
An exception in a batch is raised in every caller of that batch (nothing of it was recorded).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Ticket(Generic[T, R]):
    def __init__(self, items: list[T]) -> None:
        self.items = items
        self.results: list[R] | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


class Coalescer(Generic[T, R]):
    """``submit(items) -> results`` with the same results as ``run(items)``, batched across callers."""

    def __init__(self, run: Callable[[list[T]], list[R]], max_items: int = 128) -> None:
        self.run = run
        self.max_items = max_items
        self._lock = threading.Lock()
        self._queue: list[_Ticket[T, R]] = []
        self._leading = False

    def submit(self, items: list[T]) -> list[R]:
        """Results for ``items``, in order; raises what the batch raised."""
        ticket: _Ticket[T, R] = _Ticket(items)
        with self._lock:
            self._queue.append(ticket)
            lead = not self._leading
            self._leading = self._leading or lead
        if lead:
            self._lead()
        ticket.done.wait()
        if ticket.error is not None:
            raise ticket.error
        assert ticket.results is not None
        return ticket.results

    def _lead(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._leading = False
                    return
                batch, size = [], 0
                while self._queue and (not batch or size + len(self._queue[0].items) <= self.max_items):
                    ticket = self._queue.pop(0)
                    batch.append(ticket)
                    size += len(ticket.items)
            items: list[Any] = [item for t in batch for item in t.items]
            try:
                results = self.run(items)
            except BaseException as exc:  # noqa: BLE001 - handed to every caller of the batch
                for t in batch:
                    t.error = exc
                    t.done.set()
                continue
            start = 0
            for t in batch:
                t.results = results[start:start + len(t.items)]
                start += len(t.items)
                t.done.set()
