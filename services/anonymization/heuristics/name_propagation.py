"""A word seen in a PERSON entity marks its other mentions in the text as PERSON."""

from __future__ import annotations

import re

from ..resolution import SpanIndex as _SpanIndex

_NAME_WORD = re.compile(r"[^\W\d_][\w'-]*")


def propagate_person_names(text: str, hard: list[list], soft: list[list]) -> list[list]:
    """Within one text, a word seen inside a PERSON entity marks other mentions of it as PERSON.

    ``Bryan Maclean ... starring Maclean``: the second mention is added; a model span made only of
    such words (``ORGANIZATION: Christine``) is relabelled PERSON. Words must be capitalised and 3+
    letters long.
    """
    names = {
        m.group()
        for t, s, e, _ in soft
        if t == "PERSON"
        for m in _NAME_WORD.finditer(text, s, e)
        if len(m.group()) >= 3 and m.group()[0].isupper() and not m.group().isupper()
    }
    if not names:
        return soft
    for c in soft:
        if c[0] in ("ORGANIZATION", "LOCATION", "NRP"):
            words = [m.group() for m in _NAME_WORD.finditer(text, c[1], c[2])]
            if words and all(w in names for w in words):
                c[0] = "PERSON"
    taken = _SpanIndex(hard + soft)
    pattern = re.compile(r"(?<![\w'-])(?:" + "|".join(map(re.escape, sorted(names))) + r")(?![\w-])")
    added = []
    for m in pattern.finditer(text):
        if not taken.overlapping(*m.span()):
            added.append(["PERSON", m.start(), m.end(), 0.7])
    return soft + added
