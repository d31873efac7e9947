"""URLs with a scheme, ``www.`` hosts, and bare domain names ending in a public suffix."""

from __future__ import annotations

from typing import Optional

from .base import LetheRegexRecognizer
from .email import suffix_extractor

_TRAILING = ".,;:!?)]}'\">"


class LetheUrlRecognizer(LetheRegexRecognizer):
    """Web addresses; bare hosts need a letter in the registrable label and a known suffix."""

    ENTITY = "URL"
    PATTERNS = [
        ("scheme", r"(?i)\b(?:https?|ftp|sftp|wss?)://[^\s<>\"'`]+", 0.9),
        ("www", r"(?i)(?<![\w.@-])www\d{0,3}\.[^\s<>\"'`]+", 0.85),
        (
            "bare_host",
            r"(?i)(?<![\w.@/-])(?P<v>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
            r"(?:xn--[a-z0-9-]{2,59}|[a-z]{2,24})(?::\d{2,5})?(?:/[^\s<>\"'`]*)?)(?![\w@-])",
            0.6,
        ),
    ]

    def shrink(self, text: str, start: int, end: int):  # noqa: D102 - drop trailing punctuation
        opens, closes = text.count("(", start, end), text.count(")", start, end)  # counted once: linear
        while end > start and text[end - 1] in _TRAILING:
            if text[end - 1] == ")":
                if opens >= closes:
                    break
                closes -= 1
            elif text[end - 1] == "(":
                opens -= 1
            end -= 1
        yield start, end

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """Require a public suffix and a host label with a letter (so ``1111.com`` is not a URL)."""
        value = text[start:end]
        host = value.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].split("@")[-1]
        parts = suffix_extractor()(host.lower())
        if not parts.suffix or not parts.domain or not any(c.isalpha() for c in parts.domain):
            return None
        if score < 0.7:
            # Bare host: avoid abbreviations ("e.g.", "U.S.") and file names ("report.pdf" has no
            # public suffix, but "main.py"/"setup.sh" do): need a 2+ letter label before the suffix.
            if len(parts.domain) < 2 or parts.suffix in ("py", "sh", "md", "rs", "pl", "so", "js", "ts"):
                return None
        return score
