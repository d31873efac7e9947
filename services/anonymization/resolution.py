"""Span resolution: raw, overlapping recognizer results -> the final, non-overlapping entity list."""

from __future__ import annotations

import bisect
from typing import Iterable

from presidio_analyzer import RecognizerResult

from .detected import Detected

# Pattern-validated types: they win every overlap with a model-based type, which is trimmed around them.
STRUCTURED_TYPES = frozenset({
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS", "URL",
    "CRYPTO", "SECRET", "ID_NUMBER",
})
_EDGE = " \t\n\r.,;:!?\"'()[]{}<>-/|*@"


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


class SpanIndex:
    """Spans (``[type, start, end, score]`` lists) kept sorted by start, for overlap queries in
    O(log n + k) instead of a scan over every span (a long text holds thousands of entities).

    Correct for any spans: a query looks back by the longest span length ever inserted.
    """

    def __init__(self, items: Iterable[list] = ()) -> None:
        self._items = sorted(items, key=lambda c: c[1])
        self._starts = [c[1] for c in self._items]
        self._maxlen = max((c[2] - c[1] for c in self._items), default=0)

    def add(self, c: list) -> None:
        i = bisect.bisect_right(self._starts, c[1])
        self._starts.insert(i, c[1])
        self._items.insert(i, c)
        self._maxlen = max(self._maxlen, c[2] - c[1])

    def remove(self, c: list) -> None:
        i = bisect.bisect_left(self._starts, c[1])
        while self._items[i] is not c:
            i += 1
        del self._starts[i]
        del self._items[i]

    def overlapping(self, start: int, end: int) -> list[list]:
        lo = bisect.bisect_left(self._starts, start - self._maxlen)
        hi = bisect.bisect_left(self._starts, end)
        return [c for c in self._items[lo:hi] if c[1] < end and start < c[2]]


def replace_spans(soft: list[list], index: SpanIndex, old: Iterable[list], new: list) -> list:
    """Take the spans ``old`` out of ``soft`` and ``index`` and put ``new`` in both; returns ``new``."""
    for c in old:
        soft.remove(c)
        index.remove(c)
    soft.append(new)
    index.add(new)
    return new


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _EDGE:
        start += 1
    while end > start and text[end - 1] in _EDGE:
        end -= 1
    return start, end


def resolve(text: str, results: Iterable[RecognizerResult], threshold: float) -> list[Detected]:
    """Turn raw, overlapping recognizer results into the final entity list.

    1. Discard results scoring below ``threshold``.
    2. Structured (pattern-validated) types: greedy by score, then length; an overlapping loser is dropped.
    3. Model-based types (PERSON, LOCATION, ...) are cut around structured winners (so a PERSON span
       never swallows an adjacent e-mail); pieces without a letter or digit pair are dropped.
    4. Among model-based pieces: same-type overlaps are united, other overlaps keep the higher score.
    5. The registered heuristics (``services.anonymization.heuristics``) run in order.

    :returns: ``Detected`` sorted by start, pairwise non-overlapping.
    """
    hard, soft = [], []
    for r in results:
        if r.score >= threshold and r.end > r.start:
            (hard if r.entity_type in STRUCTURED_TYPES else soft).append(r)
    chosen: list[list] = []  # [type, start, end, score]
    hard_index = SpanIndex()
    for r in sorted(hard, key=lambda r: (-r.score, -(r.end - r.start), r.start)):
        if not hard_index.overlapping(r.start, r.end):
            c = [r.entity_type, r.start, r.end, r.score]
            chosen.append(c)
            hard_index.add(c)
    pieces = []
    for r in soft:
        segments = [(r.start, r.end)]
        for _t, hs, he, _s in hard_index.overlapping(r.start, r.end):
            nxt = []
            for s, e in segments:
                if overlaps((s, e), (hs, he)):
                    nxt += [(s, hs), (he, e)]
                else:
                    nxt.append((s, e))
            segments = nxt
        for s, e in segments:
            s, e = _trim(text, s, e) if (s, e) != (r.start, r.end) else (s, e)
            if e - s >= 2 and sum(c.isalnum() for c in text[s:e]) >= 2:
                pieces.append([r.entity_type, s, e, r.score])
    soft_chosen: list[list] = []
    soft_index = SpanIndex()
    for p in sorted(pieces, key=lambda p: (-p[3], -(p[2] - p[1]), p[1])):
        clash = soft_index.overlapping(p[1], p[2])
        if not clash:
            soft_chosen.append(p)
            soft_index.add(p)
        elif len(clash) == 1 and clash[0][0] == p[0]:
            c = clash[0]
            union = (min(c[1], p[1]), max(c[2], p[2]))
            if not any(o is not c for o in soft_index.overlapping(*union)):
                soft_index.remove(c)
                c[1], c[2] = union
                soft_index.add(c)
    from .heuristics import HEURISTICS

    for heuristic in HEURISTICS.values():
        soft_chosen = heuristic(text, chosen, soft_chosen)
    final = chosen + soft_chosen
    for c in final:
        c[1], c[2] = _outside_escapes(text, c[1], c[2])
    final = [c for c in final if c[2] > c[1]]
    final.sort(key=lambda c: (c[1], c[2]))
    return [Detected(t, s, e, round(float(sc), 3)) for t, s, e, sc in final]


def _outside_escapes(text: str, start: int, end: int) -> tuple[int, int]:
    """Keep a span out of backslash escapes (``"\\njane@example.com"`` in pasted JSON or code): a
    span starting on an escape's letter starts after it, one ending on a lone backslash ends before
    it, so a redaction never leaves ``\\<EMAIL_ADDRESS>`` (invalid JSON)."""
    if start > 0 and text[start - 1] == "\\" and text[start] in "nrtbf\"'/0":
        k = start - 1
        while k > 0 and text[k - 1] == "\\":
            k -= 1
        if (start - k) % 2 == 1:  # an odd run of backslashes: the last one escapes text[start]
            start += 1
    while start + 1 < end and text[start] == "\\" and text[start + 1] in "nrtbf\"'/":
        start += 2  # a span never starts with an escape (``\\"Megan Chang`` in JSON inside a string)
    while end > start and text[end - 1] == "\\":
        end -= 1
    return start, end
