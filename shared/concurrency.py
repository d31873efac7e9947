"""Concurrency caps, so that no caller can hold every worker thread of a server.

A server has :data:`MAX_WORKERS` worker threads; each call holds one until it ends, and a stream
(``Watch``, ``ReadEvents``, ...) holds one for as long as it is open. The caps, per caller identity
(the certificate's common name; the connection with TLS off, local dev only):

* at most :data:`MAX_CALLS_PER_IDENTITY` calls at once (streams included), half of the workers;
* at most :data:`MAX_STREAMS_PER_IDENTITY` open streams, and :data:`MAX_STREAMS` over all callers,
  a quarter of the workers, so that streams never starve unary calls;
* beyond :data:`MAX_PENDING_CALLS` calls queued or running, gRPC itself answers at once.

The pool is sized so that 32 concurrent callers of one identity (an AI service's replicas behind one
certificate) fit without refusals; a worker waiting on I/O costs a thread, not a core.

A call over a cap is answered RESOURCE_EXHAUSTED at once (reason ``TOO_MANY_CONCURRENT_CALLS`` or
``TOO_MANY_STREAMS``) and the caller retries with backoff; other callers are not affected.

:class:`Coalescer` is group commit (leader/follower): concurrent callers' small units of work run as
one batch (one transaction, one fsync, one downstream call), each caller answered with its own
results once that batch is done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import grpc

from shared.errors import LetheError

MAX_WORKERS = 64
MAX_PENDING_CALLS = 4 * MAX_WORKERS
MAX_CALLS_PER_IDENTITY = MAX_WORKERS // 2
MAX_STREAMS = MAX_WORKERS // 4
MAX_STREAMS_PER_IDENTITY = 4
T = TypeVar("T")
R = TypeVar("R")


class TooManyCalls(LetheError):
    """A caller is over its concurrency cap (RESOURCE_EXHAUSTED); retry with backoff."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "TOO_MANY_CONCURRENT_CALLS"


@dataclass
class CallLimits:
    """Counts the calls and streams in flight per identity; :meth:`enter` takes a slot or raises."""

    per_identity: int = MAX_CALLS_PER_IDENTITY
    streams_per_identity: int = MAX_STREAMS_PER_IDENTITY
    streams: int = MAX_STREAMS
    _calls: dict[str, int] = field(default_factory=dict)
    _streams: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, identity: str, streaming: bool) -> Callable[[], None]:
        """Take a slot for one call; returns its release (safe to call more than once).

        Raises:
            TooManyCalls: the identity (or all streams together) is at its cap.
        """
        with self._lock:
            if self._calls.get(identity, 0) >= self.per_identity:
                raise TooManyCalls("too many concurrent calls from this caller; retry later")
            if streaming and (self._streams.get(identity, 0) >= self.streams_per_identity
                              or sum(self._streams.values()) >= self.streams):
                raise TooManyCalls("too many open streams; retry later", "TOO_MANY_STREAMS")
            self._calls[identity] = self._calls.get(identity, 0) + 1
            if streaming:
                self._streams[identity] = self._streams.get(identity, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if released:
                    return
                released = True
                self._drop(self._calls, identity)
                if streaming:
                    self._drop(self._streams, identity)
        return release

    @staticmethod
    def _drop(counts: dict[str, int], identity: str) -> None:
        counts[identity] -= 1
        if not counts[identity]:
            del counts[identity]


class BatchInterrupted(LetheError):
    """A batch stopped by an interrupt in its leader's thread, or before it ran (UNAVAILABLE);
    nothing of the caller's items is known to be done: retry (writes must be idempotent)."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "BATCH_INTERRUPTED"


class BatchMismatch(LetheError):
    """A batch returned a different number of results than it had items (INTERNAL)."""


class _Ticket(Generic[T, R]):
    def __init__(self, items: list[T]) -> None:
        self.items = items
        self.results: list[R] | None = None
        self.error: BaseException | None = None


class Coalescer(Generic[T, R]):
    """``submit(items) -> results`` with the same results as ``run(items)``, batched across callers.

    The oldest waiting caller leads once fewer than ``leaders`` batches are running: it takes its
    own items and those queued after them (up to ``max_items``, never splitting a caller's items),
    runs one batch and answers each caller of it; so no caller runs a batch beyond its own. With
    ``leaders`` = 2 one batch can wait on a downstream call while another commits (``run`` must
    then be safe to call concurrently). An exception in a batch is raised in each of its callers
    (a KeyboardInterrupt or SystemExit in the leader only, :class:`BatchInterrupted` in the others);
    a batch returning another number of results than items fails them all (:class:`BatchMismatch`).
    """

    def __init__(self, run: Callable[[list[T]], list[R]], max_items: int = 128,
                 leaders: int = 1) -> None:
        self.run = run
        self.max_items = max_items
        self.leaders = leaders
        self._cond = threading.Condition()
        self._queue: list[_Ticket[T, R]] = []
        self._leading = 0

    def submit(self, items: list[T]) -> list[R]:
        """Results for ``items``, in order; raises what the batch raised (as
        :class:`BatchInterrupted` in the callers whose thread did not run it, when that was not an
        :class:`Exception`: a KeyboardInterrupt or SystemExit stops the leader's thread only).
        A caller interrupted while it waits leaves the queue (its batch may still run)."""
        ticket: _Ticket[T, R] = _Ticket(items)
        with self._cond:
            self._queue.append(ticket)
            try:
                while ticket.results is None and ticket.error is None:
                    if self._queue and self._queue[0] is ticket and self._leading < self.leaders:
                        self._lead()
                    else:
                        self._cond.wait()
            except BaseException:
                if ticket in self._queue:  # never picked: no ticket of a gone caller at the head
                    self._queue.remove(ticket)
                    self._cond.notify_all()
                raise
        if ticket.error is not None:
            raise ticket.error
        return ticket.results  # type: ignore[return-value]

    def _lead(self) -> None:
        """Run the batch at the head of the queue (called and returning with the lock held)."""
        batch = [self._queue.pop(0)]
        size = len(batch[0].items)
        while self._queue and size + len(self._queue[0].items) <= self.max_items:
            batch.append(self._queue.pop(0))
            size += len(batch[-1].items)
        self._leading += 1
        try:
            self._cond.notify_all()  # the new head may lead too
            self._cond.release()
            try:
                results = self.run([item for t in batch for item in t.items])
                if not isinstance(results, list) or len(results) != size:
                    raise BatchMismatch(f"a batch of {size} items returned "
                                        f"{len(results) if isinstance(results, list) else results!r} results")
                start = 0
                for t in batch:
                    t.results = results[start:start + len(t.items)]
                    start += len(t.items)
            except BaseException as exc:  # noqa: BLE001 - handed to every caller of the batch
                for t in batch:
                    t.error = exc
                if not isinstance(exc, Exception):  # the leader's thread was stopped, not theirs
                    followers = BatchInterrupted(f"the batch was interrupted ({type(exc).__name__}); retry")
                    followers.__cause__ = exc
                    for t in batch[1:]:
                        t.error = followers
                raise
        finally:
            self._cond.acquire()
            self._leading -= 1
            for t in batch:  # an interrupt between the pop and the run: nobody waits forever
                if t.results is None and t.error is None:
                    t.error = BatchInterrupted("the batch was interrupted before it ran; retry")
            self._cond.notify_all()
