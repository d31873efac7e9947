"""E-mail addresses hidden by an encoding in URLs and query strings: base64 (standard or URL-safe,
padded or not: RFC 4648 sections 4 and 5) and percent-encoding applied once or twice (RFC 3986
section 2.1: ``jane%2540example.com``), in any nesting up to three layers.

A candidate is a run of 8 to 512 characters of those alphabets standing alone (after ``=``, ``/``,
``?``, ``&``, ``:`` or a blank, before a delimiter); it is decoded in memory only (at most 512 code
points in, three layers), strictly (a base64 run must decode to UTF-8 text), and reported when the
decoded text holds an e-mail address with a public suffix. The span is the whole encoded run, so the
redaction leaves no decodable part behind.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Optional
from urllib.parse import unquote

from .base import LetheRegexRecognizer
from .email import SPECIAL_USE_TLDS, suffix_extractor

MAX_ENCODED_CHARS = 512
MAX_LAYERS = 3
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_%.-=")
_BEFORE = frozenset("=/?&:;#,( \t\n\"'")
_EMAIL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)"
                    r"{1,8}(?:xn--[a-z0-9-]{2,59}|[A-Za-z]{2,63})(?![A-Za-z0-9-])")
_B64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


def _b64(token: str) -> Optional[str]:
    """The UTF-8 text a base64 token (either alphabet, padding optional) encodes, or None."""
    if not _B64.fullmatch(token) or len(token.rstrip("=")) % 4 == 1:
        return None
    raw = token.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def decodings(token: str) -> list[str]:
    """Every text ``token`` decodes to within ``MAX_LAYERS`` layers (percent and base64)."""
    out, layer = [], [token[:MAX_ENCODED_CHARS]]
    for _ in range(MAX_LAYERS):
        nxt = []
        for t in layer:
            if "%" in t and (u := _unquote(t)) is not None and u != t:
                nxt.append(u)
            if (d := _b64(t)) is not None:
                nxt.append(d)
        out += nxt
        layer = [t for t in nxt if len(t) >= 8]
        if not layer:
            break
    return out


def _unquote(token: str) -> Optional[str]:
    """One layer of percent-decoding, or None when the bytes are not UTF-8."""
    try:
        return unquote(token, errors="strict")
    except UnicodeDecodeError:
        return None


def _has_email(text: str) -> bool:
    for m in _EMAIL.finditer(text):
        domain = m.group().rsplit("@", 1)[1].lower()
        tld = domain.rsplit(".", 1)[-1]
        if tld in SPECIAL_USE_TLDS or tld.startswith("xn--") or suffix_extractor()(domain).suffix:
            return True
    return False


class LetheEncodedEmailRecognizer(LetheRegexRecognizer):
    """Base64- and percent-encoded e-mail addresses (see the module docstring)."""

    ENTITY = "EMAIL_ADDRESS"
    PATTERNS = [("encoded", r"[A-Za-z0-9+/_%.=-]{8,512}", 0.95)]

    def shrink(self, text: str, start: int, end: int):  # noqa: D102 - the run, then its parts
        if start > 0 and text[start - 1] in _TOKEN_CHARS:
            return  # inside a longer run (over 512 characters): never decoded in part
        if end < len(text) and text[end] in _TOKEN_CHARS:
            return
        value = text[start:end]
        if "@" in value:
            return  # a plain address: the e-mail recognizer's
        cut = max((i for i in range(len(value) - 1) if value[i] == "=" and value[i + 1] not in "=/"),
                  default=-1)
        if cut >= 0:  # ``u=am9obi...``: the value after the key
            start, value = start + cut + 1, value[cut + 1:]
        elif start > 0 and text[start - 1] not in _BEFORE:
            return
        yield start, end
        if "/" in value:  # a path ``/r/am9obi...=/open``: each segment
            offset = start
            for part in value.split("/"):
                if len(part) >= 8:
                    yield offset, offset + len(part)
                offset += len(part) + 1

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """Accept when a decoding of the run holds an e-mail address."""
        token = text[start:end]
        if len(token) < 8:
            return None
        return score if any(_has_email(d) for d in decodings(token)) else None
