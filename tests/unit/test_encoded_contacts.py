"""E-mails hidden by encodings in URLs: base64 (standard, URL-safe, padded or not), percent-encoding
once or twice, and their nestings, in query values, path segments and fragments. Generated with Faker
over many seeds; the whole encoded token is redacted and nothing in the output decodes to an address.
Random base64 and long runs are left alone, and decoding is bounded."""

from __future__ import annotations

import base64
import random
import re
from urllib.parse import quote

import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st

from services.anonymization.engine import DetectionEngine, deidentify
from services.anonymization.recognizers.encoded_email import (
    MAX_ENCODED_CHARS,
    LetheEncodedEmailRecognizer,
    decodings,
)

_ENCODINGS = {
    "b64": lambda s: base64.b64encode(s.encode()).decode(),
    "b64_unpadded": lambda s: base64.b64encode(s.encode()).decode().rstrip("="),
    "b64_urlsafe": lambda s: base64.urlsafe_b64encode(s.encode()).decode(),
    "percent_twice": lambda s: quote(quote(s, safe=""), safe=""),
    "b64_then_percent": lambda s: quote(base64.b64encode(s.encode()).decode(), safe=""),
    "percent_then_b64": lambda s: base64.urlsafe_b64encode(quote(s, safe="").encode()).decode(),
    "b64_of_query": lambda s: base64.b64encode(f"email={s}&src=news".encode()).decode(),
}
_PLACES = [
    "Unsubscribe: https://news.{host}/track?u={token}&c=1942",
    "click https://{host}/r/{token}/open to confirm",
    "the link was {host}/login#{token}",
    "GET /api/v2/verify?token={token} HTTP/1.1",
    "redirect_to={token}",
]


@pytest.fixture(scope="module")
def engine() -> DetectionEngine:
    eng = DetectionEngine(workers=1)
    yield eng
    eng.close()


def _cases(seed: int, n: int):
    fake = Faker(["en_US", "en_GB"])
    fake.seed_instance(seed)
    rng = random.Random(seed)
    for _ in range(n):
        email = fake.email() if rng.random() < 0.5 else fake.free_email()
        kind = rng.choice(sorted(_ENCODINGS))
        token = _ENCODINGS[kind](email)
        text = rng.choice(_PLACES).format(host=fake.domain_name(), token=token)
        yield kind, email, token, text


def _decodable_email(text: str) -> bool:
    for run in re.findall(r"[A-Za-z0-9+/_%.=-]{8,}", text):
        for part in [run, *re.split(r"[=/&]", run)]:
            if any("@" in d for d in decodings(part)):
                return True
    return False


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_every_encoded_email_is_redacted_whole(engine, seed):
    cases = list(_cases(seed, 60))
    found = engine.analyze_batch([t for *_, t in cases])
    missed = []
    for (kind, _email, token, text), dets in zip(cases, found):
        start = text.index(token)
        covering = [d for d in dets if d.start <= start and start + len(token) <= d.end]
        if not covering or covering[0].type not in ("EMAIL_ADDRESS", "URL"):
            missed.append((kind, text))
            continue
        assert not _decodable_email(deidentify(text, dets)), (kind, text)
    assert not missed, missed


def test_each_encoding_is_found_on_its_own():
    rec = LetheEncodedEmailRecognizer()
    fake = Faker("en_US")
    for kind, encode in _ENCODINGS.items():
        for seed in range(25):
            fake.seed_instance(seed)
            token = encode(fake.email())
            text = f"https://t.example.net/c?id=88&u={token}&x=1"
            spans = [(r.start, r.end) for r in rec.analyze(text, [])]
            start = text.index(token)
            assert (start, start + len(token)) in spans, (kind, token)


def test_random_base64_and_benign_encoded_text_are_left_alone(engine):
    fake = Faker("en_US")
    rng = random.Random(5)
    texts = []
    for seed in range(80):
        fake.seed_instance(seed)
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(6, 60)))
        texts.append(f"curl 'https://api.example.org/v1/items?sig={base64.urlsafe_b64encode(blob).decode()}'")
        texts.append(f"payload {base64.b64encode(fake.sentence().encode()).decode()} accepted")
        texts.append(f"see https://docs.example.org/{quote(fake.sentence(), safe='')} for details")
    rec = LetheEncodedEmailRecognizer()
    assert [t for t in texts if rec.analyze(t, [])] == []


def test_decoding_is_bounded_and_a_longer_run_is_never_decoded_in_part():
    token = base64.b64encode(b"jane.doe@example.com").decode()
    long_run = "A" * (MAX_ENCODED_CHARS + 4) + token
    assert LetheEncodedEmailRecognizer().analyze(f"x={long_run}", []) == []
    nested = "jane.doe@example.com"
    for _ in range(6):
        nested = base64.b64encode(nested.encode()).decode()
    assert not any("@" in d for d in decodings(nested))  # more layers than MAX_LAYERS


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_%.=-&?:",
               max_size=2000))
def test_any_run_of_url_characters_is_handled_without_error(text):
    for r in LetheEncodedEmailRecognizer().analyze(text, []):
        assert 0 <= r.start < r.end <= len(text)
        assert any("@" in d for d in decodings(text[r.start:r.end]))
