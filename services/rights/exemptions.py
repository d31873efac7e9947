"""The closed vocabulary of exemptions staff may cite to deny a request, read from the policy
file's ``[[request_exemptions]]`` table (GDPR Art. 12(5), 17(3)(a)-(e), 23; CCPA
1798.105(d)(1)-(9), 1798.145).

Each entry: ``key`` (what callers send), ``law`` (``gdpr`` or ``ccpa``: a request is denied only
under its own law), ``kinds`` (request kinds it can answer) and ``reference`` (the citation
recorded in the denial). Raises PolicyError at start-up on a malformed entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.rights.domain import KINDS, LAWS
from shared.errors import InvalidArgument
from shared.policy import PolicyError


@dataclass(frozen=True)
class Exemption:
    """One exemption: its key, law, the request kinds it answers and its legal reference."""

    key: str
    law: str
    kinds: tuple[str, ...]
    reference: str


def load_exemptions(raw_policy: dict[str, Any]) -> dict[str, Exemption]:
    """The policy's exemptions by key; PolicyError on an unknown law or kind, or a repeated key."""
    out: dict[str, Exemption] = {}
    for entry in raw_policy.get("request_exemptions", []):
        e = Exemption(str(entry["key"]), str(entry["law"]), tuple(entry["kinds"]),
                      str(entry["reference"]))
        if e.law not in LAWS or not e.kinds or set(e.kinds) - set(KINDS) or e.key in out:
            raise PolicyError(f"request_exemptions entry {e.key!r} is invalid")
        out[e.key] = e
    return out


def find(exemptions: dict[str, Exemption], key: str) -> Exemption:
    """The exemption named ``key``; InvalidArgument (``EXEMPTION_UNKNOWN``) when the policy has none."""
    try:
        return exemptions[key]
    except KeyError:
        raise InvalidArgument("unknown exemption: choose one of the policy's request_exemptions",
                              "EXEMPTION_UNKNOWN") from None
