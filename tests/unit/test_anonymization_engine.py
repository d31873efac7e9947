"""Unit tests for the anonymization detection engine: one group per recognizer kind, with generated
values (no real people), offsets with emoji, overlap handling in deidentify, pseudonym consistency."""

from __future__ import annotations

import random

import pytest

from services.anonymization.engine import Detected, DetectionEngine, deidentify, merge_overlapping
from services.anonymization.recognizers.credit_card import luhn_ok
from services.anonymization.recognizers.iban import iban_ok


@pytest.fixture(scope="module")
def engine() -> DetectionEngine:
    eng = DetectionEngine(workers=1)
    yield eng
    eng.close()


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d
    raise AssertionError("unreachable")


def _iban(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in rearranged)) % 97
    return f"{country}{check:02d}{bban}"


def _found(engine: DetectionEngine, text: str, value: str, etype: str) -> bool:
    start = text.index(value)
    return any(d.type == etype and d.start == start and d.end == start + len(value) for d in engine.analyze(text))


@pytest.mark.parametrize("prefix,length", [("4", 16), ("51", 16), ("2221", 16), ("2720", 16), ("34", 15),
                                           ("37", 15), ("6011", 16), ("3530", 16), ("36", 14), ("62", 19)])
def test_card_numbers_of_every_brand_range_are_detected_with_and_without_separators(engine, prefix, length):
    number = _luhn_complete(prefix, length, random.Random(prefix))
    grouped = " ".join(number[i:i + 4] for i in range(0, len(number), 4))
    for value in (number, grouped, grouped.replace(" ", "-")):
        assert _found(engine, f"Charge {value} today please.", value, "CREDIT_CARD"), value


def test_card_number_failing_luhn_is_not_a_card(engine):
    number = _luhn_complete("4", 16, random.Random(1))
    broken = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert not any(d.type == "CREDIT_CARD" for d in engine.analyze(f"ref {broken}"))


def test_card_number_followed_by_a_domain_suffix_is_detected_exactly(engine):
    number = _luhn_complete("5", 16, random.Random(5))
    grouped = " ".join(number[i:i + 4] for i in range(0, 16, 4))
    text = f"log line {grouped}.net was crawled"
    dets = engine.analyze(text)
    start = text.index(grouped)
    assert [(d.type, d.start, d.end) for d in dets if d.end > start] == [("CREDIT_CARD", start, start + len(grouped))]


@pytest.mark.parametrize("value", [
    "jo.bloggs+tag@example.org", "anon_7@mail.example.co.uk", "test.user@xn--bcher-kva.example",
    "someone@xn--fiqs8s.xn--fiqz9s", "someone@sub.xn--mgbh0fb.com", "ops.lead@corp.internal",
])
def test_email_addresses_including_punycode_domains(engine, value):
    assert _found(engine, f"Write to {value} soon.", value, "EMAIL_ADDRESS")


@pytest.mark.parametrize("value", ["+44 20 7946 0018", "+1 (212) 555-0147", "020 7946 0018",
                                   "(212) 555-0147", "030 901820", "+49 30 901820", "0033 1 42 68 53 00"])
def test_phone_numbers_in_national_and_international_formats(engine, value):
    assert _found(engine, f"Phone: {value}", value, "PHONE_NUMBER")


def test_iban_with_valid_checksum_is_detected_compact_and_grouped(engine):
    rng = random.Random(3)
    iban = _iban("DE", "".join(rng.choice("0123456789") for _ in range(18)))
    assert iban_ok(iban)
    grouped = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
    for value in (iban, grouped):
        assert _found(engine, f"Pay to {value} by Friday.", value, "IBAN_CODE")
    bad = iban[:2] + f"{(int(iban[2:4]) + 1) % 100:02d}" + iban[4:]
    assert not any(d.type == "IBAN_CODE" for d in engine.analyze(f"Pay to {bad}."))


@pytest.mark.parametrize("value", ["81.2.69.44", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:db8::8a2e:370:7334",
                                   "fe80::1ff:fe23:4567:890a", "::ffff:192.0.2.128", "2001:db8:0:0:1:0:0:1"])
