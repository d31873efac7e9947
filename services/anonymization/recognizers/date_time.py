"""Calendar dates (numeric and with month names); dates of birth get the highest score."""

from __future__ import annotations

from typing import Optional

from .base import LetheRegexRecognizer, cue_regex, has_cue

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_YEAR = r"(?:1[89]\d\d|20\d\d)"
_TIME = r"(?:[ T,]+(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:\s?[ap]\.?m\.?)?(?:Z|[+-]\d\d:?\d\d)?)?"
_DOB = cue_regex([
    "dob", "d.o.b", "born", "birth", "birthday", "birthdate", "date of birth", "birth date", "b.",
    "geboren", "né", "née",
])


class LetheDateTimeRecognizer(LetheRegexRecognizer):
    """ISO, numeric (``9/15/1946``, ``15.09.1946``) and written dates with an optional time."""

    ENTITY = "DATE_TIME"
    FLAGS = 2  # re.IGNORECASE
    PATTERNS = [
        ("iso", r"(?<![\w.-])" + _YEAR + r"-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])" + _TIME
         + r"(?![\w-])", 0.6),
        ("numeric", r"(?<![\w./-])(?:0?[1-9]|[12]\d|3[01])([/.-])(?:0?[1-9]|[12]\d|3[01])\1(?:"
         + _YEAR + r"|\d\d)" + _TIME + r"(?![\w]|[./-]\d)", 0.6),
        ("day_month_year", r"\b" + _DAY + r"(?:\s+of)?\s+" + _MONTH + r",?(?:\s+" + _YEAR + r")?"
         + _TIME + r"(?!\w)", 0.6),
        ("month_day_year", r"\b" + _MONTH + r"\s+" + _DAY + r"(?:,?\s+" + _YEAR + r")?" + _TIME
         + r"(?!\w)", 0.6),
        ("month_year", r"\b" + _MONTH + r",?\s+" + _YEAR + r"\b", 0.55),
    ]

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """A date-of-birth cue in the preceding 30 code points raises the score to 0.95."""
        return 0.95 if has_cue(text, start, _DOB, 30) else score
