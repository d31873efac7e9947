"""Undated events (stamped with the epoch so as not to date a subject's activity) in the audit:
shown without a time, opening the merged timeline in the services' order and their log's order."""

from __future__ import annotations

import datetime as dt
import random

from shared.audit.model import EPOCH, Entry
from shared.audit.proof import timeline

UTC = dt.timezone.utc


def _log(service: str, rng: random.Random, start: dt.datetime, n: int) -> list[Entry]:
    out, t = [], start
    for position in range(1, n + 1):
        dated = rng.random() < 0.5
        t += dt.timedelta(seconds=rng.randint(1, 100))
        out.append(Entry(service, position, "E", f"{service}-{position}", 1, t if dated else EPOCH,
                         {"subject_ref": "sr_" + "a" * 32}))
    return out


def test_undated_events_keep_their_log_order_and_have_no_time() -> None:
    for seed in range(50):
        rng = random.Random(seed)
        start = dt.datetime(2026, 1, 1, tzinfo=UTC)
        logs = {s: _log(s, rng, start, rng.randint(1, 30)) for s in ("vault", "retention", "rights")}
        merged = timeline(logs, "sr_" + "a" * 32)
        assert sorted(map(id, merged)) == sorted(id(e) for log in logs.values() for e in log)
        for service, log in logs.items():
            # a log's undated events, and its dated ones, each appear in position order
            for dated in (True, False):
                assert [e.position for e in merged if e.service == service and e.dated == dated] \
                    == [e.position for e in log if e.dated == dated]
        dated = [e.recorded_at for e in merged if e.dated]
        assert dated == sorted(dated)  # dated events in time order
        flags = [e.dated for e in merged]
        assert flags == sorted(flags)  # every undated event before every dated one
        for e in merged:
            assert (e.as_dict()["time"] is None) == (not e.dated)


def test_undated_events_open_the_timeline() -> None:
    t0 = dt.datetime(2026, 3, 1, tzinfo=UTC)
    rights = [Entry("rights", 1, "RequestReceived", "r", 1, t0, {})]
    vault = [Entry("vault", 1, "KeyringCreated", "k", 1, EPOCH, {}),
             Entry("vault", 2, "RecordRead", "x", 1, t0 + dt.timedelta(hours=1), {})]
    merged = timeline({"rights": rights, "vault": vault})
    assert [e.event for e in merged] == ["KeyringCreated", "RequestReceived", "RecordRead"]
