"""Lethe's recognizers: one class per module, registered in the explicit list below.

Adding a recognizer is adding a module and a line here. Order does not matter: the engine
resolves overlaps by type priority and score (see ``services.anonymization.engine``).
"""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from .age import AgeRecognizer
from .credit_card import CreditCardRecognizer
from .crypto_wallet import CryptoWalletRecognizer
from .date_time import DateTimeRecognizer
from .email import EmailRecognizer
from .iban import IbanRecognizer
from .id_number import IdNumberRecognizer
from .ip_address import IpAddressRecognizer
from .labelled_name import LabelledNameRecognizer
from .phone import PhoneRecognizer
from .secret import SecretRecognizer
from .spacy_ner import SpacyNerRecognizer
from .street_address import StreetAddressRecognizer
from .titled_name import TitledNameRecognizer
from .url import UrlRecognizer
from .us_ssn import UsSsnRecognizer

RECOGNIZERS: dict[str, type[EntityRecognizer]] = {
    "email": EmailRecognizer,
    "phone": PhoneRecognizer,
    "credit_card": CreditCardRecognizer,
    "iban": IbanRecognizer,
    "ip_address": IpAddressRecognizer,
    "us_ssn": UsSsnRecognizer,
    "crypto_wallet": CryptoWalletRecognizer,
    "secret": SecretRecognizer,
    "url": UrlRecognizer,
    "date_time": DateTimeRecognizer,
    "street_address": StreetAddressRecognizer,
    "age": AgeRecognizer,
    "id_number": IdNumberRecognizer,
    "titled_name": TitledNameRecognizer,
    "labelled_name": LabelledNameRecognizer,
    "spacy_ner": SpacyNerRecognizer,
}


def build_recognizers(names: list[str] | None = None) -> list[EntityRecognizer]:
    """Instantiate the registered recognizers (all, or those named), in registry order.

    :raises KeyError: for an unknown name.
    """
    return [RECOGNIZERS[n]() for n in (names if names is not None else list(RECOGNIZERS))]
