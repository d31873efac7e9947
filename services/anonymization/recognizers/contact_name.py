"""Person names written next to their own e-mail address: ``Jane Doe jane.doe@example.com``,
``Jane Doe <jdoe@example.com>``, ``Ana María Núñez 🇪🇸 ana@example.com``.

Two kinds of evidence, both without any list of names:

* the address's local part spells the words before it (``jane.doe``, ``jdoe``, ``doe_jane``,
  ``janedoe``, ``ana``): compared with accents folded, case ignored; the name is the run of
  capitalised words ending just before the address, from the leftmost word the local part names;
* the display-name form ``First Last <address>`` (two or three capitalised words, none a common
  field, organisation or stop word): scored lower, as a team mailbox can look the same.
"""

from __future__ import annotations

import re
import unicodedata

from presidio_analyzer import RecognizerResult

from .base import LetheRuleRecognizer
from .names import STOP

_EMAIL = re.compile(r"(?<![\w.+-])(?P<local>[\w.+-]+)@[\w-]+(?:\.[\w-]+)+")
_WORD = r"[^\W\d_a-z][^\W\d_]*(?:['’-][^\W\d_]+)*\.?"
# Up to four capitalised words (or initials), then what may sit between a name and its address:
# spaces, brackets, a colon or dash, symbols and emoji, or a short connector (``at``, ``via``).
_BEFORE = re.compile(
    r"(?<![\w.'’-])(?P<name>" + _WORD + r"(?:[ \t]+" + _WORD + r"){0,3})"
    r"(?P<gap>(?:[ \t]|[^\w\s.!?;\"'])*(?:[ \t]+(?:at|via|e-?mail|mail)[ \t:]*)?[<(\[]?)$"
)
_WORD_RX = re.compile(_WORD)
_NOT_NAME = frozenset(
    """contact email e-mail mail from to cc bcc reply sender support team sales info admin help office
    service services customer customers dear hi hello hey attn attention regards thanks name author
    owner user users manager department desk noreply no-reply write send reach ask call""".split()
)
_ORG = re.compile(
    r"(?i)\b(?:inc|llc|ltd|plc|gmbh|corp|company|group|bank|university|team|support|service|services|"
    r"office|department|desk|news|newsletter|billing|sales|marketing|admin|info|help|hr)\b"
)


def fold(value: str) -> str:
    """Lower case without accents: ``Núñez`` -> ``nunez``."""
    decomposed = unicodedata.normalize("NFKD", value.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _parts(local: str) -> list[str]:
    return [p for p in re.split(r"[._+\-\d]+", fold(local)) if p]


def _named(word: str, parts: list[str], joined: str, initials: str) -> bool:
    """True when the local part spells ``word`` (a whole part, part of a joined name, or initial+word)."""
    w = fold(word.rstrip("."))
    if len(w) < 2:
        return False
    if w in parts:
        return True
    if len(w) >= 3 and w in joined and len(joined) <= len(w) + 20:
        # ``janedoe`` / ``jdoe`` / ``doej``: the word plus other names' letters or initials.
        rest = joined.replace(w, "", 1)
        return len(rest) <= 1 or rest in initials or any(rest.startswith(i) for i in initials if i)
    return False


class LetheContactNameRecognizer(LetheRuleRecognizer):
    """PERSON for the capitalised words just before an e-mail address that names them."""

    ENTITY = "PERSON"

    def find(self, text: str, nlp_artifacts=None) -> list[RecognizerResult]:  # noqa: D102 - see the class docstring
        out = []
        for m in _EMAIL.finditer(text):
            window_start = max(0, m.start() - 80)
            line_start = text.rfind("\n", window_start, m.start()) + 1
            b = _BEFORE.search(text, max(window_start, line_start), m.start())
            if not b or len(b.group("gap")) > 12 or "\n" in b.group("gap"):
                continue
            words = [(w.start(), w.end(), w.group()) for w in _WORD_RX.finditer(text, b.start("name"), b.end("name"))]
            parts = _parts(m.group("local"))
            joined = "".join(parts)
            initials = "".join(fold(w)[0] for _, _, w in words)
            first = None
            for k, (_, _, w) in enumerate(words):
                if _named(w, parts, joined, initials):
                    first = k
                    break
            if first is not None:
                # ``Jane Doe jdoe@``: the word before a matched one counts when its initial is spelled too.
                w = fold(words[first][2].rstrip("."))
                if first > 0 and joined.replace(w, "", 1)[:1] == fold(words[first - 1][2])[:1]:
                    first -= 1
                name = words[first:]
                # Leading words that are not names (``Contact``, ``Email``) never start the span.
                while name and fold(name[0][2].rstrip(".")) in _NOT_NAME | STOP:
                    name = name[1:]
                if name and not _ORG.search(text[name[0][0]:name[-1][1]]):
                    end = name[-1][1]
                    if name[-1][2].endswith(".") and len(name[-1][2]) > 2:  # a full stop, not an initial
                        end -= 1
                    out.append(RecognizerResult(self.ENTITY, name[0][0], end, 0.9))
                continue
            gap = b.group("gap").strip()
            if gap.startswith(("<", "(", "[")) or gap.endswith(("<", "(", "[")):
                name = [w for w in words if fold(w[2].rstrip(".")) not in _NOT_NAME | STOP]
                # Only the trailing run of name words, two or three of them.
                while name and name[0] is not words[len(words) - len(name)]:
                    name = name[1:]
                if 2 <= len(name) <= 3 and not _ORG.search(text[name[0][0]:name[-1][1]]) and not any(
                    w[2].isupper() and len(w[2]) > 1 for w in name
                ):
                    out.append(RecognizerResult(self.ENTITY, name[0][0], name[-1][1], 0.75))
        return out
