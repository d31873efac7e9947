"""De-identification operators: what replaces a detected value.

Each operator is a small class with ``validate`` (checks parameters, raises ``ValueError``) apart
from ``operate`` (value -> replacement), registered by name in ``OPERATORS``. Placeholders and masks
are ``presidio-anonymizer``'s ``Replace`` and ``Mask`` operators; the pseudonym is Lethe's own, also
offered as a Presidio operator (``PresidioPseudonymOperator``) for use in Presidio's
``AnonymizerEngine``.

Masks: every character becomes ``*``, but a card number keeps its last 4 digits (what a receipt
shows, PCI DSS 3.4).

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

from presidio_anonymizer.operators import Mask, OperatorType, Replace
from presidio_anonymizer.operators import Operator as _PresidioOperator

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
    """Replace every value by ``<TYPE>`` (Presidio's ``Replace``)."""

    name = "placeholder"
    _replace = Replace()

    def operate(self, entity_type: str, value: str, pseudonym_key: bytes | None) -> str:
        """Return ``<TYPE>``."""
        return self._replace.operate(value, {"new_value": f"<{entity_type}>"})


class MaskOperator(Operator):
    """Replace every character by ``*`` (Presidio's ``Mask``); card numbers keep their last 4 digits."""

    name = "mask"
    _mask = Mask()

    def operate(self, entity_type: str, value: str, pseudonym_key: bytes | None) -> str:
        """Return the masked value, as long as ``value``."""
        keep = 0
        if entity_type == "CREDIT_CARD" and sum(c.isdigit() for c in value) >= 12:
            keep = len(value) - max(i for i, c in enumerate(value) if c.isdigit() and sum(
                d.isdigit() for d in value[i:]) == 4)
        return self._mask.operate(value, {"masking_char": "*", "chars_to_mask": len(value) - keep,
                                          "from_end": False})


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


class PresidioPseudonymOperator(_PresidioOperator):
    """Lethe's pseudonym as a ``presidio-anonymizer`` operator: register it with
    ``AnonymizerEngine().add_anonymizer(PresidioPseudonymOperator)`` and use
    ``OperatorConfig("lethe_pseudonym", {"key": <32 bytes>, "entity_type": <type>})``."""

    def operate(self, text: str = None, params: dict = None) -> str:  # noqa: D102 - see the class
        return PseudonymOperator().operate(params.get("entity_type", "PII"), text or "", params["key"])

    def validate(self, params: dict = None) -> None:  # noqa: D102 - a 32-byte ``key``
        PseudonymOperator().validate((params or {}).get("key"))

    def operator_name(self) -> str:  # noqa: D102
        return "lethe_pseudonym"

    def operator_type(self) -> OperatorType:  # noqa: D102
        return OperatorType.Anonymize


OPERATORS: dict[str, type[Operator]] = {
    PlaceholderOperator.name: PlaceholderOperator,
    MaskOperator.name: MaskOperator,
    PseudonymOperator.name: PseudonymOperator,
}


def get_operator(name: str) -> Operator:
    """Return the operator registered under ``name``. :raises ValueError: for an unknown name."""
    try:
        return OPERATORS[name]()
    except KeyError:
        raise ValueError(f"unknown operator; choose one of {sorted(OPERATORS)}") from None
