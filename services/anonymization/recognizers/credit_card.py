"""Payment card numbers of every current brand range, validated with the Luhn checksum."""

from __future__ import annotations

import re
from typing import Optional

from .base import LetheRegexRecognizer, cue_regex, has_cue, shrink_at_separators

# Issuer prefixes (IIN ranges) in use: Visa 4; Mastercard 51-55 and 2221-2720; Amex 34/37;
# Diners 300-305/3095/36/38/39; JCB 3528-3589 (and legacy 1800/2131); Discover 6011/622126-622925/
# 644-649/65; UnionPay 62/81; Maestro 50/56-69; Mir 2200-2204; RuPay 60/65/81/82/508; Verve 506/507/650.
_BRAND = re.compile(
    r"^(?:4|5[0-9]|2(?:2[2-9][1-9]|2[3-9]|[3-6]|7[01]|720)|2(?:20[0-4])|3[0-9]|6|8[12]|1800|2131)"
)
# Short lengths each belong to few brands: 12 Maestro; 13 Visa; 14 Diners; 15 Amex, JCB (1800, 2131),
# UnionPay, Maestro (16-19 digits: every brand).
_LENGTH_FITS_BRAND = {
    12: re.compile(r"^(?:50|5[6-9]|6)"), 13: re.compile(r"^(?:4|50|5[6-9]|6)"),
    14: re.compile(r"^(?:30[0-5]|3095|36|38|39|50|5[6-9]|6)"),
    15: re.compile(r"^(?:34|37|1800|2131|62|50|5[6-9]|6)"),
}
_CUE = cue_regex(["card", "credit", "debit", "visa", "mastercard", "amex", "cc", "pan", "payment", "charge",
                 "charged", "bill", "billed", "pay", "paid"])


def luhn_ok(digits: str) -> bool:
    """Return True when ``digits`` (ASCII 0-9 only) passes the Luhn mod-10 check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


class LetheCreditCardRecognizer(LetheRegexRecognizer):
    """12-19 digits, optionally grouped by single spaces or dashes, brand prefix + Luhn valid."""

    ENTITY = "CREDIT_CARD"
    PATTERNS = [
        ("grouped", r"(?<![\d.,/+-])(?P<v>\d{4}(?:[ -]\d{2,6}){2,4})(?![\d]|[.,/-]\d)", 0.95),
        # Not inside a word: digits inside a hex digest or a token are no card.
        ("plain", r"(?<![\w.,/+-])(?P<v>\d{12,19})(?![\w]|[.,/-]\d)", 0.9),
    ]

    def shrink(self, text: str, start: int, end: int):  # noqa: D102 - drop trailing groups
        return shrink_at_separators(text, start, end)

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """Brand prefix and a length that brand issues, 12-19 digits, one separator style, Luhn; runs of
        12-14 digits need a cue."""
        value = text[start:end]
        if " " in value and "-" in value:
            return None
        digits = value.replace(" ", "").replace("-", "")
        if not 12 <= len(digits) <= 19 or not _BRAND.match(digits) or not luhn_ok(digits):
            return None
        if len(set(digits)) == 1:
            return None
        if len(digits) <= 15 and not _LENGTH_FITS_BRAND[len(digits)].match(digits):
            return None
        short = len(digits) < 15 or (len(digits) == 15 and not digits.startswith(("34", "37")))
        if short and not has_cue(text, start, _CUE, 60):
            # 12-15 digit runs are mostly order, tracking and batch numbers or sums: a card needs a
            # cue (but an Amex number, 15 digits from 34/37).
            return None if value.isdigit() else (score - 0.3 if len(digits) < 14 else score)
        return score
