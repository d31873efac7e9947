"""Work per match stays local: a text holding thousands of matches, or one match followed by a long
run of the punctuation a recognizer trims, is analysed in time linear in its length.

The kind of bug this catches is not a backtracking pattern but Python around it that rescans the
whole text (or the whole span) once per result or per trimmed character: ``any(c.isupper() for c in
text)`` per street address made a lower-case text of 30 KB of postcodes take 1.4 s, and counting
brackets over the whole span per trailing ``)`` made a URL with 50,000 of them quadratic. For every
recognizer (the spaCy ones apart), the texts are built from strings its own patterns match
(``tests.fuzz.adversarial.sample``, fixed seeds, 2 per pattern): each repeated as is and lower-cased,
and each followed by runs of ``) . '``. The slowest 4 at 3 KB are timed at 30 KB and compared with
a plain scan's ratio on the same texts (no absolute times); quadratic growth gives ~100 where linear
gives ~10. The spaCy recognizers are left to the engine's per-text budget.
"""

from __future__ import annotations

import random
import sys

import pytest

from services.anonymization.recognizers import RECOGNIZERS, build_recognizers
from tests.fuzz import adversarial as A
from tests.fuzz.test_regex_timing import _patterns

FACTOR = 4.0
TRAILING = ").'"


def _texts(recognizer, size: int) -> list[tuple[str, str]]:
    """(label, text) of about ``size`` code points, from up to 2 samples of each pattern."""
    out: list[tuple[str, str]] = []
    for name, rx in _patterns(sys.modules[type(recognizer).__module__]):
        rng = random.Random(name)
        for i in range(2):
            s = A.sample(rx.pattern, rx.flags, rng).strip()
            if not s:
                continue
            for case, unit in (("as is", s), ("lower", s.lower())):
                out.append((f"{name}#{i} {case} repeated", A.build(unit + " ", size)))
            for ch in TRAILING:  # a match, then a run of what trimming walks back over
                out.append((f"{name}#{i} then {ch!r} run", s + ch * max(1, size - len(s))))
    return out


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", [n for n in RECOGNIZERS if not n.startswith("spacy_")])
def test_many_matches_and_long_trims_take_linear_time(name: str) -> None:
    recognizer = build_recognizers([name])[0]

    def detect(text: str) -> None:
        recognizer.analyze(text, [], None)

    def scan(text: str) -> None:
        text.lower().count("a")

    small, large = _texts(recognizer, 3_000), _texts(recognizer, 30_000)
    # the slowest few at 3 KB are the ones worth timing at 30 KB
    ranked = sorted(range(len(small)), key=lambda k: A.best_time(detect, small[k][1], 1), reverse=True)[:4]
    failures = []
    for k in ranked:
        label, s_text = small[k]
        l_text = large[k][1]
        floor = 2e-4
        ratio = baseline = float("inf")
        for _attempt in range(3):  # a load spike inflates one measurement
            ratio = min(ratio, (A.best_time(detect, l_text) + floor) / (A.best_time(detect, s_text) + floor))
            baseline = min(baseline, (A.best_time(scan, l_text, 5) + floor / 10)
                           / (A.best_time(scan, s_text, 5) + floor / 10))
            if ratio <= FACTOR * max(baseline, 10.0):
                break
        if ratio > FACTOR * max(baseline, 10.0):
            failures.append(f"{label}: t30/t3 = {ratio:.1f} (plain scan {baseline:.1f})")
    assert not failures, failures
