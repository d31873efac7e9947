"""The Portuguese tax number (NIF), with its checksum (see ``services.anonymization.languages.national_ids``)."""

from __future__ import annotations

from .national_id_base import NationalIdRecognizer


class LethePtNifRecognizer(NationalIdRecognizer):
    """ID_NUMBER for a valid Portuguese tax number (NIF)."""

    KEY = "pt_nif"
