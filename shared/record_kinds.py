"""The record kinds: which part of an interaction becomes which stored record.

Ingestion splits every interaction into records, one per kind; each kind has a data category
(a fideslang key, the unit of the retention table in ``shared/policy.toml``) and a form (what the
record holds). This module is the one place that names them:

=============  ===================  ==========  ==================================================
kind           category             form        what of the interaction
=============  ===================  ==========  ==================================================
``ORIGINAL``   user.content         original    prompt and response as given
``REDACTED``   user.content         redacted    prompt and response with personal data replaced
``METADATA``   system.operations    metadata    technical metadata (network prefix, user agent
                                                family, session, timings, entity types redacted)
``CONTACT``    user.contact         contact     contact details given voluntarily (tickets)
=============  ===================  ==========  ==================================================

Only the ``REDACTED`` form may feed de-identified aggregation at expiry (the content rule's
``at_expiry = "purge_and_aggregate"``), and only it is readable by retention.

:func:`check_policy` checks the kinds against a loaded policy: every kind's category must have a
retention rule (a kind without one could never expire). ``shared.policy.load_policy`` runs it, so
a policy file that forgets a category fails at load with :class:`~shared.policy.PolicyError`
naming the kind, never later with a record that no rule schedules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordKind:
    """One kind of stored record.

    ``fields``: the keys of the record's plaintext payload (JSON object); ``export_key``: the
    key of its section in an access export (``lethe.access-export/v1``).
    """

    name: str
    category: str
    form: str
    part: str
    fields: tuple[str, ...]
    export_key: str
    aggregatable: bool = False


ORIGINAL = RecordKind("original", "user.content", "original", "prompt and response as given",
                      ("prompt", "response"), "content")
REDACTED = RecordKind("redacted", "user.content", "redacted",
                      "prompt and response with personal data replaced by placeholders",
                      ("prompt", "response"), "redacted_content", aggregatable=True)
METADATA = RecordKind("metadata", "system.operations", "metadata",
                      "technical metadata: network prefix, user agent family, session, timings, "
                      "entity types redacted",
                      ("session_id", "network_prefix", "user_agent_family", "occurred_at",
                       "received_at", "region", "kind", "prompt_chars", "response_chars",
                       "entities_redacted"),
                      "technical_metadata")
CONTACT = RecordKind("contact", "user.contact", "contact",
                     "contact details the user gave (support tickets)", ("contact",),
                     "contact_details")

KINDS: tuple[RecordKind, ...] = (ORIGINAL, REDACTED, METADATA, CONTACT)
CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(k.category for k in KINDS))
FORMS: tuple[str, ...] = tuple(k.form for k in KINDS)
_BY_FORM = {k.form: k for k in KINDS}


def by_form(form: str) -> RecordKind:
    """The kind stored with ``form``; raises KeyError (naming the form) when none is."""
    try:
        return _BY_FORM[form]
    except KeyError:
        raise KeyError(f"no record kind has the form {form!r}") from None


def kind_of(category: str, form: str) -> RecordKind | None:
    """The kind with this category and form, or None (an unknown pair: no record may have it)."""
    kind = _BY_FORM.get(form)
    return kind if kind is not None and kind.category == category else None


def check_policy(policy: Any) -> None:
    """Check that every kind's category has a retention rule in ``policy`` (a
    :class:`shared.policy.Policy`); raises :class:`shared.policy.PolicyError` naming the first
    kind and category without one."""
    from shared.policy import PolicyError

    for kind in KINDS:
        try:
            policy.rule_for(kind.category)
        except PolicyError:
            raise PolicyError(f"record kind {kind.name!r}: no retention rule for its category "
                              f"{kind.category!r}") from None
