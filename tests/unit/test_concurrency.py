"""Concurrency caps: a caller over its cap is refused at once; other callers keep their slots."""

from __future__ import annotations

import pytest

from shared.concurrency import CallLimits, TooManyCalls


def test_a_caller_over_its_call_cap_is_refused_and_others_are_not() -> None:
    limits = CallLimits(per_identity=3, streams_per_identity=2, streams=3)
    held = [limits.enter("client", False) for _ in range(3)]
    with pytest.raises(TooManyCalls) as exc:
        limits.enter("client", False)
    assert exc.value.reason == "TOO_MANY_CONCURRENT_CALLS"
    limits.enter("operator", False)()
    held[0]()
    held[0]()  # releasing twice frees one slot only
    limits.enter("client", False)
    with pytest.raises(TooManyCalls):
        limits.enter("client", False)


def test_streams_are_capped_per_caller_and_in_total() -> None:
    limits = CallLimits(per_identity=10, streams_per_identity=2, streams=3)
    a = [limits.enter("a", True) for _ in range(2)]
    with pytest.raises(TooManyCalls) as exc:
        limits.enter("a", True)
    assert exc.value.reason == "TOO_MANY_STREAMS"
    limits.enter("a", False)()  # unary calls still pass
    b = limits.enter("b", True)
    with pytest.raises(TooManyCalls):
        limits.enter("c", True)  # all streams taken
    a[0]()
    limits.enter("c", True)
    b()
