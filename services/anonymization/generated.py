"""A labelled English evaluation set generated with Faker, so quality can be measured from the
repository alone (``make eval``; the optional outside data sets are reported beside it when present).

Records have the shape ``evaluate.score_synthetic`` reads: ``full_text`` and ``spans`` of ``entity_type``,
``entity_value``, ``start_position``, ``end_position``. Kinds: plain sentences and chat messages with
names, e-mails, phones, cards, IBANs, SSNs and IP addresses; the same values hidden with invisible
characters or look-alike digits; contacts written out (``at``/``dot``, digits in words, ``%40``); JSON
records. Values come from Faker (en_US, en_GB, en_IE locales), sentence frames are written here and
are not the frames the detector's tests use. Deterministic for a seed.

Per language (``language_set``: German, French, Spanish, Portuguese, Italian, Dutch): the frames of
``services.anonymization.languages.templates`` (introductions, account holders, addresses, phones,
national identifiers, greetings and sign-offs, plain mentions) filled with Faker values of the
de_DE, fr_FR, es_ES, pt_PT, it_IT and nl_NL locales: first and last names, street addresses with
postcode and city as the locale writes them, phone numbers in the locale's formats, the locale's
IBANs, and national identifiers with valid checksums (Faker's for FR NIR, ES DNI/NIE, IT codice
fiscale and NL BSN; DE Steuer-ID and PT NIF are drawn here and completed with python-stdnum's check
digit). ``language_negatives`` fills the frames without personal data (label words, order numbers,
amounts, versions) with random numbers. Seeds are fixed (default 2026).
"""

from __future__ import annotations

import json
import random
import re

from faker import Faker

_WORDS = "zero one two three four five six seven eight nine".split()
_INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[dict] = []
        self.pos = 0

    def text(self, s: str) -> "_Builder":
        self.parts.append(s)
        self.pos += len(s)
        return self

    def entity(self, etype: str, value: str) -> "_Builder":
        self.spans.append({"entity_type": etype, "entity_value": value, "start_position": self.pos,
                           "end_position": self.pos + len(value)})
        return self.text(value)

    def record(self, kind: str) -> dict:
        return {"kind": kind, "full_text": "".join(self.parts), "spans": self.spans}


def _card(fake: Faker) -> str:
    return fake.credit_card_number(card_type=fake.random_element(["visa16", "mastercard", "amex", "discover"]))


def _ssn(rng: random.Random) -> str:
    return f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"


def _hide(value: str, rng: random.Random) -> str:
    at = rng.randint(1, len(value) - 1)
    return value[:at] + rng.choice(_INVISIBLE) + value[at:]


def _plain(fake: Faker, rng: random.Random) -> dict:
    b = _Builder()
    name = fake.name()
    choice = rng.randrange(7)
    b.text(rng.choice(["Hi, this is ", "Hello, I'm ", "My name is ", "Please update the account of "])).entity("PERSON", name)
    if choice == 0:
        b.text(". You can email me at ").entity("EMAIL_ADDRESS", fake.email()).text(" any time.")
    elif choice == 1:
        b.text(" and my number is ").entity("PHONE_NUMBER", fake.phone_number()).text(", call after 5pm.")
    elif choice == 2:
        b.text(". The card ending the dispute is ").entity("CREDIT_CARD", _card(fake)).text(".")
    elif choice == 3:
        b.text(". Wire the refund to ").entity("IBAN_CODE", fake.iban()).text(" please.")
    elif choice == 4:
        b.text(", SSN ").entity("US_SSN", _ssn(rng)).text(", asking about my tax form.")
    elif choice == 5:
        b.text(". I keep getting locked out from ").entity("IP_ADDRESS", fake.ipv4_public()).text(" at home.")
    else:
        b.text(" and my colleague ").entity("PERSON", fake.name()).text(" will join the call.")
    return b.record("plain")


