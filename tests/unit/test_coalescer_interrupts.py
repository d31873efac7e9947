"""Group commit (shared.concurrency.Coalescer) under interrupts: a BaseException in a batch fails
every caller (followers with an ordinary error a server answers, the leader with the interrupt) and
the next batch runs; a caller interrupted while it waits leaves no ticket at the queue's head; a
batch whose results do not match its items fails its callers instead of answering them wrongly."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable

import pytest

from shared.concurrency import BatchInterrupted, Coalescer

HANG = 20.0  # seconds before a thread is taken for hung (a liveness guard, not a timing assertion)


class Interrupt(BaseException):
    """Stands for KeyboardInterrupt / SystemExit without stopping pytest."""


def _start(fn: Callable[[], object], out: dict[str, object]) -> threading.Thread:
    def call() -> None:
        try:
            out["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertions
            out["error"] = exc
    t = threading.Thread(target=call, daemon=True)
    t.start()
    return t


class Gate:
    """A run whose batch with item 0 holds until ``go`` is set; other batches go to ``then``."""

    def __init__(self, then: Callable[[list[int]], object]) -> None:
        self.then, self.entered, self.go = then, threading.Event(), threading.Event()
        self.first: dict[str, object] = {}

    def run(self, items: list[int]) -> object:
        if 0 in items:
            self.entered.set()
            self.go.wait(HANG)
            return items
        return self.then(items)

    def hold(self, coalescer: Coalescer[int, int]) -> threading.Thread:
        """A caller whose batch runs until ``go`` is set (so later callers queue behind it)."""
        blocker = _start(lambda: coalescer.submit([0]), self.first)
        self.entered.wait(HANG)
        return blocker


def _wait_until(cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + HANG
    while not cond():
        assert time.monotonic() < deadline, "condition never reached"
        time.sleep(0.001)


@pytest.mark.parametrize("kind", [Interrupt, SystemExit, KeyboardInterrupt])
def test_a_base_exception_in_a_batch_fails_every_caller_and_the_next_batch_runs(
        kind: type[BaseException]) -> None:
    def run(items: list[int]) -> list[int]:
        if any(i < 0 for i in items):
            raise kind("stop")
        return items

    gate = Gate(run)
    coalescer: Coalescer[int, int] = Coalescer(gate.run, max_items=64)  # type: ignore[arg-type]
    blocker = gate.hold(coalescer)
    outs = [{} for _ in range(10)]  # type: list[dict[str, object]]
    threads = [_start(lambda n=n: coalescer.submit([-1 if n == 0 else n]), outs[n]) for n in range(10)]
    _wait_until(lambda: len(coalescer._queue) == 10)
    gate.go.set()
    for t in [blocker, *threads]:
        t.join(HANG)
        assert not t.is_alive(), "a caller hangs"
    assert gate.first == {"result": [0]}
    errors = [o["error"] for o in outs]
    assert all("result" not in o for o in outs)  # they shared the failing batch
    leaders = [e for e in errors if isinstance(e, kind)]
    followers = [e for e in errors if not isinstance(e, kind)]
    assert len(leaders) == 1 and len(followers) == 9
    # A follower's thread was not interrupted: it gets an error a server answers (an Exception).
    assert all(isinstance(e, BatchInterrupted) and isinstance(e.__cause__, kind) for e in followers)
    assert coalescer.submit([7]) == [7] and coalescer._leading == 0 and not coalescer._queue


def test_a_caller_interrupted_while_waiting_does_not_block_the_queue() -> None:
    gate = Gate(lambda items: items)
    coalescer: Coalescer[int, int] = Coalescer(gate.run)  # type: ignore[arg-type]
    blocker = gate.hold(coalescer)

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupt("caller interrupted")

    def send() -> None:  # once the main thread waits at the queue's head
        _wait_until(lambda: len(coalescer._queue) == 1)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)

    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        with pytest.raises(Interrupt):
            coalescer.submit([1])  # the main thread, waiting behind the running batch
        sender.join(HANG)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    gate.go.set()
    blocker.join(HANG)
    later: dict[str, object] = {}
    t = _start(lambda: coalescer.submit([2]), later)
    t.join(HANG)
    assert not t.is_alive(), "the next caller hangs behind the interrupted caller's ticket"
    assert gate.first == {"result": [0]} and later == {"result": [2]}
    assert not coalescer._queue and coalescer._leading == 0


@pytest.mark.parametrize("wrong", [lambda items: items[:-1], lambda items: [*items, 0], lambda items: None])
def test_results_that_do_not_match_the_items_fail_every_caller(
        wrong: Callable[[list[int]], object]) -> None:
    gate = Gate(wrong)
    coalescer: Coalescer[int, int] = Coalescer(gate.run)  # type: ignore[arg-type]
    blocker = gate.hold(coalescer)
    outs = [{} for _ in range(5)]  # type: list[dict[str, object]]
    threads = [_start(lambda n=n: coalescer.submit([n + 1, n + 100]), outs[n]) for n in range(5)]
    _wait_until(lambda: len(coalescer._queue) == 5)
    gate.go.set()
    for t in [blocker, *threads]:
        t.join(HANG)
        assert not t.is_alive()
    assert all(isinstance(o.get("error"), Exception) and "result" not in o for o in outs)
    assert coalescer._leading == 0 and not coalescer._queue


@pytest.mark.parametrize("leaders", [1, 2])
def test_a_crowd_with_random_interrupts_and_errors_is_answered_whole(leaders: int) -> None:
    rng = random.Random(leaders)
    batches: list[tuple[list[int], str]] = []
    lock = threading.Lock()

    def run(items: list[int]) -> list[int]:
        time.sleep(rng.random() / 500)
        fate = "interrupt" if any(i % 13 == 0 for i in items) else (
            "error" if any(i % 17 == 0 for i in items) else "ok")
        with lock:
            batches.append((items, fate))
        if fate == "interrupt":
            raise Interrupt("stop")
        if fate == "error":
            raise RuntimeError("downstream")
        return [-i for i in items]

    coalescer: Coalescer[int, int] = Coalescer(run, max_items=256, leaders=leaders)
    outs = [{} for _ in range(300)]  # type: list[dict[str, object]]
    threads = [_start(lambda n=n: coalescer.submit([n + 1]), outs[n]) for n in range(300)]
    for t in threads:
        t.join(HANG)
    assert not any(t.is_alive() for t in threads), "a caller hangs"
    fate = {i: f for items, f in batches for i in items}
    assert sorted(i for items, _ in batches for i in items) == list(range(1, 301))  # each once
    for n, out in enumerate(outs):
        expected = {"ok": (list, "result"), "error": (RuntimeError, "error"),
                    "interrupt": ((Interrupt, BatchInterrupted), "error")}[fate[n + 1]]
        assert isinstance(out.get(expected[1]), expected[0]), (n, out)
    for items, f in batches:  # one leader per interrupted batch gets the interrupt
        if f == "interrupt":
            assert sum(isinstance(outs[i - 1]["error"], Interrupt) for i in items) == 1
    assert coalescer._leading == 0 and not coalescer._queue
