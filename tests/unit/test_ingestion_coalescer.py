"""Group commit (shared.concurrency.Coalescer): concurrent callers share batches, each gets its own
results, no caller runs a batch beyond its own, at most ``leaders`` batches run at once, and a
failing batch fails only its own callers."""

from __future__ import annotations

import random
import threading
import time

import pytest

from shared.concurrency import Coalescer


def _hammer(coalescer: Coalescer[int, int], callers: int, size: int) -> dict[int, list[int]]:
    results: dict[int, list[int]] = {}
    errors: dict[int, BaseException] = {}

    def call(n: int) -> None:
        try:
            results[n] = coalescer.submit([n * 1000 + k for k in range(size)])
        except BaseException as exc:  # noqa: BLE001 - collected for the assertions
            errors[n] = exc

    threads = [threading.Thread(target=call, args=(n,)) for n in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.update({n: [] for n in errors})
    return results


def test_concurrent_callers_share_batches_and_get_their_own_results() -> None:
    batches: list[int] = []

    def run(items: list[int]) -> list[int]:
        batches.append(len(items))
        time.sleep(0.02)
        return [i * 10 for i in items]

    coalescer: Coalescer[int, int] = Coalescer(run, max_items=8)
    results = _hammer(coalescer, 20, 2)
    assert all(results[n] == [(n * 1000) * 10, (n * 1000 + 1) * 10] for n in range(20))
    assert sum(batches) == 40 and max(batches) <= 8 and len(batches) < 20


@pytest.mark.parametrize("leaders", [1, 2, 3])
def test_no_more_than_leaders_batches_run_at_once_and_no_caller_runs_another_callers_batch(
        leaders: int) -> None:
    running, most, lock = [0], [0], threading.Lock()
    ran_by: dict[int, int] = {}  # item -> thread that ran its batch

    def run(items: list[int]) -> list[int]:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(random.random() / 200)
        for i in items:
            ran_by[i] = threading.get_ident()
        with lock:
            running[0] -= 1
        return items

    coalescer: Coalescer[int, int] = Coalescer(run, max_items=5, leaders=leaders)
    threads: dict[int, int] = {}

    def call(n: int) -> None:
        threads[n] = threading.get_ident()
        assert coalescer.submit([n]) == [n]

    callers = [threading.Thread(target=call, args=(n,)) for n in range(200)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert sorted(ran_by) == list(range(200))
    assert most[0] <= leaders
    # Each batch is run by the thread of one of its own callers (nobody leads for others only).
    by_thread: dict[int, set[int]] = {}
    for item, ident in ran_by.items():
        by_thread.setdefault(ident, set()).add(item)
    for ident, items in by_thread.items():
        mine = {n for n, t in threads.items() if t == ident}
        assert mine & items, "a thread ran a batch without its own caller in it"
    assert coalescer._leading == 0 and not coalescer._queue


def test_a_failing_batch_fails_its_callers_only_and_the_next_ones_run() -> None:
    def run(items: list[int]) -> list[int]:
        if any(i % 7000 == 0 for i in items):
            raise RuntimeError("downstream unavailable")
        return items

    coalescer: Coalescer[int, int] = Coalescer(run, max_items=1, leaders=2)
    results = _hammer(coalescer, 30, 1)
    assert all(results[n] == ([] if n % 7 == 0 else [n * 1000]) for n in range(30))
    with pytest.raises(RuntimeError):
        coalescer.submit([0])
    assert coalescer.submit([5]) == [5]
    assert coalescer._leading == 0


def test_a_caller_larger_than_a_batch_is_run_whole_and_alone() -> None:
    batches: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        batches.append(items)
        return [-i for i in items]

    coalescer: Coalescer[int, int] = Coalescer(run, max_items=4, leaders=2)
    results = _hammer(coalescer, 12, 9)
    assert all(results[n] == [-(n * 1000 + k) for k in range(9)] for n in range(12))
    assert all(len(b) == 9 for b in batches)  # a caller's items are never split
