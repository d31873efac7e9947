"""E-mail addresses written out to dodge filters: ``jane dot doe at gmail dot com``,
``jane [at] example [dot] org``, ``jane(at)example(dot)co(dot)uk``, ``jane at gmail.com``."""

from __future__ import annotations

import re
from typing import Optional

from spacy.lang.en.stop_words import STOP_WORDS

from .base import LetheRegexRecognizer

_DOT = r"(?:[ \t]*(?:\[dot\]|\(dot\)|\{dot\}|<dot>|\[\.\]|\(\.\))[ \t]*|[ \t]+dot[ \t]+|\.)"
_AT = r"(?:[ \t]*(?:\[at\]|\(at\)|\{at\}|<at>|\[@\]|\(@\))[ \t]*|[ \t]+at[ \t]+)"
_LABEL = r"[a-z0-9](?:[a-z0-9_+-]{0,40}[a-z0-9])?"
# Top-level domains written out: generic ones and the country codes of the region.
_TLDS = frozenset("""com org net edu gov io co uk de fr es it nl be ch at se no dk fi pl cz ie pt gr hu
ro info biz me us ca au nz in br mx jp eu tv app dev ai ru""".split())
# Webmail hosts: ``jane at gmail.com`` needs no other sign of an address.
_WEBMAIL = frozenset("""gmail googlemail yahoo hotmail outlook live msn icloud me aol protonmail proton
gmx web mail yandex zoho fastmail tutanota posteo orange free laposte t-online""".split())
_SPELLED_DOT = re.compile(r"(?i)\[dot\]|\(dot\)|\{dot\}|<dot>|\[\.\]|\(\.\)|[ \t]dot[ \t]")
_BRACKET_AT = re.compile(r"(?i)\[at\]|\(at\)|\{at\}|<at>|\[@\]|\(@\)")
_AT_WORD = re.compile(r"(?i)[ \t]+at[ \t]+")
_SEPARATORS = re.compile(r"(?i)\[dot\]|\(dot\)|\{dot\}|<dot>|\[\.\]|\(\.\)|[ \t]+dot[ \t]+|\.")


# Words that come before a plain ``at`` in prose (``look at``, ``meet me at``): never a local part alone.
_PROSE = frozenset("""look looking looked looks me us him her them it this that here there home work arrive
arrived arrives be is are was were am stay stayed meet met born live lives lived located based aimed
good bad great best available find found seen shop buy order ordered sold bought stop stopped
start started starting anyone someone everyone people they we you i he she who what where when
arrival one all best worst""".split())
# Longer than any match of the pattern (4 + 5 labels of at most 42 code points and their separators).
_WINDOW = 1000
_LOCAL_END = re.compile(r"[a-z0-9_+-]+", re.IGNORECASE)


class LetheSpelledEmailRecognizer(LetheRegexRecognizer):
    """Written-out ``at``/``dot`` addresses ending in a known top-level domain.

    With a plain ``at`` (``look at example.com`` is no address) the domain must be written out too
    (``gmail dot com``) or be a webmail host.
    """

    ENTITY = "EMAIL_ADDRESS"
    FLAGS = re.IGNORECASE
    PATTERNS = [("spelled_email", _LABEL + "(?:" + _DOT + _LABEL + "){0,3}" + _AT + _LABEL
                 + "(?:" + _DOT + _LABEL + "){1,4}", 0.85)]

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """Whole words only, a known TLD, and an unmistakable ``at``/``dot``."""
        if (start > 0 and (text[start - 1].isalnum() or text[start - 1] in "@._-")) or (
                end < len(text) and (text[end].isalnum() or text[end] in "@_-")):
            return None
        value = text[start:end]
        if "@" in value:
            return None  # a plain address: the e-mail recognizer's
        bracket = _BRACKET_AT.search(value)
        if bracket:
            local, domain = value[:bracket.start()], value[bracket.end():]
        else:
            at = list(_AT_WORD.finditer(value))
            if not at:
                return None
            local, domain = value[:at[-1].start()], value[at[-1].end():]
        labels = [x.strip().lower() for x in _SEPARATORS.split(domain)]
        if labels[-1] not in _TLDS or not local.strip():
            return None
        if not bracket and (local.strip().lower() in _PROSE or local.strip().lower() in STOP_WORDS):
            return None
        if not bracket and not _SPELLED_DOT.search(value) and labels[0] not in _WEBMAIL:
            return None
        return score

    def analyze(self, text, entities, nlp_artifacts=None):  # noqa: D102 - see the class docstring
        """Like the base class, but a rejected match is retried from its second word on, so that
        ``me at jane.roe at gmail.com`` still finds ``jane.roe at gmail.com``. A retry searches a
        window of ``_WINDOW`` code points (a match is shorter), so the scan stays linear."""
        from presidio_analyzer import RecognizerResult

        if entities and self.ENTITY not in entities:
            return []
        _name, rx, base = self._compiled[0]
        out, taken = [], 0
        for m in rx.finditer(text):
            s, e = m.span()
            while s >= taken:
                score = self.check(text, s, e, base)
                if score is not None:
                    out.append(RecognizerResult(self.ENTITY, s, e, score))
                    taken = e
                    break
                first = _LOCAL_END.match(text, s)
                pos = first.end() if first else s + 1
                retry = rx.search(text[pos:pos + _WINDOW]) if pos < m.end() else None
                if retry is None or pos + retry.start() >= m.end():
                    break
                s, e = pos + retry.start(), pos + retry.end()
        return out
