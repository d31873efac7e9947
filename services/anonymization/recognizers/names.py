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
# Lower-case words that end a lower-case name after an explicit cue (``my name is peter parker and
# ...``, ``name: lisa simpson speaking``): verbs, adverbs and small talk that follow introductions.
LOWER_STOP = frozenset(
    """speaking calling writing here from nice pleased glad happy thanks thx please im i'm living live
    lives born aged age years year old working work works studying study currently today now again too
    also sir madam btw lol ok okay hi hello hey by so just really not dont don't cant can't how what when
    where who why which can could would should will shall may might must have has had do does did am
    got get want need like love call text email mail contact reach meet good fine well sure yes no
    nope yeah yep and or but then there their they was were be been being if as at on in into onto
    with without about for of off out up down over under let lets let's see said say says tell
    told ask asked""".split()
)


_FIRST_PERSON = frozenset({"i", "i'm", "im", "i've", "i'd", "i'll", "i’m"})
# Abbreviations whose full stop does not end a name: titles and suffixes.
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "mx", "dr", "prof", "rev", "hon", "st", "jr", "sr", "mme",
                            "mlle", "sra", "sr", "herr", "frau", "capt", "col", "gen", "lt", "sgt", "fr"})


def scan_name(text: str, pos: int, max_tokens: int = 4, allow_lower: bool = False) -> tuple[int, int]:
    """Scan name tokens starting at ``pos``; return ``(start, end)`` of the name or ``(pos, pos)``.

    A token counts when it starts with an upper-case letter (any script), is an initial such as
    ``A.`` or ``Z.M.``, or is a particle (``van``, ``de``) followed by another token. With
    ``allow_lower`` lower-case words count too (``my name is peter parker``): up to three, ending at
    punctuation, a stop word, a common verb or small-talk word (``LOWER_STOP``), or an ``-ing``/``-ly``
    word.
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
        if word.lower() in _FIRST_PERSON:
            break  # ``Hello, I'm Jonathan``: the greeting's name starts after ``I'm``
        if word[0].isupper():
            tokens.append(m.span())
        elif word.lower() in PARTICLES and tokens:
            tokens.append(m.span())
        elif (allow_lower and len(tokens) < 3 and word.isalpha() and len(word) > 1
              and word.lower() not in LOWER_STOP and not word.lower().endswith(("ing", "ly"))):
            tokens.append(m.span())
        else:
            break
        j = m.end()
        if (text[j - 1] == "." and word.lower() not in _ABBREVIATIONS
                and not re.fullmatch(r"(?:[^\W\d_]\.)+", text[m.start():j])):
            break  # ``Jonathan Hunt. Wire the refund``: a full stop after a word ends the sentence
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
