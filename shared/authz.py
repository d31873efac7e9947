"""Per-RPC authorization and per-caller rate limits, from ``shared/authz.toml``.

A caller's identity is its mTLS certificate's common name (:func:`shared.tls.peer_identity`). The
policy lists, per full method name (``package.Service/Method``, or ``package.Service/*``), the
identities allowed to call it. A refusal raises PermissionDenied and is recorded as a
``CallRefused`` event (caller identity, method and reason only). Rate limits are token buckets per
caller identity (``LETHE_RATE_LIMIT_PER_S``, default 5,000 calls/s, burst twice that), checked
first, before anything is recorded, on every call whether allowed or not; an exhausted bucket
raises ResourceExhausted. Refusals are aggregated (:class:`RefusalLog`): a flood of refused calls
writes one event per (caller, method, reason) and window with a count, not one per call. With TLS
off (explicit local-dev flag) there is no identity and authorization is off.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import tomllib
import uuid
from collections.abc import Callable
from pathlib import Path

from eventsourcing.domain import Aggregate, event

from shared.config import setting
from shared.errors import PermissionDenied, ResourceExhausted

DEFAULT_POLICY = Path(__file__).with_name("authz.toml")


class CallRefused(Aggregate):
    """``count`` refused calls of one caller, method and reason in the window opened at
    ``window_start`` (ISO 8601, UTC), as recorded in the called service's log (no request content)."""

    class CallRefused(Aggregate.Created):
        """Version 2 adds ``count`` and ``window_start``; a version 1 event was one refusal."""

        class_version = 2
        caller: str
        method: str
        reason: str
        count: int
        window_start: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """A v1 event: one refusal, in a window that opened when it was recorded."""
            state["count"] = 1
            when = state.get("timestamp")
            state["window_start"] = when.isoformat() if isinstance(when, dt.datetime) else ""

    @staticmethod
    def create_id(**_: object) -> uuid.UUID:
        """A fresh id per refusal."""
        return uuid.uuid4()

    @event(CallRefused)
    def __init__(self, caller: str, method: str, reason: str, count: int = 1,
                 window_start: str = "") -> None:
        self.caller = caller
        self.count = count


class RefusalLog:
    """Refused calls as few events: per (caller, method, reason) and window of ``window_s``
    seconds, the first refusal is recorded at once (count 1) and the others as one event with
    their count when the window closes (:meth:`flush`, also called by the next refusal after it).
    Refusals counted but not yet flushed are lost if the process dies: at most one window's."""

    def __init__(self, save: Callable[[CallRefused], None], window_s: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.save, self.window_s, self.clock = save, window_s, clock
        self._open: dict[tuple[str, str, str], list[float]] = {}  # key -> [start, pending]
        self._lock = threading.Lock()

    def refused(self, caller: str, method: str, reason: str) -> None:
        """Count one refused call; records an event when it opens a window."""
        key, now = (caller, method, reason), self.clock()
        with self._lock:
            window = self._open.get(key)
            if window and now - window[0] < self.window_s:
                window[1] += 1
                return
            self._open[key] = [now, 0]
        if window and window[1]:
            self._record(key, window)
        self._record(key, [now, 1])

    def flush(self, everything: bool = False) -> None:
        """Record the pending counts of closed windows (all windows when ``everything``)."""
        now = self.clock()
        with self._lock:
            due = {k: w for k, w in self._open.items()
                   if everything or now - w[0] >= self.window_s}
            for key in due:
                del self._open[key]
        for key, window in due.items():
            if window[1]:
                self._record(key, window)

    def run(self, stop: threading.Event) -> None:
        """Flush closed windows every few seconds until ``stop`` is set (the owner then calls
        ``flush(everything=True)`` before closing the event store)."""
        while not stop.wait(min(5.0, self.window_s / 2)):
            self.flush()

    def _record(self, key: tuple[str, str, str], window: list[float]) -> None:
        start = dt.datetime.fromtimestamp(window[0], dt.timezone.utc).isoformat()
        self.save(CallRefused(caller=key[0], method=key[1], reason=key[2], count=int(window[1]),
                              window_start=start))


def load_authz(path: str | None = None) -> dict[str, frozenset[str]]:
    """Method -> allowed identities, from ``LETHE_AUTHZ_FILE`` or the bundled policy."""
    source = Path(path or setting("LETHE_AUTHZ_FILE") or DEFAULT_POLICY)
    raw = tomllib.loads(source.read_text())
    return {method: frozenset(callers) for method, callers in raw["methods"].items()}


class _Bucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Authorizer:
    """Checks one call: identity allowed for the method, caller within its rate limit."""

    def __init__(self, record_refusal: Callable[[str, str, str], None],
                 policy: dict[str, frozenset[str]] | None = None,
                 rate_per_s: float | None = None, service: str | None = None) -> None:
        self.policy = policy if policy is not None else load_authz()
        self.service = service  # this server's service: keys ending in "@<service>" apply here
        self.record_refusal = record_refusal
        rate = rate_per_s or setting("LETHE_RATE_LIMIT_PER_S")
        self.rate = rate
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def allowed(self, method: str, identity: str) -> bool:
        """True when the policy lets ``identity`` call ``method`` (``/pkg.Service/Method``): the
        method's key or its service's ``/*`` key lists it, plain or scoped to this server's
        service (``...@<service>``, e.g. one service's event log)."""
        name = method.lstrip("/")
        keys = [name, f"{name.split('/', 1)[0]}/*"]
        if self.service:
            keys += [f"{key}@{self.service}" for key in keys]
        return any(identity in self.policy.get(key, ()) for key in keys)

    def check(self, method: str, identity: str | None) -> None:
        """Raise ResourceExhausted or PermissionDenied, in that order (the rate limit comes before
        anything is recorded); None identity means authorization is off. Both are recorded."""
        if identity is None:
            return
        with self._lock:
            bucket = self._buckets.setdefault(identity, _Bucket(self.rate, 2 * self.rate))
            ok = bucket.take()
        if not ok:
            self.record_refusal(identity, method.lstrip("/"), "RATE_LIMITED")
            raise ResourceExhausted("rate limit exceeded; retry with backoff")
        if not self.allowed(method, identity):
            self.record_refusal(identity, method.lstrip("/"), "NOT_AUTHORIZED")
            raise PermissionDenied("caller is not allowed to call this method", "NOT_AUTHORIZED")
