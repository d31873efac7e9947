"""Surrogates for the upstream and their re-identification on the way back (``--forward redacted``).

A prompt leaves with ``<TYPE_xxxxxxxx>`` surrogates (the anonymization engine's pseudonym
operator) in place of personal data. The session's pseudonym key is
``HMAC-SHA256(gateway secret, "pseudonym" 0x00 session id)`` (32 bytes; the secret is the key
``gateway/pseudonym`` of the key source), so the same value gets the same surrogate in every turn
of a conversation, and another conversation gets unrelated ones. The surrogate -> original map
lives in memory for one request only.

:class:`StreamingReidentifier` replaces surrogates in a stream of text pieces: a trailing piece
that could still become a surrogate (``<``, ``<PERS``, ``<PERSON_1f``...) is held back until the
next piece completes or refutes it, so a surrogate split across two chunks is still replaced.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

SURROGATE = re.compile(r"<([A-Z][A-Z_]*)_[0-9a-f]{8}>")
_PARTIAL = re.compile(r"<(?:[A-Z][A-Z_]*[0-9a-f]{0,8})?")
MAX_SURROGATE_CHARS = 64


def session_key(secret: bytes, session_id: str) -> bytes:
    """The session's 32-byte pseudonym key; raises ValueError when the secret is not 32 bytes."""
    if len(secret) != 32:
        raise ValueError("gateway secret must be 32 bytes")
    return hmac.new(secret, b"pseudonym\0" + session_id.encode("ascii"), hashlib.sha256).digest()


@dataclass
class Surrogates:
    """Surrogate -> original value for one request, and re-identifications per entity type."""

    originals: dict[str, str] = field(default_factory=dict)
    reidentified: Counter[str] = field(default_factory=Counter)

    def replace(self, text: str) -> str:
        """Put the originals back in ``text`` (unknown surrogates stay as they are)."""
        def back(m: re.Match[str]) -> str:
            original = self.originals.get(m.group(0))
            if original is None:
                return m.group(0)
            self.reidentified[m.group(1)] += 1
            return original
        return SURROGATE.sub(back, text)


class StreamingReidentifier:
    """Re-identifies a text that arrives in pieces; ``feed`` each piece, ``flush`` at the end."""

    def __init__(self, surrogates: Surrogates) -> None:
        self.surrogates = surrogates
        self.held = ""

    def feed(self, piece: str) -> str:
        """The re-identified text that is safe to emit now (possibly empty)."""
        text = self.held + piece
        cut = len(text)
        start = text.rfind("<")
        if start >= 0 and len(text) - start <= MAX_SURROGATE_CHARS and _PARTIAL.fullmatch(text, start):
            cut = start
        self.held = text[cut:]
        return self.surrogates.replace(text[:cut])

    def flush(self) -> str:
        """Whatever is still held back (the stream ended)."""
        text, self.held = self.held, ""
        return self.surrogates.replace(text)


class Redactor:
    """Replaces personal data in texts with session-consistent surrogates (in-process engine).

    ``engine`` is a :class:`services.anonymization.engine.DetectionEngine` (loaded once, about a
    second); ``redact`` is CPU-bound: call it off the event loop.
    """

    def __init__(self, engine: Any, secret: bytes) -> None:
        from services.anonymization.engine import deidentify

        self.engine = engine
        self.secret = secret
        self._deidentify = deidentify

    def redact(self, texts: list[str], session_id: str, surrogates: Surrogates) -> list[str]:
        """The texts with surrogates in place of detected entities; fills ``surrogates``."""
        from services.anonymization.operators import PseudonymOperator

        key = session_key(self.secret, session_id)
        made: dict[str, tuple[str, str]] = {}
        operator = PseudonymOperator(mapping=made)  # the engine's operator records what it replaced
        out = [self._deidentify(text, found, operator, key)
               for text, found in zip(texts, self.engine.analyze_batch(texts) if texts else [], strict=True)]
        for surrogate, (_type, value) in made.items():
            surrogates.originals.setdefault(surrogate, value)
        return out
