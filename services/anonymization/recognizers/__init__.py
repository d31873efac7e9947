"""Lethe's recognizers: one class per module, registered in the explicit list below.

Adding a recognizer is adding a module and a line here. Order does not matter: the engine
resolves overlaps by type priority and score (see ``services.anonymization.engine``).
"""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from .age import LetheAgeRecognizer
from .contact_name import LetheContactNameRecognizer
from .credit_card import LetheCreditCardRecognizer
from .csv_fragment import LetheCsvFragmentRecognizer
from .crypto_wallet import LetheCryptoWalletRecognizer
from .date_time import LetheDateTimeRecognizer
from .email import LetheEmailRecognizer
from .encoded_email import LetheEncodedEmailRecognizer
from .firm_name import LetheFirmNameRecognizer
from .iban import LetheIbanRecognizer
from .keyed_value import LetheKeyedValueRecognizer
from .id_number import LetheIdNumberRecognizer
from .ip_address import LetheIpAddressRecognizer
from .labelled_name import LetheLabelledNameRecognizer
from .person_context import LethePersonContextRecognizer
from .phone import LethePhoneRecognizer
from .secret import LetheSecretRecognizer
from .spacy_ner import LetheSpacyNerRecognizer
from .spelled_email import LetheSpelledEmailRecognizer
from .spelled_phone import LetheSpelledPhoneRecognizer
from .street_address import LetheStreetAddressRecognizer
from .titled_name import LetheTitledNameRecognizer
from .url import LetheUrlRecognizer
from .us_ssn import LetheUsSsnRecognizer
# Languages other than English (national identifiers with their checksums first: they win ties).
from .de_steuer_id import LetheDeSteuerIdRecognizer
from .es_dni import LetheEsDniRecognizer
from .eu_address import LetheEuAddressRecognizer
from .eu_cue_name import LetheEuCueNameRecognizer
from .eu_phone import LetheEuPhoneRecognizer
from .es_nie import LetheEsNieRecognizer
from .fr_nir import LetheFrNirRecognizer
from .it_codice_fiscale import LetheItCodiceFiscaleRecognizer
from .nl_bsn import LetheNlBsnRecognizer
from .pt_nif import LethePtNifRecognizer
from .spacy_fr import LetheSpacyFrRecognizer

RECOGNIZERS: dict[str, type[EntityRecognizer]] = {
    "de_steuer_id": LetheDeSteuerIdRecognizer,
    "fr_nir": LetheFrNirRecognizer,
    "es_dni": LetheEsDniRecognizer,
    "es_nie": LetheEsNieRecognizer,
    "it_codice_fiscale": LetheItCodiceFiscaleRecognizer,
    "nl_bsn": LetheNlBsnRecognizer,
    "pt_nif": LethePtNifRecognizer,
    "eu_cue_name": LetheEuCueNameRecognizer,
    "eu_address": LetheEuAddressRecognizer,
    "eu_phone": LetheEuPhoneRecognizer,
    "spacy_fr": LetheSpacyFrRecognizer,
    "email": LetheEmailRecognizer,
    "encoded_email": LetheEncodedEmailRecognizer,
    "phone": LethePhoneRecognizer,
    "spelled_email": LetheSpelledEmailRecognizer,
    "spelled_phone": LetheSpelledPhoneRecognizer,
    "credit_card": LetheCreditCardRecognizer,
    "iban": LetheIbanRecognizer,
    "ip_address": LetheIpAddressRecognizer,
    "us_ssn": LetheUsSsnRecognizer,
    "crypto_wallet": LetheCryptoWalletRecognizer,
    "secret": LetheSecretRecognizer,
    "url": LetheUrlRecognizer,
    "date_time": LetheDateTimeRecognizer,
    "street_address": LetheStreetAddressRecognizer,
    "age": LetheAgeRecognizer,
    "id_number": LetheIdNumberRecognizer,
    "titled_name": LetheTitledNameRecognizer,
    "labelled_name": LetheLabelledNameRecognizer,
    "person_context": LethePersonContextRecognizer,
    "contact_name": LetheContactNameRecognizer,
    "firm_name": LetheFirmNameRecognizer,
    "spacy_ner": LetheSpacyNerRecognizer,
    "keyed_value": LetheKeyedValueRecognizer,
    "csv_fragment": LetheCsvFragmentRecognizer,
}


def build_recognizers(names: list[str] | None = None) -> list[EntityRecognizer]:
    """Instantiate the registered recognizers (all, or those named), in registry order.

    :raises KeyError: for an unknown name.
    """
    return [RECOGNIZERS[n]() for n in (names if names is not None else list(RECOGNIZERS))]
