"""Size limits are defined once and ingestion splits its downstream calls to fit them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from services.ingestion.application import DEIDENTIFIED, IngestionApplication
from services.ingestion.deidentify import VaultRecordIn
from services.ingestion.domain import InteractionIn
from shared import limits
from shared.config import load_settings
from shared.keysource import FileKeySource


class StrictPipeline:
    """A fake downstream that refuses what the real services refuse (count and message size)."""

    def __init__(self) -> None:
        self.calls: dict[str, list[int]] = {"open_sessions": [], "anonymize": [], "store": []}

    def open_sessions(self, items: list[tuple[str, str, dt.datetime]]) -> list[tuple[str, bytes] | None]:
        assert len(items) <= limits.MAX_VAULT_ITEMS
        self.calls["open_sessions"].append(len(items))
        return [(f"s-{ref[:8]}-{hint}", b"k" * 32) for ref, hint, _ in items]

    def anonymize(self, texts: list[str], keys: list[bytes]) -> list[tuple[str, list[str]]]:
        assert len(texts) <= limits.MAX_BATCH_ITEMS, f"{len(texts)} texts in one AnonymizeBatch"
        assert sum(map(limits.text_bytes, texts)) <= limits.MAX_CALL_BYTES
        self.calls["anonymize"].append(len(texts))
        return [(t, []) for t in texts]

    def store(self, records: list[VaultRecordIn]) -> list[str]:
        assert len(records) <= limits.MAX_VAULT_ITEMS
        assert sum(len(r.content) for r in records) <= limits.MAX_MESSAGE_BYTES // 2
        self.calls["store"].append(len(records))
        return ["stored"] * len(records)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[IngestionApplication, StrictPipeline]:
    for name in ("LETHE_PERSISTENCE", "LETHE_INSECURE_LOCAL_DEV"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(tmp_path / "var", tmp_path / "keys")
    pipeline = StrictPipeline()
    application = IngestionApplication(settings, FileKeySource(settings.key_dir), pipeline)
    yield application, pipeline
    application.close()


def _items(n: int, text: str = "What should I plant in spring?") -> list[InteractionIn]:
    when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    return [InteractionIn(f"acct-{i % 37}", f"conv-{i}", "203.0.113.7", "Mozilla/5.0 Firefox/120.0", "EU",
                          when, "interaction", f"{text} ({i})", f"Tulips, number {i}.", "")
            for i in range(n)]


def test_a_full_batch_of_1000_interactions_is_split_into_calls_the_anonymizer_accepts(app) -> None:
    application, pipeline = app
    results = application.ingest(_items(limits.MAX_BATCH_ITEMS), DEIDENTIFIED)
    assert [r.status for r in results] == ["stored"] * limits.MAX_BATCH_ITEMS
    assert sum(pipeline.calls["anonymize"]) == 2 * limits.MAX_BATCH_ITEMS
    assert len(pipeline.calls["anonymize"]) == 2


def test_large_texts_are_split_by_bytes_as_well_as_by_count(app) -> None:
    application, pipeline = app
    big = "x" * (limits.MAX_TEXT_BYTES - 100)
    results = application.ingest(_items(60, big), DEIDENTIFIED)
    assert {r.status for r in results} == {"stored"}
    assert len(pipeline.calls["anonymize"]) >= 2 and len(pipeline.calls["store"]) >= 2


def test_chunks_keep_order_and_respect_both_bounds() -> None:
    sizes = [5, 1, 9, 3, 3, 3, 12, 1]
    runs = list(limits.chunks(sizes, max_items=3, max_bytes=10, size=lambda n: n))
    assert [n for run in runs for n in run] == sizes
    assert all(len(run) <= 3 and (sum(run) <= 10 or len(run) == 1) for run in runs)


def test_every_service_uses_the_documented_limits() -> None:
    from cli import reader
    from services.anonymization import application as anonymization
    from services.ingestion import domain, servicer
    from services.vault import domain as vault_domain
    from services.vault import servicer as vault_servicer
    from shared import server

    assert servicer.MAX_BATCH == anonymization.MAX_BATCH == limits.MAX_BATCH_ITEMS
    assert domain.MAX_TEXT_BYTES == anonymization.MAX_TEXT_BYTES == limits.MAX_TEXT_BYTES
    assert vault_servicer.MAX_ITEMS == limits.MAX_VAULT_ITEMS
    assert vault_domain.MAX_CONTENT_BYTES == limits.MAX_RECORD_BYTES
    assert server.MAX_MESSAGE_BYTES == limits.MAX_MESSAGE_BYTES
    assert reader.MAX_LINE_BYTES == limits.MAX_LINE_BYTES
    assert servicer.MAX_STREAM == limits.MAX_STREAM_ITEMS
    # An interaction is at most 4 records, each of at most two texts: a full batch fits one call each.
    assert 4 * limits.MAX_BATCH_ITEMS <= limits.MAX_VAULT_ITEMS
    assert 2 * limits.MAX_TEXT_BYTES + 1024 <= limits.MAX_RECORD_BYTES
    assert limits.MAX_CALL_BYTES + limits.MAX_RECORD_BYTES < limits.MAX_MESSAGE_BYTES
