"""The Spanish foreigner identity number (NIE), with its checksum (see ``services.anonymization.languages.national_ids``)."""

from __future__ import annotations

from .national_id_base import NationalIdRecognizer


class LetheEsNieRecognizer(NationalIdRecognizer):
    """ID_NUMBER for a valid Spanish foreigner identity number (NIE)."""

    KEY = "es_nie"
