"""De-identification operators: what replaces a detected value.

Each operator is a small class with ``validate`` (checks parameters, raises ``ValueError``) apart
from ``operate`` (value -> replacement), registered by name in ``OPERATORS``.

Pseudonyms: ``<TYPE_xxxxxxxx>`` where ``xxxxxxxx`` is the first 4 bytes (8 hex digits) of
HMAC-SHA256(key, UTF-8(type + 0x1F + normalised value)). The key is exactly 32 bytes. The same value
and key always give the same surrogate (session consistency); another key gives an unrelated one;
the surrogate reveals nothing about the value without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import ClassVar

PSEUDONYM_KEY_BYTES = 32
_COMPACT_TYPES = frozenset({"PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "ID_NUMBER"})
_SPACE = re.compile(r"\s+")


def normalise_value(entity_type: str, value: str) -> str:
    """Canonical form of a value for pseudonymisation.

    NFKC, case-folded, whitespace collapsed; for number-like types only letters and digits are kept,
    so ``4111 1111 1111 1111`` and ``4111-1111-1111-1111`` get the same surrogate.
    """
    value = _SPACE.sub(" ", unicodedata.normalize("NFKC", value)).strip().casefold()
    if entity_type in _COMPACT_TYPES:
        value = "".join(ch for ch in value if ch.isalnum())
    return value


class Operator:
    """Base class: ``validate`` the parameters once, then ``operate`` per entity."""

    name: ClassVar[str] = ""

    def validate(self, pseudonym_key: bytes | None) -> None:
        """Raise ``ValueError`` when the parameters are unusable. Default: nothing to check."""

    def operate(self, entity_type: str, value: str, pseudonym_key: bytes | None) -> str:
        """Return the replacement text for one entity (never logs ``value``)."""
        raise NotImplementedError


class PlaceholderOperator(Operator):
    """Replace every value by ``<TYPE>``."""

    name = "placeholder"

    def operate(self, entity_type: str, value: str, pseudonym_key: bytes | None) -> str:
        """Return ``<TYPE>``."""
        return f"<{entity_type}>"


class PseudonymOperator(Operator):
    """Replace a value by ``<TYPE_xxxxxxxx>`` derived with HMAC-SHA256 under a 32-byte key."""

    name = "pseudonym"

    def validate(self, pseudonym_key: bytes | None) -> None:
        """:raises ValueError: when the key is missing, not bytes, or not exactly 32 bytes."""
        if not isinstance(pseudonym_key, (bytes, bytearray)) or len(pseudonym_key) != PSEUDONYM_KEY_BYTES:
            raise ValueError(f"pseudonym operator needs a {PSEUDONYM_KEY_BYTES}-byte key")

    def operate(self, entity_type: str, value: str, pseudonym_key: bytes | None) -> str:
        """Return ``<TYPE_`` + 8 hex digits of HMAC-SHA256(key, type 0x1F normalised value) + ``>``."""
        assert pseudonym_key is not None
        message = f"{entity_type}\x1f{normalise_value(entity_type, value)}".encode("utf-8")
        digest = hmac.new(bytes(pseudonym_key), message, hashlib.sha256).hexdigest()
        return f"<{entity_type}_{digest[:8]}>"


OPERATORS: dict[str, type[Operator]] = {
    PlaceholderOperator.name: PlaceholderOperator,
    PseudonymOperator.name: PseudonymOperator,
}


def get_operator(name: str) -> Operator:
    """Return the operator registered under ``name``. :raises ValueError: for an unknown name."""
    try:
        return OPERATORS[name]()
    except KeyError:
        raise ValueError(f"unknown operator; choose one of {sorted(OPERATORS)}") from None
