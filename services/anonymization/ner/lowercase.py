"""NER pass: names in text written entirely in lower case (``ask silvana about it``).

Every word that may be a name gets a capital first letter in a copy (one code point for one, so offsets
carry over); the copy's PERSON entities over such words are added as ``LC_PERSON`` spans, with the
other one-word items of a lower-case list they belong to. A word may be a name when:
- the model's lexicon does not know it (``silvana``);
- it is a given name or surname of some Faker locale that the lexicon knows as a noun only, and either
  rare in English (Zipf < 3.5 in wordfreq's list: ``selma``) or next to another such word, across at
  most one initial (``benjamin a seiler``, ``codey m ross``): common words that are also names
  (``hunter``, ``max``, ``will``) are left alone by themselves;
- it is a rare noun right after a given name (``eva kleist``: the lexicon holds famous surnames as nouns);
- it is a single letter between two of them (a middle initial).
The copy's entities of other types that cover a given name and one or two more such words, nothing else,
are people too (the small model calls ``Andrei Nistor`` an organisation), and so are the people that the
cue recognizers find in the copy (``sophie: remember me?``, ``she named him frederik``, ``ms. orlov``,
``what's your last name? gintalas``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..name_lexicon import given_names, surnames
from ..resolution import overlaps as _overlaps

def add_lower_variants(nlp, disabled: list[str], texts: list[str], ner: list[list], batch_size: int) -> None:
    """Re-run NER on a case-restored copy of each text written entirely in lower case.

    Every word that may be a name (module docstring) gets a capital first letter, one code point for
    one, so offsets carry over. The copy's PERSON entities that cover such a word are added as
    ``LC_PERSON`` spans.
    """
    jobs = []
    for i, text in enumerate(texts):
        if len(text) > _LOWER_MAX or any(c.isupper() for c in text):
            continue
        chars, titled = list(text), []
        words = list(_LOWER_WORDS.finditer(text))
        named = [len(m.group()) > 1 and (_name_like(nlp, m.group()) or _name_pair(nlp, words, k, text))
                 for k, m in enumerate(words)]
        for k in range(len(words) - 1):  # the surname after a given name (``eva kleist``)
            if named[k] and _surname_after(nlp, words, k, text):
                named[k + 1] = True
        for k, m in enumerate(words):
            initial = (len(m.group()) == 1 and 0 < k < len(words) - 1 and named[k - 1] and named[k + 1]
                       and _GAP.fullmatch(text, words[k - 1].end(), words[k + 1].start()) is not None)
            if not (named[k] or initial):  # an initial between two names: ``benjamin a seiler``
                continue
            up = m.group()[0].upper()
            if len(up) == 1 and up != m.group()[0]:
                chars[m.start()] = up
                titled.append(m.start())
        if titled:
            jobs.append((i, titled, "".join(chars)))
    if not jobs:
        return
    variants = nlp.pipe([v for *_, v in jobs], disable=disabled, batch_size=batch_size)
    for (i, titled, variant), doc in zip(jobs, variants):
        text = texts[i]
        places = [(s, e) for label, s, e in ner[i] if label in _PLACE_LABELS]
        spans = [(e.start_char, e.end_char) if e.label_ in ("PERSON", "PER")
                 else _given_name_run(text, e.start_char, e.end_char, titled) for e in doc.ents]
        spans += _cued_people(variant)
        for span in spans:
            if span is None:
                continue
            s, t = span
            if (any(s <= c < t for c in titled)
                    and not any(ch.isdigit() for ch in text[s:t])
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
_GAP = re.compile(r"[ \t]+(?:[^\W\d_]\.?[ \t]+)?")  # between a first name and a surname
_LEXICON: dict = {}


def _cued_people(variant: str) -> list[tuple[int, int]]:
    """The people that the cue recognizers find in the case-restored copy: ``person_context`` (a dialogue
    speaker, a vocative, ``named``, ``the assistant to``...), ``titled_name`` (``ms. orlov``) and
    ``labelled_name`` (``what's your last name? gintalas``); their rules read capitals, which the copy has."""
    return [(r.start, r.end) for recognizer in _cue_recognizers() for r in recognizer.find(variant)]


@lru_cache(maxsize=1)
def _cue_recognizers() -> tuple:
    from ..recognizers.labelled_name import LetheLabelledNameRecognizer
    from ..recognizers.person_context import LethePersonContextRecognizer
    from ..recognizers.titled_name import LetheTitledNameRecognizer

    return LethePersonContextRecognizer(), LetheTitledNameRecognizer(), LetheLabelledNameRecognizer()


def _given_name_run(text: str, start: int, end: int, titled: list[int]) -> tuple[int, int] | None:
    """In an entity of any type, on its first line and after a leading article, a given name and one or
    two more name words, every one titled in the copy (``andrei nistor``, ``the codey m ross version``,
    ``emidio p lombardo\ngarcia-smith``, which the small model calls organisations): the person's
    ``(start, end)``, else None."""
    line_end = text.find("\n", start, end)
    words = list(_LOWER_WORDS.finditer(text, start, end if line_end < 0 else line_end))
    while words and words[0].group() in _ARTICLES:
        words.pop(0)
    if not words or words[0].group().capitalize() not in given_names():
        return None
    run = [words[0]]
    for w in words[1:]:
        if w.start() not in titled or not _GAP.fullmatch(text, run[-1].end(), w.start()) or len(run) == 4:
            break
        run.append(w)
    names = [w for w in run if len(w.group()) > 1]
    while run and len(run[-1].group()) == 1:
        run.pop()  # never ends on an initial
    if not 2 <= len(names) <= 3 or not all(w.start() in titled for w in run):
        return None
    return run[0].start(), run[-1].end()


_ARTICLES = frozenset({"the", "a", "an"})


def _name_like(nlp, word: str) -> bool:
    """True when ``word`` (lower case) may be a name by itself: 2+ letters, and unknown to the lexicon,
    or a rare English word (Zipf < 3.5) that is a given name or surname (:func:`_lexicon_name`)."""
    if len(word) < 2:
        return False
    if not _known_word(nlp, word):
        return True
    from wordfreq import zipf_frequency

    return _lexicon_name(nlp, word) and zipf_frequency(word, "en", wordlist="small") < 3.5


def _lexicon_name(nlp, word: str) -> bool:
    """A given name or surname of some Faker locale that the lexicon knows as a noun only (``benjamin``,
    ``ross``, ``eva``; never a stop word, verb, adjective or adverb: ``will``, ``mark``, ``grant``)."""
    name = word.capitalize()
    return (name in given_names() or name in surnames()) and word not in (_LEXICON.get("pos") or _pos_words(nlp))


def _name_pair(nlp, words: list, k: int, text: str) -> bool:
    """A lexicon name next to another name-like word, across spaces and at most one initial
    (``benjamin franklin``, ``codey m ross``): a first name and a surname, however common each is."""
    if not _lexicon_name(nlp, words[k].group()):
        return False
    for j in (k - 1, k + 1, k - 2, k + 2):
        if not 0 <= j < len(words) or len(words[j].group()) < 2:
            continue
        a, b = sorted((k, j))
        other = words[j].group()
        if _GAP.fullmatch(text, words[a].end(), words[b].start()) and (
                _name_like(nlp, other) or _lexicon_name(nlp, other)):
            return True
    return _surname_after(nlp, words, k, text)


def _surname_after(nlp, words: list, k: int, text: str) -> bool:
    """``words[k]`` is a given name and the next word, across spaces, a rare noun (:func:`_rare_noun`)."""
    return (k + 1 < len(words) and words[k].group().capitalize() in given_names()
            and len(words[k + 1].group()) > 1 and _rare_noun(nlp, words[k + 1].group())
            and _GAP.fullmatch(text, words[k].end(), words[k + 1].start()) is not None)


def _rare_noun(nlp, word: str) -> bool:
    """A word the lexicon knows as a noun only and English rarely uses (Zipf < 3.5): after a given
    name, a surname that the lexicon holds as a proper noun (``eva kleist``, not ``anna cake``)."""
    from wordfreq import zipf_frequency

    return (word not in (_LEXICON.get("pos") or _pos_words(nlp))
            and zipf_frequency(word, "en", wordlist="small") < 3.5)


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
