"""The text detection sees, and the offset map back to the original text.

Detection runs on a *normalised* copy of each text:

- format characters (Unicode category Cf: zero-width space and joiners, word joiner, BOM, soft
  hyphen, bidi controls, tags) and combining marks (Mn, Me) are **removed**, so that
  ``523\\u200b-71-\\u200b4418`` reads ``523-71-4418`` and an invisible character never splits a value;
- look-alike dashes, spaces and quotes are mapped to ASCII, emoji and pictographs to a space (glued
  to a name they hide it from the model);
- confusable digits and symbols are folded: any decimal digit (Arabic-Indic, Devanagari, fullwidth,
  mathematical...) to its ASCII digit, any character whose NFKC form is one character to that
  character (fullwidth ``＠``, small ``﹫``, mathematical letters, circled digits...), plus a small
  table of dots and slashes NFKC keeps.

- ``%40`` between e-mail characters (a percent-encoded ``@``) is read as ``@``, and a JSON/JavaScript
  ``\\uXXXX`` escape as the character it stands for (``jane\\u0040example.com``).

``normalize_with_map`` returns the copy and a map from each of the copy's code points to the original
code points it stands for (``None`` when nothing was removed: offsets are then the same in both). ``to_original``
maps a span of the copy back to the original, widened over the combining marks that follow its last
character, so a redaction covers the original characters, invisible ones included.

Cost: one ``str.translate`` per text; the per-character map is built only for texts that hold a
character to remove (a regex search finds them).
"""

from __future__ import annotations

import re
import sys
import unicodedata

import re2

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d\u2043\u02d7"
_SPACES = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
# Emoji, pictographs, flags (regional indicators), dingbats, keycaps -> a space.
_EMOJI_RANGES = (
    (0x1F000, 0x1FAFF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x2300, 0x23FF),
)
# Confusable symbols NFKC leaves alone (or maps to more than one character).
_FOLD = {
    "\u2024": ".", "\u3002": ".", "\uff61": ".", "\u2027": ".", "\u2044": "/", "\u2215": "/",
    "\u066b": ".", "\u066c": ",", "\u060c": ",", "\u2018": "'", "\u2019": "'", "\u201c": '"',
    "\u201d": '"', "\u02bc": "'", "\u2032": "'",
}
_REMOVED_CATEGORIES = ("Cf", "Mn", "Me")
# Planes scanned when building the tables: the BMP, the SMP/SIP (mathematical letters, emoji,
# Adlam/Osmanya digits) and the tags plane.
_PLANES = ((0x80, 0x30000), (0xE0000, 0xE1000))


def _build() -> tuple[dict[int, str | None], str, str]:
    table: dict[int, str | None] = {}
    removed: list[str] = []
    marks: list[str] = []
    for lo, hi in _PLANES:
        for cp in range(lo, min(hi, sys.maxunicode + 1)):
            c = chr(cp)
            cat = unicodedata.category(c)
            if cat in _REMOVED_CATEGORIES:
                table[cp] = None
                removed.append(c)
                if cat != "Cf":
                    marks.append(c)
            elif cat == "Nd":
                table[cp] = str(unicodedata.decimal(c))
            elif cat != "Cn":
                folded = unicodedata.normalize("NFKC", c)
                if len(folded) == 1 and folded != c and unicodedata.category(folded) not in _REMOVED_CATEGORIES:
                    table[cp] = folded
    table.update({ord(c): "-" for c in _DASHES})
    table.update({ord(c): " " for c in _SPACES})
    table.update({ord(k): v for k, v in _FOLD.items()})
    for lo, hi in _EMOJI_RANGES:
        table.update({cp: " " for cp in range(lo, hi + 1)})
    return table, _char_class(removed), _char_class(marks) + "*"


def _char_class(chars: list[str]) -> str:
    """A regex class of ``chars`` (sorted) written as ranges: far faster to match than single members."""
    parts: list[str] = []
    cps = [ord(c) for c in chars]
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        parts.append(re.escape(chr(cps[i])) + ("-" + re.escape(chr(cps[j])) if j > i else ""))
        i = j + 1
    return "[" + "".join(parts) + "]"


_TABLE, _REMOVED_CLASS, _MARKS_CLASS = _build()
# ``%40`` between e-mail characters is a percent-encoded ``@`` (``jane.doe%40example.com``): read as one
# ``@`` mapped to its three original code points.
_PERCENT_AT = re.compile(r"(?<=[A-Za-z0-9._+-])%40(?=[A-Za-z0-9])")
# ``\u00e9``, ``\u0040``: a JSON/JavaScript escape is read as the character it stands for.
_U_ESCAPE = re.compile(r"(?<!\\)\\u([0-9A-Fa-f]{4})")
# RE2 (a DFA over UTF-8) tests this class ~60x faster than ``re`` on non-ASCII text; same meaning.
_REMOVED = re2.compile(_REMOVED_CLASS)
_MARK = re.compile(_MARKS_CLASS)


def removed_characters() -> list[str]:
    """Every code point normalisation removes (Cf, Mn, Me), for tests."""
    return [chr(cp) for cp, v in _TABLE.items() if v is None]


def normalize(text: str) -> str:
    """The normalised copy of ``text`` (see the module docstring); may be shorter than ``text``."""
    return normalize_with_map(text)[0]


OffsetMap = tuple[list[int], list[int]]


def normalize_with_map(text: str) -> tuple[str, OffsetMap | None]:
    """The normalised copy and its offset map.

    :param text: any str.
    :returns: ``(copy, index)``: ``index = (starts, ends)`` where ``copy[i]`` stands for
        ``text[starts[i]:ends[i]]``; or ``index`` is None when ``copy`` has exactly ``len(text)`` code
        points aligned one to one with ``text``.
    """
    if not ("%40" in text or "\\u" in text or (not text.isascii() and _REMOVED.search(text))):
        return text.translate(_TABLE), None
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    encoded = {m.start(): ("@", 3) for m in _PERCENT_AT.finditer(text)}
    for m in _U_ESCAPE.finditer(text):
        cp = int(m.group(1), 16)
        if not 0xD800 <= cp <= 0xDFFF:
            encoded[m.start()] = (chr(cp), 6)
    i, n = 0, len(text)
    while i < n:
        if i in encoded:
            c, width = encoded[i]
            out = _TABLE.get(ord(c), c)
            if out is not None:
                chars.append(out)
                starts.append(i)
                ends.append(i + width)
            i += width
            continue
        out = _TABLE.get(ord(text[i]), text[i])
        if out is not None:
            chars.append(out)
            starts.append(i)
            ends.append(i + 1)
        i += 1
    return "".join(chars), (starts, ends)


def to_original(text: str, index: OffsetMap | None, start: int, end: int) -> tuple[int, int]:
    """Map the span ``[start, end)`` of the normalised copy to the original ``text``.

    Characters removed inside the span are inside the result; combining marks right after the span's
    last character (they belong to it) are added to it.

    :raises IndexError: when the span is outside the copy.
    """
    if index is None:
        return start, end
    starts, ends = index
    return starts[start], _MARK.match(text, ends[end - 1]).end()
