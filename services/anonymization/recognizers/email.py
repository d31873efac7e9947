"""E-mail addresses, including internationalised local parts and punycode (``xn--``) domains."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

import tldextract

from .base import LetheRegexRecognizer


@lru_cache(maxsize=1)
def suffix_extractor() -> tldextract.TLDExtract:
    """A tldextract instance that only ever uses its bundled public-suffix snapshot (no network)."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)


# Special-use and private-network names (RFC 2606/6761/6762, ICANN .internal): not public suffixes,
# yet addresses under them still identify people inside organisations.
SPECIAL_USE_TLDS = frozenset({"example", "test", "invalid", "localhost", "local", "internal", "lan", "corp", "home", "intranet"})


# The start of a URI's authority with a user name: what follows up to ``@host`` is credentials.
_URI_AUTHORITY = re.compile(r"(?i)[a-z][a-z0-9+.-]{1,30}://[^\s/@\"'<>]*:[^\s/\"'<>]*$")


class LetheEmailRecognizer(LetheRegexRecognizer):
    """``local@domain.tld`` where the TLD is a public suffix (punycode suffixes included)."""

    ENTITY = "EMAIL_ADDRESS"
    PATTERNS = [
        (
            "email",
            r"(?<![\w.!#$%&'*+/=?^`{|}~-])(?P<v>[\w!#$%&'*+/=?^`{|}~-]++(?:\.[\w!#$%&'*+/=?^`{|}~-]++)*+"
            r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:xn--[a-z0-9-]{2,59}|[^\W\d_]{2,63}))(?![\w-])",
            1.0,
        ),
    ]

    def shrink(self, text: str, start: int, end: int):  # noqa: D102 - ``?name=x&email=jane@...``
        local = text[start:end].rsplit("@", 1)[0]
        cut = max(local.rfind("="), local.rfind("&"), local.rfind("?"))
        if cut >= 0:
            yield start + cut + 1, end  # a query string's last value, not one address
        else:
            yield start, end

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """Accept when the domain ends in a known public suffix (bundled snapshot)."""
        if _URI_AUTHORITY.search(text, max(0, start - 200), start):
            return None  # ``postgres://user:pass@host``: credentials (SECRET), not an address
        if text[start] == "@":
            return None
        domain = text[start:end].rsplit("@", 1)[1].lower()
        tld = domain.rsplit(".", 1)[-1]
        if tld in SPECIAL_USE_TLDS or tld.startswith("xn--"):
            return score
        return score if suffix_extractor()(domain).suffix else None
