"""The French social security number (NIR), with its checksum (see ``services.anonymization.languages.national_ids``)."""

from __future__ import annotations

from .national_id_base import NationalIdRecognizer


class LetheFrNirRecognizer(NationalIdRecognizer):
    """ID_NUMBER for a valid French social security number (NIR)."""

    KEY = "fr_nir"
