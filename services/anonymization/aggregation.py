"""Training-grade aggregation: keyword counts released only above a k-anonymity threshold.

Input: already redacted texts with the pseudonymous ref of their subject. Output: keywords with the
number of texts and of distinct subjects that used them, released only when at least ``k`` distinct
subjects contributed (k-anonymity, Sweeney 2002; default k=10 from the policy). The subject refs are
used only for counting and never leave this function; placeholders (``<EMAIL_ADDRESS>``), tokens
with digits and stop words are never keywords.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

_PLACEHOLDER = re.compile(r"<[A-Z_]+(?:_[0-9a-f]+)?>")
_WORD = re.compile(r"[^\W\d_][^\W\d_'-]{3,}")
_STOP = frozenset("""
about above after again against all also and any are aren't because been before being below
between both but can cannot could did does doing down during each few for from further had has
have having her here hers herself him himself his how into its itself just let like more most
much must myself not now off once only other ought our ours ourselves out over own same she
should some such than that the their theirs them themselves then there these they this those
through too under until upon very was were what when where which while who whom why will with
would you your yours yourself yourselves please thanks thank could would need want know help
""".split())


@dataclass(frozen=True)
class KeywordStat:
    """A released statistic: keyword, number of texts, number of distinct subjects (>= k)."""

    keyword: str
    text_count: int
    subject_count: int


def keywords(text: str) -> set[str]:
    """Candidate keywords of a redacted text (lower case, >= 4 letters, no placeholders)."""
    cleaned = _PLACEHOLDER.sub(" ", text)
    return {w.lower() for w in _WORD.findall(cleaned)} - _STOP


def aggregate(inputs: list[tuple[str, str]], k: int) -> tuple[list[KeywordStat], int]:
    """Count keywords over ``(subject_ref, redacted_text)`` pairs; release those with >= k subjects.

    Returns ``(released sorted by subject count desc then keyword, number suppressed)``.
    Raises ValueError when k < 2 (a threshold of 1 would single people out).
    """
    if k < 2:
        raise ValueError("k must be at least 2")
    texts: dict[str, int] = defaultdict(int)
    subjects: dict[str, set[str]] = defaultdict(set)
    for subject_ref, text in inputs:
        for word in keywords(text):
            texts[word] += 1
            subjects[word].add(subject_ref)
    released = [KeywordStat(w, texts[w], len(s)) for w, s in subjects.items() if len(s) >= k]
    released.sort(key=lambda s: (-s.subject_count, s.keyword))
    return released, len(subjects) - len(released)
