"""NER pass: names in text written entirely in lower case (``ask silvana about it``).

Every word the model's lexicon does not know gets a capital first letter in a copy (one code point for
one, so offsets carry over); the copy's PERSON entities over such words are added as ``LC_PERSON``
spans, with the other one-word items of a lower-case list they belong to. No list of names: the
lexicon only says which words are common English.
"""

from __future__ import annotations

import re

from ..resolution import overlaps as _overlaps

def add_lower_variants(nlp, disabled: list[str], texts: list[str], ner: list[list], batch_size: int) -> None:
    """Re-run NER on a case-restored copy of each text written entirely in lower case.

    Every word the model's lexicon does not know (not a stop word, not an English noun, verb,
    adjective or adverb, nor an inflection of one) gets a capital first letter, one code point for
    one, so offsets carry over. The copy's PERSON entities that cover such a word are added as
    ``LC_PERSON`` spans (no list of names: the lexicon only says which words are common English).
    """
    jobs = []
    for i, text in enumerate(texts):
        if len(text) > _LOWER_MAX or any(c.isupper() for c in text):
            continue
        chars, titled = list(text), []
        for m in _LOWER_WORDS.finditer(text):
            w = m.group()
            if len(w) < 2 or _known_word(nlp, w):
                continue
            up = w[0].upper()
            if len(up) == 1 and up != w[0]:
                chars[m.start()] = up
                titled.append(m.start())
        if titled:
            jobs.append((i, titled, "".join(chars)))
    if not jobs:
        return
    variants = nlp.pipe([v for *_, v in jobs], disable=disabled, batch_size=batch_size)
    for (i, titled, _), doc in zip(jobs, variants):
        text = texts[i]
        places = [(s, e) for label, s, e in ner[i] if label in _PLACE_LABELS]
        for e in doc.ents:
            s, t = e.start_char, e.end_char
            if (e.label_ in ("PERSON", "PER") and any(s <= c < t for c in titled)
                    and not any(ch.isdigit() for ch in e.text)
                    and not _NUMBER_BEFORE.search(text, 0, s) and not _NUMBER_AFTER.match(text, t)
                    and not any(_overlaps((s, t), p) for p in places)):
                ner[i].append(("LC_PERSON", s, t))
                ner[i].extend(("LC_PERSON", a, b) for a, b in list_siblings(nlp, text, s, t))


_LOWER_MAX = 2000
_PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
# A word next to a number in an address (``2613 avenida praia``, ``hegyalja út 98``) is no name.
_NUMBER_BEFORE = re.compile(r"\d[ \t,.]*$")
_NUMBER_AFTER = re.compile(r"[ \t,]*\d")
_LOWER_WORDS = re.compile(r"[^\W\d_]+")
_LEXICON: dict = {}


def _known_word(nlp, word: str) -> bool:
    """True when ``word`` is a stop word or in the model lemmatizer's English word lists (by itself or
    as a regular inflection: ``-s``, ``-es``, ``-ed``, ``-ing``, ``-ly``, ``-er``, ``-est``)."""
    if not _LEXICON:
        words: set[str] = set(nlp.Defaults.stop_words)
        try:
            lookups = nlp.get_pipe("lemmatizer").lookups
            if lookups.has_table("lemma_index"):  # part of speech -> base forms
                for forms in lookups.get_table("lemma_index").values():
                    words.update(forms)
            if lookups.has_table("lemma_exc"):  # part of speech -> {irregular form: base forms}
                for forms in lookups.get_table("lemma_exc").values():
                    words.update(forms.keys())
        except Exception:  # noqa: BLE001 - no lemmatizer tables: only stop words count as known
            pass
        _LEXICON["words"] = frozenset(words)
    known = _LEXICON["words"]
    if word in known:
        return True
    for suffix, repl in (("s", ""), ("es", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"),
                         ("ly", ""), ("er", ""), ("est", ""), ("ies", "y"), ("ied", "y")):
        if word.endswith(suffix) and len(word) > len(suffix) + 1 and word[: -len(suffix)] + repl in known:
            return True
    return False


# A one-word item of a lower-case enumeration: ``silvana, adam, christopher and caleb``.
_LC_ITEM = re.compile(r"[^\W\d_]+")
_LIST_SEP = re.compile(r"[ \t]*,[ \t]*(?:and[ \t]+|or[ \t]+)?|[ \t]+(?:and|or)[ \t]+")


def list_siblings(nlp, text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The other one-word items of a comma/``and`` list holding the one-word name ``text[start:end]``
    (``they had 6: silvana, adam, christopher and caleb``): only for a list of 3+ items joined by
    ``and``/``or`` at least once, and never an item the lexicon knows as a stop word, verb, adjective
    or adverb."""
    if not _LC_ITEM.fullmatch(text, start, end):
        return []
    items = [(start, end)]
    pos = start  # leftwards: ``, word`` before the current item
    while True:
        m = re.search(r"([^\W\d_]+)(?:[ \t]*,[ \t]*(?:and[ \t]+|or[ \t]+)?|[ \t]+(?:and|or)[ \t]+)$",
                      text[max(0, pos - 40):pos])
        if not m:
            break
        a = max(0, pos - 40) + m.start(1)
        items.insert(0, (a, a + len(m.group(1))))
        pos = a
    pos = end
    while True:
        sep = _LIST_SEP.match(text, pos)
        item = sep and _LC_ITEM.match(text, sep.end())
        if not item:
            break
        items.append(item.span())
        pos = item.end()
    if len(items) < 3 or not any(_LIST_SEP.match(text, a[1]).group().strip(" \t,") for a in items[:-1]
                                 if _LIST_SEP.match(text, a[1])):
        return []
    words = _LEXICON.get("pos") or _pos_words(nlp)
    return [(a, b) for a, b in items if (a, b) != (start, end) and text[a:b] not in words]


def _pos_words(nlp) -> frozenset:
    """Stop words and the lemmatizer's verbs, adjectives and adverbs (not its nouns, which hold names)."""
    words: set[str] = set(nlp.Defaults.stop_words)
    try:
        from spacy.strings import get_string_id

        index = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_index")
        for pos in ("adj", "adv", "verb"):
            key = get_string_id(pos)
            if key in index:
                words.update(index[key])
    except Exception:  # noqa: BLE001 - no lemmatizer tables: stop words only
        pass
    _LEXICON["pos"] = frozenset(words)
    return _LEXICON["pos"]
