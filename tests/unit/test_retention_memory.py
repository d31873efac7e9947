"""Retention's memory does not grow with the number of stored records (the index lives in its store).

Measured with tracemalloc as a ratio within one run: Python memory still allocated by the
retention service's own code after scheduling and sweeping N records, then 4N. An in-memory index
grows about 4x; the SQL-backed index stays flat. What the aggregate cache keeps counts too (it is
bounded at ``CACHED_AGGREGATES``).
"""

from __future__ import annotations

import gc
import tracemalloc
import uuid
from pathlib import Path

from services.retention.application import RetentionApplication
from shared.config import Settings
from shared.follower import Batch, UpstreamEvent
from shared.keysource import FileKeySource
from tests.unit.test_retention_rules import DAY, T0

RETENTION_CODE = "*services/retention/*"


def _schedule(app: RetentionApplication, count: int) -> None:
    for start in range(0, count, 500):
        batch = Batch(app)
        for n in range(start, min(count, start + 500)):
            app.on_vault_event(UpstreamEvent(n, "RecordStored", str(uuid.uuid4()), {
                "subject_ref": f"sr_{n % 97:032x}", "category": "user.content", "form": "original",
                "generation": 1, "facts": ""}), batch)
        app.save(*batch.aggregates.values())


def _retained_by_retention_code() -> int:
    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(True, RETENTION_CODE)])
    return sum(stat.size for stat in snapshot.statistics("filename"))


def test_memory_held_by_retention_does_not_grow_with_stored_records(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
    app = RetentionApplication(settings, FileKeySource(settings.key_dir),  # the vault's facts:
                               record_facts=lambda ids: {r: (T0, "i") for r in ids})
    tracemalloc.start()
    try:
        _schedule(app, 600)
        assert app.sweep(T0 + 31 * DAY, "sweep-1")["expired"] == 600
        small = _retained_by_retention_code()
        _schedule(app, 1800)  # 4x the records
        assert app.sweep(T0 + 31 * DAY, "sweep-2")["expired"] == 1800
        large = _retained_by_retention_code()
        assert app.index.count() == 2400
        assert app.list_schedules(f"sr_{5:032x}")  # still answered, from the store
    finally:
        tracemalloc.stop()
        app.close()
    assert large <= 1.25 * small + 32 * 1024, (small, large)
