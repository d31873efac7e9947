"""Cost of one erasure (10 vs 10,000 records for the subject) and of a sweep at two store sizes.

Erasure is crypto-shredding: its cost is bounded by the subject's bucket (O(S/B) DEK rewraps), not by
the subject's record count; the ratio printed should stay near 1. A sweep walks the deadline index,
so two stores of different sizes with the same number of expiring records should cost about the same.
Everything runs in-process on SQLite in a temporary folder; times are wall clock (perf_counter).
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from services.retention.application import RetentionApplication
from services.vault.application import RecordIn, VaultApplication
from shared.config import Settings
from shared.follower import Batch, UpstreamEvent
from shared.keysource import FileKeySource

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)


def _erasure_seconds(records: int, background_subjects: int = 200) -> float:
    """Median time of erasing 5 subjects that each hold ``records`` records."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "var", key_dir=Path(tmp) / "keys")
        vault = VaultApplication(settings, FileKeySource(settings.key_dir))
        now = dt.datetime.now(dt.timezone.utc)
        vault.store([RecordIn(str(uuid.uuid4()), f"sr_{n:032x}", "user.content", "original", "EU",
                              b"generated background text", now, "i") for n in range(1, background_subjects)])
        victims = [f"sr_{10**6 + v:032x}" for v in range(5)]
        for victim in victims:
            for start in range(0, records, 2000):
                vault.store([RecordIn(str(uuid.uuid4()), victim, "user.content", "original", "EU",
                                      b"generated victim text %d" % i, now, "i")
                             for i in range(start, min(records, start + 2000))])
        times = []
        for victim in victims:
            began = time.perf_counter()
            vault.shred_subject(victim, f"bench-erasure-{victim}")
            times.append(time.perf_counter() - began)
        vault.close()
        return statistics.median(times)


def _sweep_seconds(stored: int, expiring: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "var", key_dir=Path(tmp) / "keys")
        app = RetentionApplication(settings, FileKeySource(settings.key_dir), None, None,
                                   lambda ids, sweep_id: len(ids),  # the vault's record facts:
                                   lambda ids: {r: (T0, "i") for r in ids})
        batch = Batch(app)
        for n in range(stored):
            category = "user.content" if n < expiring else "system.operations"
            app.on_vault_event(UpstreamEvent(n + 1, "RecordStored", str(uuid.uuid4()), {
                "subject_ref": f"sr_{n % 500:032x}", "category": category, "form": "original",
                "interaction_id": f"i{n}", "received_at": T0.isoformat(), "generation": 1}), batch)
            if len(batch.aggregates) >= 1000:
                app.save(*batch.aggregates.values())
                batch = Batch(app)
        app.save(*batch.aggregates.values())
        app.fill_facts()  # as retention's vault follower does after each batch
        began = time.perf_counter()
        result = app.sweep(T0 + dt.timedelta(days=31), "bench-sweep")
        elapsed = time.perf_counter() - began
        assert result["expired"] == expiring
        app.close()
        return elapsed


def main() -> dict[str, float]:
    """Print and return the erasure and sweep figures."""
    small, large = _erasure_seconds(10), _erasure_seconds(10_000)
    print(f"erasure with 10 records:     {small * 1000:8.1f} ms (median of 5 subjects)")
    print(f"erasure with 10,000 records: {large * 1000:8.1f} ms   ratio {large / small:5.2f}")
    s_small, s_large = _sweep_seconds(2_000, 500), _sweep_seconds(20_000, 500)
    print(f"sweep of 500 expiring among 2,000 stored:  {s_small * 1000:8.1f} ms")
    print(f"sweep of 500 expiring among 20,000 stored: {s_large * 1000:8.1f} ms   ratio {s_large / s_small:5.2f}")
    return {"erasure_10_s": small, "erasure_10000_s": large, "erasure_ratio": large / small,
            "sweep_2000_s": s_small, "sweep_20000_s": s_large, "sweep_ratio": s_large / s_small}


if __name__ == "__main__":
    main()
