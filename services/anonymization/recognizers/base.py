"""Shared machinery for Lethe's pattern recognizers.

Every recognizer is a Presidio ``EntityRecognizer`` so it can be registered in a Presidio
``RecognizerRegistry`` and used by ``AnalyzerEngine``; Lethe's fast path calls
``analyze(text, entities, nlp_artifacts)`` directly. Recognizers see the *normalised* text (format
characters and combining marks removed, look-alikes folded: ``services.anonymization.normalization``);
the engine maps their offsets back to the original text.

Every pattern runs in time linear in its input. A pattern RE2 can run with the same meaning (no
lookaround, backreference, atomic group or possessive quantifier, and no Unicode-dependent class:
RE2's ``\\w``, ``\\d``, ``\\s`` and ``\\b`` are ASCII-only) is compiled with RE2 (``google-re2``),
whose matching is linear by construction; the others run on Python's ``re`` and are written so that
no input makes them backtrack more than a bounded amount per position: every repetition that can
meet the same text two ways is bounded, atomic ``(?>...)`` or possessive (``*+``, ``++``), and every
unbounded run starts at the start of its run (a lookbehind), so no run is rescanned from each of its
positions. ``tests/fuzz/test_regex_timing.py`` checks this for every recognizer with generated inputs.

Nothing here logs matched values: results carry offsets and scores only.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Iterable, Optional

import re2

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from ..normalization import normalize  # noqa: F401 - re-exported: the text recognizers see

# Constructs RE2 rejects or reads differently from ``re``: lookarounds, backreferences, atomic groups,
# possessive quantifiers, and the Unicode-aware escapes (RE2's are ASCII-only).
_NOT_RE2 = re.compile(r"\(\?<?[=!]|\(\?>|\\[1-9]|\(\?P=|[*+?}]\+|\\[wWdDsSbB]")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.max_mem = 8 << 20


def compile_linear(pattern: str, flags: int = 0) -> Any:
    """Compile ``pattern`` with RE2 when RE2 matches it with the same meaning, else with ``re``.

    ``[\\s\\S]`` (any code point) means the same in both. Flags: only ``re.IGNORECASE`` is carried
    over to RE2 (other flags keep ``re``). :returns: an object with ``finditer``, ``search``,
    ``match`` and ``groupindex`` (an ``re.Pattern`` or an ``re2._Regexp``).
    """
    probe = pattern.replace(r"[\s\S]", "")
    if flags & ~re.IGNORECASE or _NOT_RE2.search(probe) or not pattern.isascii():
        return re.compile(pattern, flags)
    try:
        return re2.compile(("(?i)" if flags & re.IGNORECASE else "") + pattern, _RE2_OPTIONS)
    except re2.error:
        return re.compile(pattern, flags)


def has_cue(text: str, start: int, cue: re.Pattern[str], window: int = 40) -> bool:
    """Return True when ``cue`` matches in the ``window`` code points before ``start``."""
    return cue.search(text, max(0, start - window), start) is not None


def shrink_at_separators(text: str, start: int, end: int, seps: str = " -") -> Iterable[tuple[int, int]]:
    """Yield ``(start, end)`` then ever shorter spans cut just before each separator, right to left."""
    yield start, end
    for i in range(end - 1, start, -1):
        if text[i] in seps:
            yield start, i


def cue_regex(words: Iterable[str]) -> re.Pattern[str]:
    """Compile a case-insensitive whole-word alternation of ``words``."""
    return re.compile(r"(?i)\b(?:" + "|".join(words) + r")\b")


class LetheRuleRecognizer(EntityRecognizer):
    """A recognizer of one entity type found by rules over the text: subclasses set ``ENTITY`` and
    implement ``find(text) -> list[RecognizerResult]`` (offsets in code points)."""

    ENTITY: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__(supported_entities=[self.ENTITY], name=type(self).__name__)

    def load(self) -> None:  # noqa: D102 - nothing to load
        pass

    def analyze(self, text: str, entities: list[str],
                nlp_artifacts: Optional[NlpArtifacts] = None) -> list[RecognizerResult]:
        """Presidio's entry point: ``find`` unless the caller asked for other entity types."""
        if entities and self.ENTITY not in entities:
            return []
        return self.find(text, nlp_artifacts)

    def find(self, text: str, nlp_artifacts: Optional[NlpArtifacts] = None) -> list[RecognizerResult]:
        """The matches in ``text`` (``nlp_artifacts``: the model's tokens and spans, when run)."""
        raise NotImplementedError


class LetheRegexRecognizer(EntityRecognizer):
    """A recognizer made of compiled regexes plus a per-match ``check`` (checksum, cues).

    Subclasses set ``ENTITY``, ``PATTERNS`` (tuples of name, regex, base score; the value is group
    ``"v"`` when present, else the whole match) and may override ``check``.
    """

    ENTITY: ClassVar[str] = ""
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = []
    FLAGS: ClassVar[int] = 0

    def __init__(self) -> None:
        self._compiled = [(n, compile_linear(rx, self.FLAGS), s) for n, rx, s in self.PATTERNS]
        super().__init__(supported_entities=[self.ENTITY], name=type(self).__name__)

    def load(self) -> None:  # noqa: D102 - nothing to load, regexes compile in __init__
        pass

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """Validate one candidate; return its final score, or None to reject it.

        :param text: the normalised text. :param start/end: candidate offsets (code points).
        :param score: the pattern's base score in [0, 1].
        """
        return score

    def shrink(self, text: str, start: int, end: int) -> Iterable[tuple[int, int]]:
        """Yield the spans to try for one match, longest first (default: the match only)."""
        yield start, end

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: Optional[NlpArtifacts] = None
    ) -> list[RecognizerResult]:
        """Return validated matches as Presidio results (offsets in code points)."""
        if entities and self.ENTITY not in entities:
            return []
        found: dict[tuple[int, int], float] = {}
        for _name, rx, base in self._compiled:
            group = rx.groupindex.get("v")  # by number: RE2's ``span`` takes no group names
            for m in rx.finditer(text):
                if group is not None and m.group(group) is not None:
                    start, end = m.span(group)
                else:
                    start, end = m.span()
                if start >= end:
                    continue
                for s, e in self.shrink(text, start, end):
                    score = self.check(text, s, e, base)
                    if score is not None:
                        if score > found.get((s, e), 0.0):
                            found[(s, e)] = score
                        break
        return [
            RecognizerResult(self.ENTITY, s, e, round(min(score, 1.0), 3))
            for (s, e), score in found.items()
        ]
