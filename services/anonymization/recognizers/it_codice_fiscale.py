"""The Italian tax code (codice fiscale), with its checksum (see ``services.anonymization.languages.national_ids``)."""

from __future__ import annotations

from .national_id_base import NationalIdRecognizer


class LetheItCodiceFiscaleRecognizer(NationalIdRecognizer):
    """ID_NUMBER for a valid Italian tax code (codice fiscale)."""

    KEY = "it_cf"
