"""Telephone numbers written in words: ``five five five, one two three, four five six seven``,
``oh seven seven double oh nine...``, digits and words mixed; reported as PHONE_NUMBER."""

from __future__ import annotations

import re
from typing import Optional

import phonenumbers

from .base import LetheRegexRecognizer, has_cue, shrink_at_separators
from .phone import _CUE, _PHONE_CUE, _REFERENCE_CUE, REGIONS

_DIGIT_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
_TOKEN = r"(?:zero|oh|nought|one|two|three|four|five|six|seven|eight|nine|double|triple|o|[0-9])"
_SEP = r"(?:[ \t]*[,.-][ \t]*|[ \t]+)"
_TOKENS = re.compile(r"(?i)[a-z]+|[0-9]")


def spelled_digits(value: str) -> str:
    """The digits ``value`` spells (``double five`` -> ``55``); ``plus`` becomes ``+``."""
    out, repeat = [], 1
    for tok in _TOKENS.findall(value.lower()):
        if tok == "plus":
            out.append("+")
        elif tok in ("double", "triple"):
            repeat = 2 if tok == "double" else 3
        else:
            out.append((_DIGIT_WORDS.get(tok) or tok) * repeat)
            repeat = 1
    return "".join(out)


class LetheSpelledPhoneRecognizer(LetheRegexRecognizer):
    """Seven or more digit words (or digits among words) after a telephone cue, or a valid number."""

    ENTITY = "PHONE_NUMBER"
    FLAGS = re.IGNORECASE
    PATTERNS = [("spelled_phone", r"(?:plus" + _SEP + r")?" + _TOKEN + "(?:" + _SEP + _TOKEN + "){6,24}", 0.8)]

    def shrink(self, text: str, start: int, end: int):  # noqa: D102 - ``... three ok``: drop the ``o``
        return shrink_at_separators(text, start, end, " ,.-")

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """At least seven digits spelled with at least four words, whole words, and a cue or a valid plan."""
        if (start > 0 and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum()):
            return None
        value = text[start:end]
        words = sum(1 for t in _TOKENS.findall(value) if t.isalpha())
        digits = spelled_digits(value)
        if words < 4 or not 7 <= len(digits.lstrip("+")) <= 15 or len(set(digits)) == 1:
            return None
        if value.isdigit() or re.fullmatch(r"[0-9 .,-]+", value):
            return None  # plain digits: the phone recognizer's
        if has_cue(text, start, _PHONE_CUE, 40) or (
                has_cue(text, start, _CUE, 40) and not _REFERENCE_CUE.search(text, max(0, start - 24), start)):
            return score
        try:
            if digits.startswith("+"):
                return score if phonenumbers.is_valid_number(phonenumbers.parse(digits, None)) else None
            return score if any(phonenumbers.is_valid_number(phonenumbers.parse(digits, r))
                                for r in REGIONS[:8]) and len(digits) >= 10 else None
        except phonenumbers.NumberParseException:
            return None