def _hidden(fake: Faker, rng: random.Random) -> dict:
    b = _Builder()
    choice = rng.randrange(4)
    if choice == 0:
        b.text("my ssn is ").entity("US_SSN", _hide(_ssn(rng), rng))
    elif choice == 1:
        b.text("write to ").entity("EMAIL_ADDRESS", _hide(fake.email(), rng)).text(" tomorrow")
    elif choice == 2:
        b.text("call ").entity("PHONE_NUMBER", _hide(fake.numerify("+44 20 7946 ####"), rng))
    else:
        fullwidth = "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in _ssn(rng))
        b.text("SSN: ").entity("US_SSN", fullwidth)
    return b.record("hidden")


def _written_out(fake: Faker, rng: random.Random) -> dict:
    b = _Builder()
    first, last = fake.first_name().lower(), fake.last_name().lower()
    choice = rng.randrange(3)
    if choice == 0:
        dom = rng.choice(["gmail", "yahoo", "outlook", "proton"])
        value = rng.choice([f"{first} dot {last} at {dom} dot com", f"{first}.{last} [at] {dom} [dot] com",
                            f"{first}{last} (at) {dom} (dot) com"])
        b.text("reach me: ").entity("EMAIL_ADDRESS", value)
    elif choice == 1:
        digits = fake.numerify("2##55501##")
        b.text("my cell is ").entity("PHONE_NUMBER", " ".join(_WORDS[int(d)] for d in digits))
    else:
        b.text("unsubscribe link: https://news.example.com/u?e=").entity(
            "EMAIL_ADDRESS", f"{first}.{last}%40{fake.free_email_domain()}").text("&t=1")
    return b.record("written_out")


def _json(fake: Faker, rng: random.Random) -> dict:
    b = _Builder()
    b.text('{"id": %d, "customer": {"first_name": "' % rng.randint(10**6, 10**9))
    b.entity("PERSON", fake.first_name()).text('", "last_name": "').entity("PERSON", fake.last_name())
    b.text('", "email": "').entity("EMAIL_ADDRESS", fake.email()).text('", "phone": "')
    b.entity("PHONE_NUMBER", fake.phone_number()).text('"}, "created_at": %d}' % rng.randint(1_500_000_000_000, 1_800_000_000_000))
    json.loads("".join(b.parts))  # well-formed by construction
    return b.record("json")


_KINDS = ((_plain, 5), (_hidden, 2), (_written_out, 2), (_json, 1))


def generated_set(n: int = 300, seed: int = 2026) -> list[dict]:
    """``n`` labelled records (see the module docstring); the same for the same seed."""
    rng = random.Random(seed)
    fakes = [Faker(loc) for loc in ("en_US", "en_GB", "en_IE")]
    for i, f in enumerate(fakes):
        f.seed_instance(seed + i)
    kinds = [k for k, w in _KINDS for _ in range(w)]
    return [rng.choice(kinds)(rng.choice(fakes), rng) for _ in range(n)]


LOCALES = {"de": "de_DE", "fr": "fr_FR", "es": "es_ES", "pt": "pt_PT", "it": "it_IT", "nl": "nl_NL"}
_FIELD = re.compile(r"\{(NAME2?|ADDRESS|PHONE|IBAN|ID|N|ORDER)\}")
_LABEL = {"NAME": "PERSON", "NAME2": "PERSON", "ADDRESS": "STREET_ADDRESS", "PHONE": "PHONE_NUMBER",
          "IBAN": "IBAN_CODE", "ID": "NATIONAL_ID"}


