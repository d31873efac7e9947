"""Shared helpers for the name recognizers: name-token scanning with Unicode capitals."""

from __future__ import annotations

import re

NAME_TOKEN = re.compile(r"(?:[^\W\d_]\.){1,3}(?=\s|$)|[^\W\d_](?:[\w'’-]*[^\W\d_])?\.?")
PARTICLES = frozenset(
    "van von der den de del della di da dos das du le la ten ter bin ibn al el mac st".split()
)
STOP = frozenset(
    """a an the and or but not no yes is are was be been to of in on at for with by from as it this
    that these those here there my your his her our their me you him them we they i mr mrs ms dr
    unknown none null n/a na redacted anonymous please thanks thank hello hi dear sir madam team
    all everyone customer client patient user admin support""".split()
)


def scan_name(text: str, pos: int, max_tokens: int = 4, allow_lower: bool = False) -> tuple[int, int]:
    """Scan name tokens starting at ``pos``; return ``(start, end)`` of the name or ``(pos, pos)``.

    A token counts when it starts with an upper-case letter (any script), is an initial such as
    ``A.`` or ``Z.M.``, or is a particle (``van``, ``de``) followed by another token. With
    ``allow_lower`` a lone lower-case word (``my name is adam``) counts unless it is a stop word.
    Single spaces, tabs or one hyphen separate tokens; newlines end the name.
    """
    tokens: list[tuple[int, int]] = []
    i = pos
    n = len(text)
    while len(tokens) < max_tokens and i < n:
        m = NAME_TOKEN.match(text, i)
        if not m:
            break
        word = m.group().rstrip(".")
        if word.lower() in STOP and not word.isupper():
            break
        if word[0].isupper():
            tokens.append(m.span())
        elif word.lower() in PARTICLES and tokens:
            tokens.append(m.span())
        elif allow_lower and not tokens and word.isalpha() and len(word) > 1:
            tokens.append(m.span())
            break
        else:
            break
        j = m.end()
        k = j
        while k < n and text[k] in " \t":
            k += 1
        if k == j or k - j > 2:
            break
        i = k
    while tokens and text[tokens[-1][0]:tokens[-1][1]].lower() in PARTICLES:
        tokens.pop()
    if not tokens:
        return pos, pos
    start, end = tokens[0][0], tokens[-1][1]
    # A trailing full stop belongs to the name only when the last token is an initial.
    if text[end - 1] == "." and not re.fullmatch(r"(?:[^\W\d_]\.)+", text[tokens[-1][0]:end]):
        end -= 1
    return start, end
