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
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from shared.errors import LetheError

MAX_WORKERS = 64
MAX_PENDING_CALLS = 4 * MAX_WORKERS
MAX_CALLS_PER_IDENTITY = MAX_WORKERS // 2
MAX_STREAMS = MAX_WORKERS // 4
MAX_STREAMS_PER_IDENTITY = 4


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