def test_ip_addresses_in_every_form(engine, value):
    assert _found(engine, f"Request from {value} was blocked.", value, "IP_ADDRESS")


def test_double_colon_in_code_is_not_an_ip_address(engine):
    text = "Use std::vector and Foo::bar(); in Rust a::b and self::module, and C++ ::operator new."
    assert not any(d.type == "IP_ADDRESS" for d in engine.analyze(text))


def test_ssn_formatted_and_bare_with_cue(engine):
    assert _found(engine, "SSN 512-44-7301 on file", "512-44-7301", "US_SSN")
    assert _found(engine, "ssn=512447301 per form", "512447301", "US_SSN")
    assert _found(engine, "social security no: 512447301", "512447301", "US_SSN")
    assert not any(d.type == "US_SSN" for d in engine.analyze("order 512447301 shipped"))


@pytest.mark.parametrize("value", [
    "AKIA" + "Q" * 4 + "2" * 4 + "EXAMPLEZ",
    "ghp_" + "a1B2c3D4e5" * 4,
    "xoxb-1234567890-0987654321-" + "AbCdEf" * 4,
    "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "sk-proj-" + "Zx9" * 12,
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJlLXRlc3QtdmFsdWU",
])
def test_secrets_with_well_known_prefixes(engine, value):
    assert _found(engine, f"my key is {value} oops", value, "SECRET")


def test_pem_private_key_block_is_one_secret(engine):
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK" + "x" * 40 + "\n-----END RSA PRIVATE KEY-----"
    assert _found(engine, f"key:\n{pem}\nthanks", pem, "SECRET")