def national_id(lang: str, fake: Faker, rng: random.Random, valid: bool = True) -> str:
    """A national identifier of ``lang``'s country; with ``valid=False`` its last character is changed
    so that the checksum fails (verified with python-stdnum)."""
    from .languages.national_ids import is_valid

    from stdnum.iso7064 import mod_11_10
    from stdnum.pt import nif

    if lang == "de":  # 10 digits, first not 0, exactly one digit twice, then the ISO 7064 check digit
        value = ""
        while not is_valid("de_idnr", value):
            digits = rng.sample("0123456789", 9)
            digits.append(rng.choice(digits))
            rng.shuffle(digits)
            body = "".join(digits)
            value = body + mod_11_10.calc_check_digit(body) if body[0] != "0" else ""
    elif lang == "pt":
        body = str(rng.choice([1, 2, 3])) + "".join(rng.choice("0123456789") for _ in range(7))
        value = body + nif.calc_check_digit(body)
    else:
        value = fake.ssn() if lang != "es" else rng.choice([fake.nif, fake.nie])()
    key = {"de": "de_idnr", "fr": "fr_nir", "pt": "pt_nif", "it": "it_cf", "nl": "nl_bsn"}.get(lang)
    key = key or ("es_nie" if value[0] in "XYZ" else "es_dni")
    assert is_valid(key, value)
    if not valid:
        alphabet = "0123456789" if value[-1].isdigit() else "ABCDEFGHJKLMNPQRSTVWXYZ"
        for c in rng.sample(alphabet, len(alphabet)):
            if not is_valid(key, value[:-1] + c):
                return value[:-1] + c
    return value


def _address(lang: str, fake: Faker) -> str:
    street = f"{fake.building_number()} {fake.street_name()}" if lang == "fr" else fake.street_address()
    return f"{street}, {fake.postcode()} {_city(fake)}"


_SORTED_CITIES: dict[type, list[str]] = {}


def _city(fake: Faker) -> str:
    """``fake.city()``, but drawn from the locale's cities in sorted order: Faker's it_IT builds its
    list from a set, whose order (and so the seeded draw) changes with PYTHONHASHSEED."""
    for provider in fake.providers:
        cities = getattr(provider, "cities", None)
        if isinstance(cities, list) and cities:
            ordered = _SORTED_CITIES.setdefault(type(provider), sorted(cities))
            return str(fake.random_element(ordered))
    return str(fake.city())


def _fill(frame: str, lang: str, fake: Faker, rng: random.Random) -> dict:
    b = _Builder()
    cursor = 0
    for m in _FIELD.finditer(frame):
        b.text(frame[cursor:m.start()])
        field = m.group(1)
        if field == "N":
            b.text(str(rng.randint(1, 99)))
        elif field == "ORDER":
            b.text(str(rng.randint(1000, 99_999_999)))
        else:
            value = {"NAME": lambda: f"{fake.first_name()} {fake.last_name()}", "PHONE": fake.phone_number,
                     "ADDRESS": lambda: _address(lang, fake), "IBAN": fake.iban,
                     "ID": lambda: national_id(lang, fake, rng)}[field.rstrip("2")]()
            b.entity(_LABEL[field], value)
        cursor = m.end()
    b.text(frame[cursor:])
    return b.record(lang)


def language_set(lang: str, n: int = 120, seed: int = 2026) -> list[dict]:
    """``n`` labelled records in ``lang`` (one of ``LOCALES``), the same for the same seed."""
    from .languages.templates import FRAMES

    rng = random.Random(f"{lang}:{seed}")
    fake = Faker(LOCALES[lang])
    fake.seed_instance(seed)
    return [_fill(rng.choice(FRAMES[lang]), lang, fake, rng) for _ in range(n)]


def language_negatives(lang: str, n: int = 50, seed: int = 2026) -> list[str]:
    """``n`` texts in ``lang`` holding no personal data (label words, order numbers, amounts)."""
    from .languages.templates import NEGATIVE

    rng = random.Random(f"neg:{lang}:{seed}")
    fake = Faker(LOCALES[lang])
    fake.seed_instance(seed)  # the same texts for the same seed, as language_set
    return [_fill(rng.choice(NEGATIVE[lang]), lang, fake, rng)["full_text"] for _ in range(n)]
