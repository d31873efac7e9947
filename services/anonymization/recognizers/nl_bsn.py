"""The Dutch citizen service number (BSN), with its checksum (see ``services.anonymization.languages.national_ids``)."""

from __future__ import annotations

from .national_id_base import NationalIdRecognizer


class LetheNlBsnRecognizer(NationalIdRecognizer):
    """ID_NUMBER for a valid Dutch citizen service number (BSN)."""

    KEY = "nl_bsn"
