"""Verifiable audit speed: verifying a log vs merely reading and decoding it, same log, same run.

Builds a log of ``LETHE_AUDIT_BENCH_EVENTS`` (default 1,000,000) small events in-process (one
LetheApplication, AES-256-GCM SQLite store in a temp dir, big batches), lets the service's
TransparencyLog sign it, then times (1) reading and decoding every event (``read_events``) and
(2) ``verify_log`` over the same events (read, decode, leaf hash, Merkle root, signature, as the
CLI does per service, minus gRPC). Reports events/second for each and their ratio (target >= 0.5).
"""

from __future__ import annotations

import os
import tempfile
import time
import tracemalloc
from pathlib import Path

from eventsourcing.domain import Aggregate, event

from shared.app import LetheApplication
from shared.config import Settings
from shared.keysource import FileKeySource
from shared.transparency import LocalSource, TransparencyLog, published_keys, verify_log

BATCH = 20_000


class Ledger(Aggregate):
    """An aggregate that records many small events."""

    @event("Opened")
    def __init__(self) -> None:
        self.n = 0

    @event("Noted")
    def note(self, i: int) -> None:
        self.n = i


class BenchApp(LetheApplication):
    """A LetheApplication named like a real service (its signing key and folders)."""

    service = "vault"


def _build(app: BenchApp, n: int) -> None:
    written = 0
    while written < n:
        ledger = Ledger()
        for i in range(min(BATCH, n - written) - 1):
            ledger.note(i)
        app.save(ledger)
        written += ledger.version


def main() -> dict[str, object]:
    """Build the log, sign it, time read+decode and verification; print and return figures."""
    n = int(os.environ.get("LETHE_AUDIT_BENCH_EVENTS", "1000000"))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "var", key_dir=Path(tmp) / "keys")
        keys = FileKeySource(settings.key_dir)
        app = BenchApp(settings, keys)
        t = time.perf_counter()
        _build(app, n)
        build_s = time.perf_counter() - t
        size = app.max_position()
        tlog = TransparencyLog(app, keys)
        t = time.perf_counter()
        head = tlog.extend()
        sign_s = time.perf_counter() - t
        key = published_keys(keys, ["vault"])["vault"]

        def read() -> float:
            t0, count = time.perf_counter(), 0
            for _ in app.read_events(page=2000):
                count += 1
            assert count == size
            return size / (time.perf_counter() - t0)

        def verify() -> float:
            t0 = time.perf_counter()
            out = verify_log("vault", key, head, LocalSource(app, tlog))
            assert out.problem is None and out.events == size, out.problem
            return size / (time.perf_counter() - t0)

        read_1, verify_rate, read_2 = read(), verify(), read()
        read_rate = (read_1 + read_2) / 2
        # Peak Python memory of a whole verification (flat: pages of events + a frontier).
        tracemalloc.start()
        verify_log("vault", key, head, LocalSource(app, tlog))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        app.close()
    result = {"events": size, "build_s": round(build_s, 1), "sign_s": round(sign_s, 1),
              "read_decode_events_per_s": round(read_rate),
              "verify_events_per_s": round(verify_rate),
              "verify_to_read_ratio": round(verify_rate / read_rate, 3),
              "verify_peak_traced_mib": round(peak / 2**20, 1)}
    print(f"log of {size:,} events built in {build_s:.1f} s, signed (first head) in {sign_s:.1f} s")
    print(f"read + decode : {read_rate:>10,.0f} events/s (mean of a pass before and after)")
    print(f"verify        : {verify_rate:>10,.0f} events/s "
          f"(ratio {verify_rate / read_rate:.2f}, target >= 0.5)")
    print(f"verify peak traced memory: {peak / 2**20:.1f} MiB for {size:,} events")
    return result


if __name__ == "__main__":
    main()
