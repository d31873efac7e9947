"""Reference numbers that identify a person or their case: application, case, file, passport,
licence, account, member, policy and similar numbers (reported as ID_NUMBER)."""

from __future__ import annotations

from typing import Optional

import re

from ..languages.national_ids import invalid_national_id
from ..structured import NOT_PERSONAL, key_before, key_meaning
from .base import LetheRegexRecognizer, cue_regex, has_cue

# Keys naming a person's identifier: their values stay ID_NUMBER candidates.
_PERSONAL_KEY = re.compile(r"(?i)customer|user|patient|account|member|employee|passport|licen[cs]e|student|"
                           r"client|tax|national|person|subject|citizen|insur|driver")

_CUE = cue_regex([
    "application", "applications", "app", "case", "cases", "file", "reference", "ref", "no", "nos",
    "number", "numbers", "n°", "nº", "#", "id", "passport", "licence", "license", "dl", "account",
    "acct", "member", "membership", "policy", "patient", "mrn", "record", "customer", "client",
    "employee", "student", "badge", "ticket", "claim", "docket", "registration",
    "reg", "permit", "national", "insurance", "nhs", "tax", "vat", "personnummer", "pesel", "dni",
    "nie", "bsn", "cpr", "identity", "identification", "driver", "driving",
])


class LetheIdNumberRecognizer(LetheRegexRecognizer):
    """``18403/91``-style case numbers everywhere; other codes only after a cue word."""

    ENTITY = "ID_NUMBER"
    PATTERNS = [
        # ECHR-style application numbers: 1-6 digits / 2 or 4 digit year.
        ("case_number", r"(?<![\w/.-])(?P<v>\d{1,6}/(?:\d{2}|(?:19|20)\d\d))(?![\w/]|[.-]\d)", 0.6),
        # Alphanumeric identifiers containing at least two digits, e.g. D123-4567-8901, U6292878855.
        ("code", r"(?<![\w/.-])(?P<v>(?=[A-Z-]*+\d[A-Z-]*+\d)[A-Z0-9]{1,4}(?:[-/ ]?[A-Z0-9]{2,}+){1,4})"
         r"(?![\w/]|[.-]\w)", 0.35),
    ]

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """Case numbers pass (0.6, 0.85 with a cue); other codes need a cue in the 30 code points before,
        on the same line. Order and invoice numbers identify a purchase, not a person: no cue."""
        # The cue must be on the value's line: a CSV header's ``id`` labels a column, not a person.
        line = text.rfind("\n", max(0, start - 30), start) + 1
        cue = has_cue(text, start, _CUE, start - max(line, start - 30))
        if score >= 0.6:
            if cue:
                return 0.85
            return score if text.index("/", start) - start >= 3 else None
        key = key_before(text, start)
        if key and key_meaning(key) == NOT_PERSONAL and not _PERSONAL_KEY.search(key):
            return None  # ``"id": 905521971``, ``"order_id": ...``: a record's id, not a person's
        value = text[start:end]
        if invalid_national_id(text, start, end):
            return None  # a national identifier's shape and cue, but its checksum fails
        if not cue or len(value.replace(" ", "")) < 5 or " " in value and not value.replace(" ", "").isalnum():
            return None
        return 0.6
