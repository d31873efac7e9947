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

Reversible surrogates (``SurrogateOperator``, ``"surrogate"``): a realistic value of the same type
(``services.anonymization.surrogates``: Faker-made) drawn with the seed HMAC-SHA256(HKDF-derived
seed key, type 0x1F normalised value 0x1F attempt), so it is stable per (session key, value) and
unrelated across keys. The operator collects surrogate -> (type, original) in ``mapping``; a value
the map already holds keeps its surrogate, and a draw the map refuses (``surrogates.SurrogateMap``:
taken, a prefix of another surrogate or one its prefix, showing an original of the map, itself or
a part of its own value, or standing in the ``text`` being de-identified) is redrawn (attempt + 1), so putting
the originals back is exact. ``reidentify`` puts originals back; ``surrogates.seal`` keeps the map
under the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
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
    """Replace a value by ``<TYPE_xxxxxxxx>`` derived with HMAC-SHA256 under a 32-byte key.

    :param mapping: when given, every surrogate made is recorded in it (surrogate -> ``(type,
        original)``, the first original kept), for a caller that puts the originals back; a
        pseudonym another value already has there (equal first 8 hex digits: about n²/2³³ for n
        values) moves on to the digest's next 8 hex digits, so a map never names two values.
    """

    name = "pseudonym"

    def __init__(self, mapping: dict[str, tuple[str, str]] | None = None) -> None:
        self.mapping = mapping

    def validate(self, pseudonym_key: bytes | None) -> None:
        """:raises ValueError: when the key is missing, not bytes, or not exactly 32 bytes."""
        if not isinstance(pseudonym_key, (bytes, bytearray)) or len(pseudonym_key) != PSEUDONYM_KEY_BYTES:
            raise ValueError(f"pseudonym operator needs a {PSEUDONYM_KEY_BYTES}-byte key")

    def operate(self, entity_type: str, value: str, pseudonym_key: bytes | None) -> str:
        """Return ``<TYPE_`` + 8 hex digits of HMAC-SHA256(key, type 0x1F normalised value) + ``>``
        (the first 8 unless another value of ``mapping`` has them). :raises ValueError: when all 8
        groups of the digest are taken by other values."""
        assert pseudonym_key is not None
        wanted = normalise_value(entity_type, value)
        message = f"{entity_type}\x1f{wanted}".encode("utf-8")
        digest = hmac.new(bytes(pseudonym_key), message, hashlib.sha256).hexdigest()
        for at in range(0, len(digest), 8):
            surrogate = f"<{entity_type}_{digest[at:at + 8]}>"
            if self.mapping is None:
                return surrogate
            taken = self.mapping.setdefault(surrogate, (entity_type, value))
            if taken[0] == entity_type and normalise_value(*taken) == wanted:
                return surrogate
        raise ValueError("no free pseudonym")


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


class SurrogateOperator(PseudonymOperator):
    """Replace a value by a realistic surrogate of its type, stable per (key, value); the map back to
    the originals is kept in ``mapping`` (surrogate -> ``(type, original)``).

    :param mapping: an earlier map of the session: a value it holds keeps its surrogate, and its
        surrogates are never reused for another value; or None.
    :param text: the text being de-identified, and ``values`` its values (``text[d.start:d.end]``
        of every entity): given, no surrogate stands in the text's own words or shows any of its
        values, later ones included (``surrogates.SurrogateMap``).
    """

    name = "surrogate"
    MAX_ATTEMPTS = 256

    def __init__(self, mapping: dict[str, tuple[str, str]] | None = None,
                 text: str = "", values: Iterable[str] = ()) -> None:
        from .surrogates import SurrogateMap

        self._map = SurrogateMap(mapping, text, values)
        self.mapping = self._map.mapping

    def operate(self, entity_type: str, value: str, pseudonym_key: bytes | None) -> str:
        """Return the surrogate: the one ``value`` already has in the map, else the first free draw
        (attempt 0, 1, ... of the seed). :raises ValueError: when no free surrogate was drawn (a map
        that large is refused rather than made ambiguous)."""
        from .surrogates import fake_value

        assert pseudonym_key is not None
        given = self._map.given(entity_type, value)
        if given is not None:
            return given
        seed_key = hmac.new(bytes(pseudonym_key), b"lethe surrogate seed v1", hashlib.sha256).digest()
        wanted = normalise_value(entity_type, value)
        for attempt in range(self.MAX_ATTEMPTS):
            message = f"{entity_type}\x1f{wanted}\x1f{attempt}".encode("utf-8")
            seed = int.from_bytes(hmac.new(seed_key, message, hashlib.sha256).digest()[:8], "big")
            candidate = fake_value(entity_type, value, seed)
            if candidate is not None and self._map.free(candidate, value):
                self._map.add(candidate, entity_type, value)
                return candidate
        raise ValueError("no free surrogate")


def reidentify(text: str, mapping: dict[str, tuple[str, str]]) -> tuple[str, Counter[str]]:
    """Put the originals back in place of the surrogates in ``text`` (longest surrogate first; a
    surrogate starting or ending with a letter or digit must stand as a whole word).

    :returns: the text and the number of values put back per entity type. Time is linear in
        ``len(text)`` times the surrogates sharing a 2-character prefix.
    """
    from .surrogates import stands_at

    by_prefix: dict[str, list[str]] = {}
    for s in sorted(mapping, key=len, reverse=True):
        by_prefix.setdefault(s[:2], []).append(s)
    counts: Counter[str] = Counter()
    parts, cursor, i = [], 0, 0
    while i < len(text) - 1:
        hit = next((s for s in by_prefix.get(text[i:i + 2], ()) if stands_at(text, s, i)), None)
        if hit is None:
            i += 1
            continue
        etype, original = mapping[hit]
        parts += [text[cursor:i], original]
        counts[etype] += 1
        cursor = i = i + len(hit)
    parts.append(text[cursor:])
    return "".join(parts), counts


OPERATORS: dict[str, type[Operator]] = {
    PlaceholderOperator.name: PlaceholderOperator,
    MaskOperator.name: MaskOperator,
    PseudonymOperator.name: PseudonymOperator,
    SurrogateOperator.name: SurrogateOperator,
}


def get_operator(name: str) -> Operator:
    """Return the operator registered under ``name``. :raises ValueError: for an unknown name."""
    try:
        return OPERATORS[name]()
    except KeyError:
        raise ValueError(f"unknown operator; choose one of {sorted(OPERATORS)}") from None
