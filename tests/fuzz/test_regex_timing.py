"""Every recognizer runs in time linear in its input, on inputs generated from its own patterns.

Two checks, no absolute times (the machine is shared and noisy):

1. No pattern explodes on short inputs: every pattern of every recognizer module (and the engine's)
   meets every generated adversarial text at 16 to 64 code points in well under a second each
   (nested repetition blows up by orders of magnitude per extra byte, so this catches it early,
   before a larger input would hang the suite).
2. Growth is linear: for each recognizer, the generated texts that are slowest at 2 KB are timed at
   10 KB and 100 KB; the ratio t(100 KB) / t(10 KB) must stay within a generous factor of the same
   ratio for a plain scan of the same text (``text.lower().count``). Quadratic growth gives ~100
   where linear gives ~10. The worst time-per-KB ratio, (t100/100) / (t10/10), is printed.
"""

from __future__ import annotations

import importlib
import re
import sys
import time

import pytest

from services.anonymization.recognizers import RECOGNIZERS, build_recognizers
from tests.fuzz import adversarial as A

SMALL_SIZES = (16, 24, 32, 40, 48, 64)
EXPLODES_S = 0.25  # per text of at most 64 code points: a linear matcher needs microseconds
FACTOR = 4.0  # allowed: ratio <= FACTOR * the plain scan's ratio
UNITS_PER_RECOGNIZER = 250
SLOWEST = 3


def _patterns(module) -> list[tuple[str, object]]:
    found = A.compiled_patterns(module)
    for obj in vars(module).values():
        if isinstance(obj, type) and obj.__module__ == module.__name__:
            for name, rx, _score in getattr(obj, "PATTERNS", []):
                found.append((name, re.compile(rx, getattr(obj, "FLAGS", 0))))
    return found


def _modules():
    names = ["services.anonymization.engine", "services.anonymization.operators",
             "services.anonymization.aggregation", "services.anonymization.recognizers.base",
             "services.anonymization.recognizers.names", "services.anonymization.resolution",
             "services.anonymization.normalization", "services.anonymization.ner.caps",
             "services.anonymization.ner.lowercase", "services.anonymization.heuristics.coordination",
             "services.anonymization.heuristics.house_numbers",
             "services.anonymization.heuristics.name_propagation", "services.anonymization.structured"]
    names += [cls.__module__ for cls in RECOGNIZERS.values()]
    return [importlib.import_module(n) for n in dict.fromkeys(names)]


def _units(pattern: str, flags: int) -> list[tuple[str, str, str]]:
    """(label, head, unit) for every generated shape of ``pattern``."""
    return [(label, "", unit) for label, unit in A.seeds(pattern, flags)] + A.prefixed(pattern, flags)


def _text(head: str, unit: str, size: int, tail: str = "") -> str:
    return A.build(unit, size - len(tail), head) + tail


_time = A.best_time


ALL_PATTERNS = [(f"{m.__name__.rsplit('.', 1)[-1]}.{n}", p) for m in _modules() for n, p in _patterns(m)]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("module", [m.__name__.rsplit(".", 1)[-1] for m in _modules()])
def test_no_pattern_explodes_on_short_adversarial_inputs(module):
    mod = next(m for m in _modules() if m.__name__.endswith("." + module))
    slow = []
    for name, rx in _patterns(mod):
        for label, head, unit in _units(rx.pattern, rx.flags):
            for tail in ("", "_", "!"):
                for size in SMALL_SIZES:
                    text = _text(head, unit, size, tail)
                    t0 = time.perf_counter()
                    for _ in rx.finditer(text):
                        pass
                    if time.perf_counter() - t0 > EXPLODES_S:
                        slow.append(f"{name} {label} tail={tail!r} at {size} code points")
                        break
    assert not slow, slow[:10]


def _recognizer_units(recognizer) -> list[tuple[str, str, str]]:
    module = sys.modules[type(recognizer).__module__]
    units: dict[tuple[str, str], str] = {}
    for _name, rx in _patterns(module):
        for label, head, unit in _units(rx.pattern, rx.flags):
            units.setdefault((head, unit), label)
    items = [(label, head, unit) for (head, unit), label in units.items()]
    step = max(1, len(items) // UNITS_PER_RECOGNIZER)
    return items[::step]


WORST: dict[str, tuple[float, str]] = {}


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", [n for n in RECOGNIZERS if n != "spacy_ner"])
def test_recognizer_time_grows_linearly_with_input_size(name):
    recognizer = build_recognizers([name])[0]

    def detect(text: str) -> None:
        recognizer.analyze(text, [], None)

    def scan(text: str) -> None:
        text.lower().count("a")

    ranked = sorted(((_time(detect, _text(h, u, 2000), 1), lbl, h, u) for lbl, h, u in _recognizer_units(recognizer)),
                    reverse=True)[:SLOWEST]
    failures = []
    for _t2, label, head, unit in ranked:
        small, large = _text(head, unit, 10_000), _text(head, unit, 100_000)
        floor = 2e-4  # below this a timing is noise; both sides get it
        ratio = baseline = float("inf")
        for _attempt in range(3):  # a load spike on the shared machine inflates one measurement
            t10, t100 = _time(detect, small), _time(detect, large)
            b10, b100 = _time(scan, small, 5), _time(scan, large, 5)
            ratio = min(ratio, (t100 + floor) / (t10 + floor))
            baseline = min(baseline, (b100 + floor / 10) / (b10 + floor / 10))
            if ratio <= FACTOR * max(baseline, 10.0):
                break
        per_kb = ratio / 10
        if per_kb > WORST.get(name, (0.0, ""))[0]:
            WORST[name] = (per_kb, label)
        if ratio > FACTOR * max(baseline, 10.0):
            failures.append(f"{label}: t100/t10 = {ratio:.1f} (plain scan {baseline:.1f})")
    print(f"\n{name}: worst time-per-KB ratio (100 KB vs 10 KB) {WORST.get(name, (0, ''))[0]:.2f} "
          f"on {WORST.get(name, (0, ''))[1]}")
    assert not failures, failures
