"""US Social Security numbers: formatted ``AAA-GG-SSSS`` or bare nine digits after an SSN cue."""

from __future__ import annotations

import re
from typing import Optional

from .base import LetheRegexRecognizer, cue_regex, has_cue

_CUE = cue_regex([
    "ssn", "ssns", "ss#", "ssn#", "social security", "social security number", "social sec",
    "soc sec", "ss no", "ssa", "taxpayer", "tin", "itin",
])


def ssn_ok(digits: str) -> bool:
    """Return True for nine digits with a possible area, group and serial (SSA rules since 2011)."""
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return digits not in ("123456789", "078051120", "219099999") and len(set(digits)) > 1


class LetheUsSsnRecognizer(LetheRegexRecognizer):
    """Formatted SSNs score high; bare ``\\d{9}`` counts only with a cue such as ``ssn=``."""

    ENTITY = "US_SSN"
    PATTERNS = [
        ("formatted", r"(?<![\w.-])(?P<v>\d{3}([- .])\d{2}\2\d{4})(?![\w]|[.-]\d)", 0.85),
        ("bare", r"(?<![\d.-])(?P<v>\d{9})(?![\d]|[.-]\d)", 0.4),
    ]

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """SSA validity; a cue word in the preceding 40 code points adds 0.15 (bare: needs it).

        After an explicit cue ("ssn", "social security"...) an SSN-shaped number is redacted even
        when SSA rules say it was never issued (advertising or test numbers): what a user types
        there is meant as an SSN, and over-redaction is the safe side.
        """
        digits = re.sub(r"\D", "", text[start:end])
        cue = has_cue(text, start, _CUE, 40)
        if not ssn_ok(digits):
            return 0.7 if cue and len(set(digits)) > 1 else None
        if score < 0.5:
            return 0.9 if cue else None
        return min(1.0, score + 0.1) if cue else score
