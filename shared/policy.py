"""The privacy policy as data: loads and validates ``policy.toml`` (or ``LETHE_POLICY_FILE``).

Every rule of the published policy that Lethe enforces is read from here: retention periods per
data category, expiry actions, legal-hold reasons, registered recipient categories, request
deadlines (GDPR Art. 12(3), CCPA 1798.130) and the aggregation threshold k.
"""

from __future__ import annotations

import calendar
import datetime as dt
import tomllib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from shared.config import setting
from shared.transfers import TransferLaw, TransferPolicyError, check_mechanism

DEFAULT_POLICY = Path(__file__).with_name("policy.toml")
# Hold reasons of the bundled policy (the loaded policy's ``holds`` is authoritative).
HOLD_REASONS = ("security_investigation", "legal_obligation", "litigation", "court_order")


class PolicyError(Exception):
    """Raised when the policy file is missing a rule or holds an invalid value."""


@dataclass(frozen=True)
class RetentionRule:
    """One row of the retention schedule.

    ``retention_days`` counts from storage; ``until_event`` rules (tickets) wait for the event and
    then run ``administrative_period_days``. ``hold_reasons`` is derived at load from the
    ``[[hold_reasons]]`` table: the reasons whose ``preserves`` covers one of the rule's categories.
    """

    rule: str
    categories: tuple[str, ...]
    description: str
    purposes: tuple[str, ...]
    at_expiry: str
    hold_reasons: tuple[str, ...]
    retention_days: int | None = None
    until_event: str | None = None
    administrative_period_days: int = 0
    objection_purpose: str | None = None

    def due_at(self, stored_at: dt.datetime, event_at: dt.datetime | None = None) -> dt.datetime | None:
        """Deadline (UTC) of a record stored at ``stored_at``; None while waiting for an event."""
        if self.retention_days is not None:
            return stored_at + dt.timedelta(days=self.retention_days)
        if event_at is None:
            return None
        return event_at + dt.timedelta(days=self.administrative_period_days)

    def period_text(self) -> str:
        """Human-readable retention period for access exports."""
        if self.retention_days is not None:
            return f"{self.retention_days} days"
        return f"until {self.until_event} + {self.administrative_period_days} days"


def add_months(when: dt.datetime, months: int) -> dt.datetime:
    """Calendar-month addition clamped to the month's last day (31 Jan + 1 month = 28/29 Feb).

    This is how "one month" in GDPR Art. 12(3) is counted (Regulation 1182/71 Art. 3(2)(c)).
    """
    month = when.month - 1 + months
    year = when.year + month // 12
    month = month % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def category_within(category: str, scope: str) -> bool:
    """True when fideslang ``category`` is ``scope`` or below it (``user.contact.email`` in ``user.contact``)."""
    return category == scope or category.startswith(scope + ".")


@dataclass(frozen=True)
class HoldReason:
    """One reason a legal hold may be placed for (``[[hold_reasons]]`` in the policy file).

    ``legal_basis`` is the exemption from erasure it invokes (GDPR Art. 17(3)(b) legal
    obligation, 17(3)(e) legal claims; CCPA 1798.105(d)); ``preserves`` the data categories such a
    hold may keep past retention and out of an erasure; ``preservation_order`` marks an order
    (litigation, court order) that overrides the published schedule, content included.
    """

    reason: str
    legal_basis: str
    preserves: tuple[str, ...]
    preservation_order: bool = False

    def preserves_category(self, category: str) -> bool:
        """True when a hold of this reason may keep records of ``category``."""
        return any(category_within(category, c) for c in self.preserves)