def test_crypto_wallets(engine):
    assert _found(engine, "send to 1BoatSLRHtKNngkdXEeobR76b53LETtpyT now", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "CRYPTO")
    assert _found(engine, "or bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "CRYPTO")
    eth = "0x" + "ab12" * 10
    assert _found(engine, f"eth {eth}", eth, "CRYPTO")


def test_urls_and_dates_of_birth(engine):
    assert _found(engine, "See https://example.org/profile?id=7 today.", "https://example.org/profile?id=7", "URL")
    dets = engine.analyze("DOB: 14/02/1987")
    assert any(d.type == "DATE_TIME" and d.score >= 0.9 for d in dets)


@pytest.mark.parametrize("text,value", [
    ("PATIENT NAME: QUILLAN ODERMATT", "QUILLAN ODERMATT"),
    ("Full name: Brisa Tavernier-Oyelaran", "Brisa Tavernier-Oyelaran"),
    ("The report was signed by Mr Zoltrin Vakalesku yesterday.", "Zoltrin Vakalesku"),
    ("Dear Ottoline Brackwater,", "Ottoline Brackwater"),
])
def test_person_names_after_labels_titles_and_in_capitals(engine, text, value):
    start = text.index(value)
    assert any(d.type == "PERSON" and d.start <= start and d.end >= start + len(value) for d in engine.analyze(text))


def test_person_span_does_not_swallow_adjacent_email(engine):
    text = "Perrin Aldecott - perrin.aldecott@example.com"
    email = "perrin.aldecott@example.com"
    dets = engine.analyze(text)
    assert ("EMAIL_ADDRESS", text.index(email), len(text)) in {(d.type, d.start, d.end) for d in dets}
    assert all(d.end <= text.index(email) for d in dets if d.type == "PERSON")


def test_street_address_is_a_location(engine):
    text = "Ship it to 742 Evergreen Terrace, Apt 4 please."
    assert any(d.type == "LOCATION" and text[d.start:d.end].startswith("742 Evergreen Terrace") for d in engine.analyze(text))


def _covers(engine: DetectionEngine, text: str, value: str, etype: str) -> bool:
    start = text.index(value)
    return any(d.type == etype and d.start <= start and d.end >= start + len(value) for d in engine.analyze(text))


@pytest.mark.parametrize("text,value", [
    ("Orla Quenby\nBrightmoor Ltd\n4417 Kestrelweg 12\nApt. 9\nZANDHOVEN\nBelgium 7731", "4417 Kestrelweg 12\nApt. 9\nZANDHOVEN\nBelgium 7731"),
    ("Send it to PSC 4412, Box 7781\nAPO AE 30417 please.", "PSC 4412, Box 7781\nAPO AE 30417"),
    ("Mail USNS Harkaway\nFPO AP 96021 by Friday.", "USNS Harkaway\nFPO AP 96021"),
    ("She gave me her address: 6021 Rua Pedra Alta 88, Vilaforte", "6021 Rua Pedra Alta 88, Vilaforte"),
    ("my zip code is 40917-233", "40917-233"),
    ("ZIP: 3382 KL", "3382 KL"),
    ("Drop it at the corner of Brannick 14 and Olvey Crescent.", "Brannick 14 and Olvey Crescent"),
])
def test_postal_addresses_blocks_military_mail_and_cued_zip_codes(engine, text, value):
    assert _covers(engine, text, value, "LOCATION")


def test_numbers_before_court_names_are_not_addresses(engine):
    text = "On 3 May 1999 the Regional Court dismissed the appeal."
    assert not any(d.type == "LOCATION" and "1999" in text[d.start:d.end] for d in engine.analyze(text))


@pytest.mark.parametrize("text,value", [
    ("I would like to remove my nephew Torvald from the policy.", "Torvald"),
    ("Quessa and Ondrik were the engineers on that record.", "Ondrik"),
    ("Brannoc: That is not what I asked for.", "Brannoc"),
    ("I'm so tired! said Wilmeth to Aubric", "Aubric"),
    ("Yselde, can you call the bank?", "Yselde"),
    ("The score was written by Ilvane T. Moraskel last year.", "Ilvane T. Moraskel"),
    ("Gorvan Prell\n\nPhone: 555 0199\nE-mail: gp@example.org", "Gorvan Prell"),
    ("Their children were Alaric, Benedetta, Cosimo, Drusilla and Eamon.", "Drusilla"),
])
def test_person_names_from_context(engine, text, value):
    assert _covers(engine, text, value, "PERSON")


def test_international_phone_is_not_a_card_and_single_word_common_nouns_are_not_people(engine):
    text = "Mobile: +447700900123 (office)"
    assert _covers(engine, text, "+447700900123", "PHONE_NUMBER")
    text = "An experienced salesperson. She won Salesperson of the Year twice."
    assert not any(d.type == "PERSON" for d in engine.analyze(text))


def test_firm_named_after_partners_is_an_organization(engine):
    text = "Halvorsen, Pike and Drummond is a law firm based in Leeds."
    dets = engine.analyze(text)
    assert any(d.type == "ORGANIZATION" and text[d.start:d.end] == "Halvorsen, Pike and Drummond" for d in dets)
    assert not any(d.type == "PERSON" for d in dets)


def test_place_after_a_locative_cue_is_a_location(engine):
    text = "Mr. Ostrander grew up in VELMORA and moved to Kestrino later."
    assert _covers(engine, text, "VELMORA", "LOCATION")
    assert _covers(engine, "Ms. Dravik flew to QUORSBY on Tuesday.", "QUORSBY", "LOCATION")


def test_open_ended_amounts_and_decades_are_not_dates(engine):
    for text in ("A manager with 8+ years of experience.", "Celebrating its 10th year in business.",
                 "Music from the 60s is great."):
        assert not any(d.type == "DATE_TIME" for d in engine.analyze(text)), text
    assert _covers(engine, "He was sentenced to 14 years in prison.", "14 years", "DATE_TIME")


def test_offsets_are_code_points_into_the_original_text_with_emoji_and_unicode_spaces(engine):
    number = _luhn_complete("4", 16, random.Random(9))
    grouped = "\u2009".join(number[i:i + 4] for i in range(0, 16, 4))  # thin spaces
    text = f"👩‍👩‍👧🎉 card {grouped} 😀 mail 🙈 x.y@example.com tel 020\u20137946\u20130018"
    dets = {d.type: d for d in engine.analyze(text)}
    assert text[dets["CREDIT_CARD"].start:dets["CREDIT_CARD"].end] == grouped
    assert text[dets["EMAIL_ADDRESS"].start:dets["EMAIL_ADDRESS"].end] == "x.y@example.com"
    assert text[dets["PHONE_NUMBER"].start:dets["PHONE_NUMBER"].end] == "020\u20137946\u20130018"


def test_results_are_sorted_and_non_overlapping(engine):
    texts = ["Mr Ansel Quorrin at 4111 1111 1111 1111.com, ansel@example.com, +44 20 7946 0018, https://ex.example.com/a"]
    for dets in engine.analyze_batch(texts):
        assert dets == sorted(dets, key=lambda d: d.start)
        assert all(a.end <= b.start for a, b in zip(dets, dets[1:]))


def test_batch_equals_one_by_one(engine):
    texts = ["Call 020 7946 0018.", "", "No PII here.", "ssn=512447301", "Ms Yarrow Pennick, yp@example.net"]
    assert engine.analyze_batch(texts) == [engine.analyze(t) for t in texts]


def test_deidentify_placeholder_merges_overlapping_and_adjacent_entities():
    text = "abc 4111 1111 1111 1111.com end"
    ents = [Detected("CREDIT_CARD", 4, 23, 0.9), Detected("URL", 18, 27, 0.6)]
    assert deidentify(text, ents) == "abc <CREDIT_CARD> end"
    touching = [Detected("PERSON", 0, 3, 0.8), Detected("EMAIL_ADDRESS", 3, 7, 1.0)]
    assert deidentify("abcdefg!", touching) == "<EMAIL_ADDRESS>!"
    assert merge_overlapping(touching) == [Detected("EMAIL_ADDRESS", 0, 7, 1.0)]


def test_pseudonyms_are_consistent_per_key_and_unrelated_across_keys():
    text = "Ilsabet Morrow met Ilsabet Morrow."
    ents = [Detected("PERSON", 0, 14, 0.9), Detected("PERSON", 19, 33, 0.9)]
    key_a, key_b = b"a" * 32, b"b" * 32
    out_a = deidentify(text, ents, "pseudonym", key_a)
    first, second = out_a.split(" met ")
    assert first == second.rstrip(".") and first.startswith("<PERSON_") and "Ilsabet" not in out_a
    assert deidentify(text, ents, "pseudonym", key_a) == out_a
    assert deidentify(text, ents, "pseudonym", key_b) != out_a


@pytest.mark.parametrize("key", [None, b"short", b"x" * 31, b"x" * 33, "x" * 32])
def test_pseudonym_requires_a_32_byte_key(key):
    with pytest.raises(ValueError):
        deidentify("Ilsabet", [Detected("PERSON", 0, 7, 0.9)], "pseudonym", key)


def test_unknown_operator_and_out_of_range_entities_are_refused():
    with pytest.raises(ValueError):
        deidentify("abc", [], "shred")
    with pytest.raises(ValueError):
        deidentify("abc", [Detected("PERSON", 1, 9, 0.9)])


def test_worker_processes_give_the_same_results_as_in_process(engine):
    texts = [f"Mr Tolvar Quenby{i} paid with 4111 1111 1111 1111 from 192.0.2.{i % 250}" for i in range(210)]
    with DetectionEngine(workers=2) as parallel:
        assert parallel.analyze_batch(texts) == engine.analyze_batch(texts[:0]) + [engine.analyze(t) for t in texts]


def test_an_ssn_shaped_number_after_an_ssn_cue_is_redacted_even_if_never_issued() -> None:
    from services.anonymization.recognizers.us_ssn import LetheUsSsnRecognizer
    recognizer = LetheUsSsnRecognizer()
    text = "my ssn 078-05-1120; far later, in another sentence, the order 078-05-1120"
    assert recognizer.check(text, 7, 18, 0.85) == 0.7
    later = text.rindex("078")
    assert recognizer.check(text, later, later + 11, 0.85) is None


# --- names next to e-mails, lower-case names after a cue, emoji, national phones, secrets,
# --- over-redaction and long texts (generated values) ---------------------------------------

def _name(rng: random.Random) -> tuple[str, str]:
    syll = ["ka", "lo", "mi", "ra", "ne", "to", "vi", "sa", "de", "ru"]
    return tuple("".join(rng.choice(syll) for _ in range(rng.randint(2, 3))).capitalize() for _ in range(2))


@pytest.mark.parametrize("seed", range(4))
def test_name_next_to_its_own_email_is_a_person(engine, seed):
    rng = random.Random(seed)
    first, last = _name(rng)
    local = rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{last}_{first}"]).lower()
    for text in (f"Contact {first} {last} {local}@example.com for details.",
                 f"{first} {last}<{local}@example.com>"):
        assert _found(engine, text, f"{first} {last}", "PERSON"), text


def test_accented_name_between_emoji_before_email(engine):
    text = "\U0001F469\u200d\U0001F4BB Ana María Núñez \U0001F1EA\U0001F1F8 ana@example.com"
    assert _found(engine, text, "Ana María Núñez", "PERSON")


@pytest.mark.parametrize("cue", ["my name is", "i am called", "Name:"])
def test_lower_case_full_name_after_cue(engine, cue):
    first, last = (w.lower() for w in _name(random.Random(len(cue))))
    text = f"{cue} {first} {last} and i need help"
    assert _found(engine, text, f"{first} {last}", "PERSON"), text


@pytest.mark.parametrize("text,value", [
    ("Büro: 030 901820", "030 901820"),
    ("Offices 0170 1234567 tomorrow", "0170 1234567"),
    ("Llámame al 612 345 678", "612 345 678"),
])
def test_national_phone_numbers(engine, text, value):
    assert _found(engine, text, value, "PHONE_NUMBER"), text


@pytest.mark.parametrize("text", ["paid 1 250 000 EUR", "ref 12.03.2021", "on 2021-03-12"])
def test_amounts_and_dates_are_not_phones(engine, text):
    assert not any(d.type == "PHONE_NUMBER" for d in engine.analyze(text)), text


def test_cued_secrets(engine):
    rng = random.Random(5)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"
    key = "".join(rng.choice(alphabet) for _ in range(40))
    token = "".join(rng.choice(alphabet[:62]) for _ in range(24))
    for text, value in ((f"my aws secret key is {key}", key), (f"aws_secret_access_key = {key}", key),
                        (f"password={token}", token), (f"Authorization: Bearer {token}", token),
                        (f"token: {token}", token)):
        assert _found(engine, text, value, "SECRET"), text
    assert not any(d.type == "SECRET" for d in engine.analyze("The secret is that we love cooking together"))


def test_no_over_redaction_of_sentence_openers_and_pronouns(engine):
    dets = engine.analyze("Card declined. Invalid number. Ruf mich an bitte.")
    assert dets == []
    text = "I'm KALO MIRA"
    assert _found(engine, text, "KALO MIRA", "PERSON")


def test_long_text_finishes(engine):
    import time

    rng = random.Random(11)
    parts, size = [], 0
    while size < 250_000:
        first, last = _name(rng)
        s = rng.choice([
            f"Dear {first} {last},\nplease call +1 415 555 {rng.randint(1000, 9999)} or {first.lower()}@example.com.\n",
            f"{first} {last}\n{rng.randint(1, 999)} Maple Street\nPORTLAND\nPhone: 030 901820\n\n",
            f"URGENT NOTICE FOR {first.upper()} {last.upper()} ABOUT ORDER {rng.randint(10000, 99999)}\n",
            f"{first}, can you send {last}, {first} and {last} the file? My name is {first.lower()} {last.lower()}.\n",
        ])
        parts.append(s)
        size += len(s)
    text = "".join(parts)
    t0 = time.perf_counter()
    dets = engine.analyze(text)
    elapsed = time.perf_counter() - t0
    assert dets and all(0 <= d.start < d.end <= len(text) for d in dets)
    print(f"\n250 KB text analysed in {elapsed:.1f} s")


def test_a_house_number_before_a_place_name_is_redacted_with_it(engine) -> None:
    text = "Ship it to 4026 Quillon Isle, Lake Verbena, RI 86348 please."
    redacted = deidentify(text, engine.analyze(text))
    assert "4026" not in redacted and "Quillon" not in redacted


@pytest.mark.parametrize("text,value", [
    ("follow up with oskarine veltmaar next week.", "oskarine veltmaar"),
    ("please remind torvald brekkestad about the invoice.", "torvald brekkestad"),
])
def test_a_name_in_an_all_lower_case_text_is_found_by_a_case_restored_pass(engine, text, value) -> None:
    assert _found(engine, text, value, "PERSON")


def test_the_case_restored_pass_leaves_address_words_and_common_words_alone(engine) -> None:
    for text in ("ship it to 2613 rua verbena 4, porto alegre please",
                 "i need a refund for order 5521, the blender arrived broken."):
        assert not [d for d in engine.analyze(text) if d.type == "PERSON"]


def test_the_items_of_a_lower_case_list_beside_a_one_word_name_are_its_siblings(engine) -> None:
    from services.anonymization.ner.lowercase import list_siblings as _list_siblings

    text = "they had 4: marzena, tobiasz, wenke and quenby."
    s = text.index("marzena")
    siblings = [text[a:b] for a, b in _list_siblings(engine.nlp, text, s, s + len("marzena"))]
    assert siblings == ["tobiasz", "wenke", "quenby"]
    text = "marzena and tobiasz said hello."  # two items: a pair, not an enumeration
    assert _list_siblings(engine.nlp, text, 0, len("marzena")) == []


@pytest.mark.parametrize("text,value", [
    ("Have you been to a Dravin Holloque concert?", "Dravin Holloque"),
    ("Unlike the Quelmark novel, it is short.", "Quelmark"),
    ("I would like to join accounts with ms. Ysolde", "Ysolde"),
    (">Oriel Vantasse\n>Brightwave Ltd\n>12 340 Harrow Lane\n>Suite 4\n", "Oriel Vantasse"),
])
def test_names_cued_by_their_works_a_lower_case_title_or_a_postal_block(engine, text, value) -> None:
    assert _found(engine, text, value, "PERSON")


def test_a_lower_case_honorific_after_a_number_is_a_unit(engine) -> None:
    text = "The call took 5 ms. Then it failed."
    assert not [d for d in engine.analyze(text) if d.type == "PERSON"]


@pytest.mark.parametrize("text,value", [
    ("Wilmerd is very reliable. You can always depend on him.", "Wilmerd"),
    ("He is tired, but Wilmerd just has to finish it.", "Wilmerd"),
    ("They named her Ysmaela", "Ysmaela"),
])
def test_a_subject_a_personal_pronoun_refers_to_or_a_naming_verb_marks_a_person(engine, text, value) -> None:
    assert _found(engine, text, value, "PERSON")


def test_a_common_word_subject_near_a_pronoun_is_not_a_person(engine) -> None:
    text = "Everything was fine until he arrived."
    assert not [d for d in engine.analyze(text) if d.type == "PERSON"]


def test_a_sentence_initial_subject_that_is_from_somewhere_is_a_person(engine) -> None:
    assert _found(engine, "Quillane is from Brightwave.", "Quillane", "PERSON")
    assert not [d for d in engine.analyze("Sugar is from cane.") if d.type == "PERSON"]


def test_heuristics_and_ner_passes_are_registered_in_explicit_lists_and_run(engine, monkeypatch):
    from services.anonymization import heuristics, ner

    assert list(heuristics.HEURISTICS)[:4] == ["partner_firms", "coordinated_persons", "propagate_person_names",
                                            "house_numbers"]
    assert "label_words" in heuristics.HEURISTICS  # languages other than English
    assert list(ner.NER_PASSES) == ["caps", "lowercase"]
    calls = []

    def spy(text, hard, soft):
        calls.append(len(text))
        return soft

    monkeypatch.setitem(heuristics.HEURISTICS, "spy", spy)
    engine.analyze("Mail jane@example.com")
    assert calls == [len("Mail jane@example.com")]
