"""The German tax identification number (Steuerliche Identifikationsnummer), with its checksum (see ``services.anonymization.languages.national_ids``)."""

from __future__ import annotations

from .national_id_base import NationalIdRecognizer


class LetheDeSteuerIdRecognizer(NationalIdRecognizer):
    """ID_NUMBER for a valid German tax identification number (Steuerliche Identifikationsnummer)."""

    KEY = "de_idnr"