@dataclass(frozen=True)
class Policy:
    """The loaded policy."""

    raw: dict[str, Any]
    rules: tuple[RetentionRule, ...]
    holds: tuple[HoldReason, ...] = ()
    # Adequacy decisions and EEA regions ([adequacy]; GDPR Art. 45), see shared/transfers.py.
    transfers: TransferLaw = TransferLaw(frozenset({"EU"}), {})

    def hold_reason(self, reason: str) -> HoldReason:
        """The hold reason named ``reason``; raises PolicyError when the policy has none."""
        for hold in self.holds:
            if hold.reason == reason:
                return hold
        raise PolicyError(f"unknown hold reason {reason!r}")

    def hold_reason_names(self) -> tuple[str, ...]:
        """Every hold reason of the policy, in file order."""
        return tuple(h.reason for h in self.holds)

    def rule_for(self, category: str) -> RetentionRule:
        """The retention rule for a fideslang category; raises PolicyError when none applies."""
        for rule in self.rules:
            if any(category == c or category.startswith(c + ".") for c in rule.categories):
                return rule
        raise PolicyError(f"no retention rule for category {category!r}")

    @property
    def min_subjects(self) -> int:
        """k of the aggregation threshold."""
        return int(self.raw["aggregation"]["min_subjects"])

    @property
    def recipients(self) -> list[dict[str, Any]]:
        """Registered recipients from the policy file."""
        return list(self.raw.get("recipients", []))

    @property
    def recipient_categories(self) -> list[dict[str, Any]]:
        """Recipient categories with their purposes and whether they may receive personal data."""
        return list(self.raw.get("recipient_categories", []))

    def request_due(self, law: str, received_at: dt.datetime, extended: bool = False) -> dt.datetime:
        """Deadline of a data-subject request under ``law`` ("gdpr" or "ccpa").

        GDPR Art. 12(3): one month from receipt (+2 months when extended); CCPA 1798.130: 45 days
        (+45 when extended). Raises PolicyError on an unknown law.
        """
        cfg = self.raw["requests"].get(law)
        if cfg is None:
            raise PolicyError(f"unknown law {law!r}")
        if "months" in cfg:
            months = cfg["months"] + (cfg["extension_months"] if extended else 0)
            return add_months(received_at, months)
        days = cfg["days"] + (cfg["extension_days"] if extended else 0)
        return received_at + dt.timedelta(days=days)


def _rule(entry: dict[str, Any]) -> RetentionRule:
    if "hold_reasons" in entry:
        raise PolicyError(f"rule {entry.get('rule')!r}: hold reasons are listed in [[hold_reasons]] "
                          "with the categories they preserve, not per retention rule")
    try:
        rule = RetentionRule(
            rule=entry["rule"], categories=tuple(entry["categories"]),
            description=entry["description"], purposes=tuple(entry["purposes"]),
            at_expiry=entry["at_expiry"], hold_reasons=(),
            retention_days=entry.get("retention_days"), until_event=entry.get("until_event"),
            administrative_period_days=int(entry.get("administrative_period_days", 0)),
            objection_purpose=entry.get("objection_purpose"))
    except KeyError as exc:
        raise PolicyError(f"retention rule lacks {exc.args[0]!r}") from None
    if (rule.retention_days is None) == (rule.until_event is None):
        raise PolicyError(f"rule {rule.rule!r}: set exactly one of retention_days, until_event")
    return rule


def _hold_reason(entry: dict[str, Any]) -> HoldReason:
    try:
        hold = HoldReason(reason=entry["reason"], legal_basis=entry["legal_basis"],
                          preserves=tuple(entry["preserves"]),
                          preservation_order=bool(entry.get("preservation_order", False)))
    except KeyError as exc:
        raise PolicyError(f"hold reason lacks {exc.args[0]!r}") from None
    if not hold.preserves or not hold.legal_basis:
        raise PolicyError(f"hold reason {hold.reason!r}: needs a legal basis and categories")
    return hold


def _with_hold_reasons(rule: RetentionRule, holds: tuple[HoldReason, ...]) -> RetentionRule:
    """The rule with the hold reasons that may preserve one of its categories (one model)."""
    reasons = tuple(h.reason for h in holds
                    if any(h.preserves_category(c) or category_within(c_h, c)
                           for c in rule.categories for c_h in h.preserves))
    return replace(rule, hold_reasons=reasons)


@lru_cache(maxsize=4)
def load_policy(path: str | None = None) -> Policy:
    """Load and validate the policy (``LETHE_POLICY_FILE`` or the bundled default)."""
    source = Path(path or setting("LETHE_POLICY_FILE") or DEFAULT_POLICY)
    try:
        raw = tomllib.loads(source.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"cannot read policy file {source.name}") from exc
    if raw.get("controller", {}).get("sale_of_data", False):
        raise PolicyError("sale_of_data must be false: the policy promises no sale of data")
    holds = tuple(_hold_reason(e) for e in raw.get("hold_reasons", []))
    rules = tuple(_with_hold_reasons(_rule(e), holds) for e in raw.get("retention", []))
    policy = Policy(raw=raw, rules=rules, holds=holds, transfers=_transfer_law(raw))
    from shared.record_kinds import check_policy  # every record kind's category has a rule

    check_policy(policy)
    return policy


def _transfer_law(raw: dict[str, Any]) -> TransferLaw:
    """The [adequacy] table; the policy's own recipients must use a mechanism that applies."""
    try:
        law = TransferLaw.from_policy(raw)
    except TransferPolicyError as exc:
        raise PolicyError(str(exc)) from None
    for entry in raw.get("recipients", []):
        mechanism = entry.get("transfer_mechanism", "")
        reason = check_mechanism(law, entry["region"], mechanism, entry.get("legal_reference", ""))
        if mechanism and reason:
            raise PolicyError(f"recipient {entry['id']!r}: transfer mechanism refused ({reason})")
    return law
