"""Detection in German, French, Spanish, Portuguese, Italian and Dutch, tried against generated text.

Every text comes from ``services.anonymization.generated`` (Faker's de_DE, fr_FR, es_ES, pt_PT, it_IT
and nl_NL locales in the language frames), over seeds other than the one ``make eval`` reports, so
no assertion rests on a picked example. What is tried:

* language identification: each generated text is given its language; a text mixing two languages
  is cut into passages of each; plainly English text never reaches the language model;
* recall of each identifier kind per language (names after cues, addresses, phones, IBANs,
  national identifiers with valid checksums);
* identifiers whose checksum fails (the last character changed, confirmed invalid by python-stdnum)
  are never reported as an identifier;
* label words (``Mein Name``, ``Sein Geburtsdatum``, ``Kontoinhaber``) and texts with only order
  numbers, amounts and versions raise no personal entity;
* English detection is unchanged (the English suites run beside this one).
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from faker import Faker

from services.anonymization.engine import DetectionEngine
from services.anonymization.evaluate import LANGUAGE_COMPAT, LANGUAGES
from services.anonymization.generated import LOCALES, generated_set, language_negatives, language_set, national_id
from services.anonymization.languages import identify
from services.anonymization.negatives import PERSONAL_TYPES

SEEDS = (11, 404)
RECALL = {"PERSON": 0.9, "STREET_ADDRESS": 0.9, "PHONE_NUMBER": 0.8, "IBAN_CODE": 1.0, "NATIONAL_ID": 1.0}


@pytest.fixture(scope="module")
def engine() -> DetectionEngine:
    eng = DetectionEngine(workers=1)
    yield eng
    eng.close()


def _found(span, dets) -> bool:
    return any(d.type in LANGUAGE_COMPAT[span["entity_type"]] and d.start < span["end_position"]
               and span["start_position"] < d.end for d in dets)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_generated_text_is_given_its_language(lang):
    records = language_set(lang, 80, seed=SEEDS[0])
    right = sum(identify.passages(r["full_text"])[0].lang == lang for r in records)
    assert right / len(records) >= 0.9, (lang, right)


def test_a_text_mixing_languages_is_cut_into_passages_of_each():
    rng = random.Random(5)
    for lang in LANGUAGES:
        english = " ".join(r["full_text"] for r in generated_set(6, seed=rng.randrange(10**6)) if r["kind"] == "plain")
        other = " ".join(r["full_text"] for r in language_set(lang, 5, seed=rng.randrange(10**6)))
        text = english + "\n" + other
        found = identify.passages(text)
        assert found[0].lang == "en" and found[-1].lang == lang, (lang, found)
        assert found[0].start == 0 and found[-1].end == len(text)
        assert all(a.end == b.start for a, b in zip(found, found[1:]))


def test_plainly_english_text_never_reaches_the_language_model(engine, monkeypatch):
    def refuse():
        raise AssertionError("the language model was asked about an English text")

    monkeypatch.setattr(identify, "_detector", refuse)
    identify.passages.cache_clear()
    texts = [r["full_text"] for r in generated_set(60, seed=99) if r["kind"] == "plain"]
    assert all(identify.plainly_english(t) for t in texts)
    assert engine.analyze_batch(texts)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("seed", SEEDS)
def test_recall_of_each_identifier_kind(engine, lang, seed):
    records = language_set(lang, 90, seed=seed)
    counts = defaultdict(lambda: [0, 0])
    missed = []
    for rec, dets in zip(records, engine.analyze_batch([r["full_text"] for r in records])):
        for span in rec["spans"]:
            ok = _found(span, dets)
            counts[span["entity_type"]][0] += 1
            counts[span["entity_type"]][1] += ok
            if not ok:
                missed.append((span["entity_type"], rec["full_text"]))
    for kind, (n, hit) in counts.items():
        assert hit / n >= RECALL[kind], (lang, kind, hit, n, missed[:5])
    assert set(counts) == set(RECALL), counts.keys()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_identifiers_with_a_failing_checksum_are_not_identifiers(engine, lang):
    from services.anonymization.languages.templates import FRAMES

    rng = random.Random(f"bad:{lang}")
    fake = Faker(LOCALES[lang])
    fake.seed_instance(3)
    frames = [f.split("{ID}")[0] for f in FRAMES[lang] if "{ID}" in f]
    good, bad = [], []
    for _ in range(40):
        frame = rng.choice(frames).replace("{NAME}", f"{fake.first_name()} {fake.last_name()}")
        good.append((frame, national_id(lang, fake, rng)))
        bad.append((frame, national_id(lang, fake, rng, valid=False)))
    for pairs, expected in ((good, True), (bad, False)):
        texts = [f + v + "." for f, v in pairs]
        for (frame, value), dets in zip(pairs, engine.analyze_batch(texts)):
            hit = any(d.type == "ID_NUMBER" and d.start < len(frame) + len(value) and len(frame) < d.end for d in dets)
            assert hit is expected, (lang, frame, expected)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_texts_without_personal_data_raise_no_alarm(engine, lang):
    texts = [t for seed in SEEDS for t in language_negatives(lang, 50, seed=seed)]
    alarms = [(t, [(d.type, t[d.start:d.end]) for d in dets if d.type in PERSONAL_TYPES])
              for t, dets in zip(texts, engine.analyze_batch(texts))]
    alarms = [a for a in alarms if a[1]]
    assert len(alarms) <= len(texts) // 50, alarms[:5]


LABELLED = {
    "de": ["Mein Name ist {name}.", "Sein Geburtsdatum ist der 3. Mai, sein Name ist {name}.", "Kontoinhaber: {name}"],
    "fr": ["Mon nom est {name}.", "Titulaire : {name}", "Je m'appelle {name}."],
    "es": ["Mi nombre es {name}.", "Transferencia a nombre de {name}.", "Titular: {name}"],
    "pt": ["O meu nome é {name}.", "Pagamento em nome de {name}.", "Titular: {name}"],
    "it": ["Il mio nome è {name}.", "Intestatario: {name}", "Mi chiamo {name}."],
    "nl": ["Mijn naam is {name}.", "Rekeninghouder: {name}", "Ik heet {name}."],
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_label_is_never_the_person_and_the_name_after_it_is(engine, lang):
    fake = Faker(LOCALES[lang])
    fake.seed_instance(17)
    cases = []
    for frame in LABELLED[lang]:
        for _ in range(10):
            name = f"{fake.first_name()} {fake.last_name()}"
            cases.append((frame.format(name=name), name))
    for (text, name), dets in zip(cases, engine.analyze_batch([t for t, _ in cases])):
        start = text.index(name)
        persons = [(d.start, d.end) for d in dets if d.type == "PERSON"]
        assert any(s <= start and start + len(name) <= e for s, e in persons), (text, persons)
        assert all(s >= start - 1 for s, _ in persons), (text, [text[s:e] for s, e in persons])
