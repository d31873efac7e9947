"""Refused calls are rate limited first and recorded as few events, with nothing dropped.

A flood of refused calls (policy and rate limit) writes one ``CallRefused`` per caller, method,
reason and window, whose counts add up to the calls refused; ``CallRefused`` v1 events (one
refusal each) stay readable through the upcaster.
"""

from __future__ import annotations

import json

import pytest
from eventsourcing.application import Application

from shared.authz import Authorizer, CallRefused, RefusalLog
from shared.errors import PermissionDenied, ResourceExhausted

METHOD = "/lethe.v1.VaultService/Disclose"


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_of_refused_calls_writes_few_events_whose_counts_add_up() -> None:
    saved: list[CallRefused] = []
    clock = Clock()
    refusals = RefusalLog(saved.append, window_s=60, clock=clock)
    authorizer = Authorizer(refusals.refused, policy={}, rate_per_s=100)
    calls = {"NOT_AUTHORIZED": 0, "RATE_LIMITED": 0}
    for i in range(5_000):
        clock.now += 0.002  # 500 calls/s for 10 s: over the rate limit, over several windows
        try:
            authorizer.check(METHOD, "client")
        except PermissionDenied:
            calls["NOT_AUTHORIZED"] += 1
        except ResourceExhausted:
            calls["RATE_LIMITED"] += 1
    refusals.flush(everything=True)
    assert calls["RATE_LIMITED"] > calls["NOT_AUTHORIZED"] > 0  # the rate limit came first
    events = [e.collect_events()[0] for e in saved]
    assert len(events) / sum(calls.values()) < 0.01
    for reason, count in calls.items():
        assert sum(e.count for e in events if e.reason == reason) == count


def test_the_first_refusal_of_a_window_is_recorded_at_once() -> None:
    saved: list[CallRefused] = []
    clock = Clock()
    refusals = RefusalLog(saved.append, window_s=60, clock=clock)
    refusals.refused("client", METHOD, "NOT_AUTHORIZED")
    assert [e.count for e in saved] == [1]
    refusals.refused("client", METHOD, "NOT_AUTHORIZED")
    refusals.refused("client", METHOD, "NOT_AUTHORIZED")
    refusals.flush()  # the window is still open
    assert len(saved) == 1
    clock.now += 61
    refusals.flush()
    assert [e.count for e in saved] == [1, 2]
    assert saved[0].collect_events()[0].window_start == saved[1].collect_events()[0].window_start


@pytest.mark.parametrize("version", [1, 2])
def test_call_refused_events_of_both_versions_are_readable(version: int) -> None:
    app = Application()
    event = CallRefused(caller="client", method=METHOD.lstrip("/"), reason="NOT_AUTHORIZED",
                        count=7, window_start="2026-01-01T00:00:00+00:00").collect_events()[0]
    stored = app.mapper.to_stored_event(event)
    if version == 1:
        state = json.loads(stored.state)
        for key in ("count", "window_start", "class_version"):
            state.pop(key, None)
        stored = type(stored)(stored.originator_id, stored.originator_version, stored.topic,
                              json.dumps(state).encode())
    read = app.mapper.to_domain_event(stored)
    assert (read.caller, read.reason) == ("client", "NOT_AUTHORIZED")
    assert read.count == (1 if version == 1 else 7)
    assert read.window_start.startswith("2026-" if version == 2 else str(event.timestamp.year))
