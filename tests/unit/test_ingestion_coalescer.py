"""Concurrent small ingest calls are coalesced into batches, each caller getting its own results."""

from __future__ import annotations

import threading
import time

import pytest

from services.ingestion.coalescer import Coalescer


def test_concurrent_callers_share_batches_and_get_their_own_results() -> None:
    batches: list[int] = []

    def run(items: list[int]) -> list[int]:
        batches.append(len(items))
        time.sleep(0.02)
        return [i * 10 for i in items]

    coalescer: Coalescer[int, int] = Coalescer(run, max_items=8)
    results: dict[int, list[int]] = {}

    def call(n: int) -> None:
        results[n] = coalescer.submit([n, n + 1000])

    threads = [threading.Thread(target=call, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[n] == [n * 10, (n + 1000) * 10] for n in range(20))
    assert sum(batches) == 40 and max(batches) <= 8 and len(batches) < 20


def test_an_error_reaches_every_caller_of_the_batch() -> None:
    def run(items: list[int]) -> list[int]:
        raise RuntimeError("downstream unavailable")

    coalescer: Coalescer[int, int] = Coalescer(run)
    with pytest.raises(RuntimeError):
        coalescer.submit([1])
    assert coalescer.submit.__self__._leading is False  # type: ignore[attr-defined]
