"""Transfers of personal data out of the EEA (GDPR Chapter V) as law, not text.

A recipient's ``transfer_mechanism`` is one term of a closed vocabulary, ``kind[:qualifier]``:

================================  ==============================================================
``adequacy``                      Art. 45: the destination has an adequacy decision of the
                                  Commission, listed in the policy file's ``[adequacy]`` table
``adequacy:<condition>``          the same, for a decision whose scope is limited (the EU-US Data
                                  Privacy Framework covers certified US organisations only:
                                  ``adequacy:dpf_certified``; Canada's PIPEDA decision commercial
                                  organisations only: ``adequacy:pipeda_commercial``)
``scc``                           Art. 46(2)(c): the Commission's standard contractual clauses,
                                  Commission Implementing Decision (EU) 2021/914; the recipient's
                                  ``legal_reference`` names the signed clauses
``bcr``                           Art. 46(2)(b) and 47: binding corporate rules approved by a
                                  supervisory authority; ``legal_reference`` names the approval
``derogation:<name>``             Art. 49(1), only where no adequacy decision covers the
                                  destination: explicit_consent (a), contract_performance (b),
                                  contract_in_subject_interest (c), public_interest (d),
                                  legal_claims (e), vital_interests (f), public_register (g),
                                  compelling_legitimate_interests (second subparagraph)
================================  ==============================================================

Destinations in the EEA (``eea_regions`` of the policy, e.g. ``EU``) receive no transfer and need
no mechanism; any other region is a third country. :func:`check_mechanism` returns None when the
mechanism applies to the destination, else an UPPER_SNAKE reason; the vault calls it when a
recipient is registered and again at every release, so a mechanism that stopped applying (a
decision withdrawn from the policy file, an expired document) stops the data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

SCC_REFERENCE = "Commission Implementing Decision (EU) 2021/914 (GDPR Art. 46(2)(c))"
BCR_REFERENCE = "GDPR Art. 46(2)(b) and Art. 47 (binding corporate rules)"
DEROGATIONS = {
    "explicit_consent": "GDPR Art. 49(1)(a)",
    "contract_performance": "GDPR Art. 49(1)(b)",
    "contract_in_subject_interest": "GDPR Art. 49(1)(c)",
    "public_interest": "GDPR Art. 49(1)(d)",
    "legal_claims": "GDPR Art. 49(1)(e)",
    "vital_interests": "GDPR Art. 49(1)(f)",
    "public_register": "GDPR Art. 49(1)(g)",
    "compelling_legitimate_interests": "GDPR Art. 49(1), second subparagraph",
}
KINDS = ("adequacy", "scc", "bcr", "derogation")


class TransferPolicyError(ValueError):
    """The policy file's ``[adequacy]`` table is malformed (raised at load: fail fast)."""


@dataclass(frozen=True)
class AdequacyDecision:
    """One Commission adequacy decision (GDPR Art. 45(3)) for one destination code.

    ``condition`` is empty when the decision covers the whole destination, else the qualifier a
    recipient must meet (e.g. ``dpf_certified``); ``scope`` says it in words.
    """

    region: str
    name: str
    reference: str
    scope: str
    condition: str = ""


@dataclass(frozen=True)
class TransferLaw:
    """The adequacy list and EEA regions of the loaded policy."""

    eea_regions: frozenset[str]
    adequacy: dict[str, AdequacyDecision]

    @classmethod
    def from_policy(cls, raw: dict[str, Any]) -> TransferLaw:
        """Read ``[adequacy]`` (``eea_regions`` and ``[[adequacy.decisions]]``); raises
        TransferPolicyError on a missing field or a duplicate destination."""
        table = raw.get("adequacy", {})
        decisions: dict[str, AdequacyDecision] = {}
        for entry in table.get("decisions", []):
            try:
                decision = AdequacyDecision(entry["region"], entry["name"], entry["reference"],
                                            entry["scope"], entry.get("condition", ""))
            except KeyError as exc:
                raise TransferPolicyError(f"adequacy decision lacks {exc.args[0]!r}") from None
            if decision.region in decisions:
                raise TransferPolicyError(f"two adequacy decisions for {decision.region!r}")
            decisions[decision.region] = decision
        return cls(frozenset(table.get("eea_regions", ["EU"])), decisions)

    def legal_basis(self, mechanism: str, region: str) -> str:
        """The legal reference of an applicable mechanism, for records and access exports."""
        kind, _, qualifier = mechanism.partition(":")
        if kind == "adequacy" and region in self.adequacy:
            return f"GDPR Art. 45; {self.adequacy[region].reference}"
        if kind == "scc":
            return SCC_REFERENCE
        if kind == "bcr":
            return BCR_REFERENCE
        return DEROGATIONS.get(qualifier, "") if kind == "derogation" else ""


def check_mechanism(law: TransferLaw, region: str, mechanism: str, document: str) -> str | None:
    """None when ``mechanism`` lawfully covers personal data going to ``region``, else a reason.

    Args:
        law: adequacy list and EEA regions (policy file).
        region: the recipient's region code, e.g. ``US``.
        mechanism: the vocabulary term (module docstring); empty means none.
        document: the recipient's ``legal_reference`` (the signed SCCs, the BCR approval).
    Reasons: TRANSFER_MECHANISM_MISSING, TRANSFER_MECHANISM_UNKNOWN, ADEQUACY_NOT_GRANTED,
    ADEQUACY_SCOPE_NOT_MET, TRANSFER_DOCUMENT_MISSING, DEROGATION_NOT_APPLICABLE.
    """
    if region in law.eea_regions:
        return None  # not a transfer (GDPR Art. 44 concerns third countries)
    if not mechanism:
        return "TRANSFER_MECHANISM_MISSING"
    kind, _, qualifier = mechanism.partition(":")
    if kind not in KINDS:
        return "TRANSFER_MECHANISM_UNKNOWN"
    if kind == "adequacy":
        return _check_adequacy(law, region, qualifier)
    if kind in ("scc", "bcr"):
        if qualifier:
            return "TRANSFER_MECHANISM_UNKNOWN"
        return None if document.strip() else "TRANSFER_DOCUMENT_MISSING"
    if qualifier not in DEROGATIONS:
        return "TRANSFER_MECHANISM_UNKNOWN"
    decision = law.adequacy.get(region)
    if decision is not None and not decision.condition:
        return "DEROGATION_NOT_APPLICABLE"  # Art. 49(1): only absent adequacy or safeguards
    return None


def _check_adequacy(law: TransferLaw, region: str, qualifier: str) -> str | None:
    decision = law.adequacy.get(region)
    if decision is None:
        return "ADEQUACY_NOT_GRANTED"
    if qualifier != decision.condition:
        return "ADEQUACY_SCOPE_NOT_MET" if decision.condition else "TRANSFER_MECHANISM_UNKNOWN"
    return None


def check_valid_on(valid_until: str, today: dt.date) -> str | None:
    """TRANSFER_MECHANISM_EXPIRED when the mechanism's last valid day is before ``today``."""
    if valid_until and dt.date.fromisoformat(valid_until) < today:
        return "TRANSFER_MECHANISM_EXPIRED"
    return None
