"""Names in all-lower-case texts (``ner.lowercase``: the case-restored pass), attacked with generated
names and words in frames written for this test:

- full names of many locales, with and without a middle initial, are found more often with the
  name-lexicon rules and the context cues than with the old rule (unknown words only, PERSON entities
  only), a ratio
  measured in the same test;
- lower-case texts without a name (common words in the same frames, and the names that are common
  words by themselves: ``hunter``, ``max``, ``will``) get no more PERSON alarms with the rules than
  without, and almost none.
"""

from __future__ import annotations

import random

import pytest
from faker import Faker

from services.anonymization.ner import lowercase
from tests.unit.test_name_common_words import _person_share
from tests.unit.test_name_surroundings import _cases
from tests.unit.test_typing_shapes import _render, engine  # noqa: F401 - the module's engine fixture

NAME_FRAMES = (
    "follow up with {name} in a couple of months.",
    "{name} lives at {number} {street}",
    "please send the invoice to {name} before friday",
    "{name} is from {company} and will join the call",
    "the {name} version was recorded in one take.",
    "i spoke with {name} yesterday about my refund",
)
WORD_FRAMES = (
    "follow up with the {word} team in a couple of months.",
    "please send the invoice to {word} support before friday",
    "the {word} version was recorded in one take.",
    "i spoke with {common} yesterday about my refund",
    "the {common} saw a {word} at dawn",
    "we will grant you a {word} discount, {common} two items",
)
COMMON_NAMES = ["hunter", "max", "will", "mark", "grace", "rose", "summer", "bill", "art", "june", "frank",
                "guy", "young", "grant", "dawn", "joy"]


def _name(fake: Faker, rng: random.Random) -> str:
    first, last = fake.first_name(), fake.last_name()
    name = rng.choice([f"{first} {last}", f"{first} {fake.first_name()[0]} {last}"])
    return name.lower()


def _old_rule(measure):
    """``measure()`` with only the old rule: a word may be a name when the lexicon does not know it."""
    names = ("_name_like", "_name_pair", "_surname_after", "_given_name_run", "_cued_people")
    saved = [getattr(lowercase, n) for n in names]
    lowercase._name_like = lambda nlp, w: len(w) > 1 and not lowercase._known_word(nlp, w)
    lowercase._name_pair = lowercase._surname_after = lambda *_: False
    lowercase._given_name_run = lambda *_: None
    lowercase._cued_people = lambda *_: []
    try:
        return measure()
    finally:
        for n, f in zip(names, saved):
            setattr(lowercase, n, f)


@pytest.mark.parametrize("seed", [21, 2121])
def test_lower_case_full_names_are_found_more_often(engine, seed):
    cases = _cases(NAME_FRAMES, seed, 240, lambda fake, rng: {
        "name": _name(fake, rng), "number": str(rng.randint(1, 999)),
        "street": fake.street_name().lower(), "company": fake.company().lower()})
    texts = [t for t, _ in cases]
    after = _person_share(engine.analyze_batch(texts), cases, ("name",))
    before = _person_share(_old_rule(lambda: engine.analyze_batch(texts)), cases, ("name",))
    print(f"\nlower-case full names found, seed {seed}: {before:.3f} old rule -> {after:.3f} with the lexicon")
    assert after >= before + 0.1
    assert after >= 0.75


@pytest.mark.parametrize("seed", [23, 2323])
def test_lower_case_texts_without_a_name_get_no_more_alarms(engine, seed):
    from wordfreq import top_n_list

    rng = random.Random(seed)
    words = [w for w in top_n_list("en", 3000) if w.isalpha() and len(w) >= 4]
    cases = [_render(rng.choice(WORD_FRAMES), {"word": rng.choice(words), "common": rng.choice(COMMON_NAMES)})
             for _ in range(300)]
    texts = [t for t, _ in cases]

    def alarms(found) -> int:
        return sum(any(d.type == "PERSON" for d in dets) for dets in found)

    after = alarms(engine.analyze_batch(texts))
    before = alarms(_old_rule(lambda: engine.analyze_batch(texts)))
    print(f"\nlower-case texts without a name given a PERSON, seed {seed}: {before} old rule -> {after} "
          f"with the lexicon (of {len(texts)})")
    assert after <= before
    assert after <= 0.02 * len(texts)


CUE_FRAMES = (
    "ms. {last} flew to the coast on friday morning.",
    "what's your last name? {last}",
    "{first}: who are you?\nsam: i'm your neighbour.",
    "she named him {first}",
    "the assistant to {first} {last} called twice",
)


@pytest.mark.parametrize("seed", [25, 2525])
def test_lower_case_names_after_cues_are_found(engine, seed):
    cases = _cases(CUE_FRAMES, seed, 200, lambda fake, _rng: {"first": fake.first_name().lower(),
                                                              "last": fake.last_name().lower()})
    texts = [t for t, _ in cases]
    after = _person_share(engine.analyze_batch(texts), cases, ("first", "last"))
    before = _person_share(_old_rule(lambda: engine.analyze_batch(texts)), cases, ("first", "last"))
    print(f"\nlower-case names after cues found, seed {seed}: {before:.3f} old rule -> {after:.3f}")
    assert after >= before + 0.1
    assert after >= 0.8
