"""A house number right before a place is part of the address: ``4026 Bishop Island``."""

from __future__ import annotations

import re

# A house number right before a place name ("4026 Bishop Island, ..."): part of the address.
_HOUSE_NUMBER = re.compile(r"(?<![\w.,:/-])\d{1,6}[A-Za-z]?[ \t]+$")


def attach_house_numbers(text: str, hard: list[list], soft: list[list]) -> list[list]:
    """Extend each LOCATION over a house number that directly precedes it, so no part of a street
    address survives half-redacted. Changes the spans in place; never overlaps another entity."""
    entities = hard + soft
    taken = sorted((c[1], c[2]) for c in entities)
    for c in entities:
        if c[0] != "LOCATION":
            continue
        m = _HOUSE_NUMBER.search(text, max(0, c[1] - 12), c[1])
        if m and not any(s < c[1] and e > m.start() for s, e in taken if (s, e) != (c[1], c[2])):
            c[1] = m.start()
    return soft
