"""The Spanish national identity document number (DNI), with its checksum (see ``services.anonymization.languages.national_ids``)."""

from __future__ import annotations

from .national_id_base import NationalIdRecognizer


class LetheEsDniRecognizer(NationalIdRecognizer):
    """ID_NUMBER for a valid Spanish national identity document number (DNI)."""

    KEY = "es_dni"
