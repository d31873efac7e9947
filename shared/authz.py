"""Per-RPC authorization and per-caller rate limits, from ``shared/authz.toml``.

A caller's identity is its mTLS certificate's common name (:func:`shared.tls.peer_identity`). The
policy lists, per full method name (``package.Service/Method``, or ``package.Service/*``), the
identities allowed to call it. A refusal raises PermissionDenied and is recorded as a
``CallRefused`` event (caller identity and method only). Rate limits are token buckets per caller
identity (``LETHE_RATE_LIMIT_PER_S``, default 5,000 calls/s, burst twice that); an exhausted
bucket raises ResourceExhausted. With TLS off (explicit local-dev flag) there is no identity and
authorization is off.
"""

from __future__ import annotations

import os
import threading
import time
import tomllib
import uuid
from collections.abc import Callable
from pathlib import Path

from eventsourcing.domain import Aggregate, event

from shared.errors import PermissionDenied, ResourceExhausted

DEFAULT_POLICY = Path(__file__).with_name("authz.toml")


class CallRefused(Aggregate):
    """A refused call, as recorded in the called service's log (no request content)."""

    @staticmethod
    def create_id(**_: object) -> uuid.UUID:
        """A fresh id per refusal."""
        return uuid.uuid4()

    @event("CallRefused")
    def __init__(self, caller: str, method: str, reason: str) -> None:
        self.caller = caller


def load_authz(path: str | None = None) -> dict[str, frozenset[str]]:
    """Method -> allowed identities, from ``LETHE_AUTHZ_FILE`` or the bundled policy."""
    source = Path(path or os.environ.get("LETHE_AUTHZ_FILE") or DEFAULT_POLICY)
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
                 rate_per_s: float | None = None) -> None:
        self.policy = policy if policy is not None else load_authz()
        self.record_refusal = record_refusal
        rate = rate_per_s or float(os.environ.get("LETHE_RATE_LIMIT_PER_S", "5000"))
        self.rate = rate
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def allowed(self, method: str, identity: str) -> bool:
        """True when the policy lets ``identity`` call ``method`` (``/pkg.Service/Method``)."""
        name = method.lstrip("/")
        service = name.split("/", 1)[0]
        callers = self.policy.get(name) or self.policy.get(f"{service}/*") or frozenset()
        return identity in callers

    def check(self, method: str, identity: str | None) -> None:
        """Raise PermissionDenied or ResourceExhausted; None identity means authorization is off."""
        if identity is None:
            return
        if not self.allowed(method, identity):
            self.record_refusal(identity, method.lstrip("/"), "NOT_AUTHORIZED")
            raise PermissionDenied("caller is not allowed to call this method", "NOT_AUTHORIZED")
        with self._lock:
            bucket = self._buckets.setdefault(identity, _Bucket(self.rate, 2 * self.rate))
            ok = bucket.take()
        if not ok:
            raise ResourceExhausted("rate limit exceeded; retry with backoff")
