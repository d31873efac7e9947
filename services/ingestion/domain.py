"""Ingestion domain: validation of interactions, network-identifier stripping, the ingest record.

Rules (docs/design.md §2 and §6): the client IP is reduced to its network prefix
(/24 IPv4, /48 IPv6) and the full address is never stored; the user agent is reduced to a coarse
browser family; the account id becomes ``subject_ref`` (keyed HMAC) and is never stored in clear.
Validation errors carry an UPPER_SNAKE reason and a message that never echoes the input.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import uuid
from dataclasses import dataclass

from eventsourcing.domain import Aggregate, event

from shared import limits
from shared.errors import InvalidArgument

MAX_TEXT_BYTES = limits.MAX_TEXT_BYTES
MAX_ID_CHARS = limits.MAX_ID_CHARS
KINDS = ("interaction", "support_ticket")
REGION = re.compile(r"^[A-Z]{2,8}$")
MAX_CLOCK_SKEW = dt.timedelta(days=1)


@dataclass(frozen=True)
class InteractionIn:
    """One interaction as received (all fields as given; validated by :func:`validate`)."""

    account_id: str
    session_hint: str
    client_ip: str
    user_agent: str
    region: str
    occurred_at: dt.datetime | None
    kind: str
    prompt: str
    response: str
    contact: str


def _text_ok(value: str, name: str, required: bool) -> None:
    if required and not value.strip():
        raise InvalidArgument(f"{name} is empty", f"{name.upper()}_EMPTY")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidArgument(f"{name} is not valid UTF-8", f"{name.upper()}_NOT_UTF8") from None
    if size > MAX_TEXT_BYTES:
        raise InvalidArgument(f"{name} exceeds {MAX_TEXT_BYTES} bytes", f"{name.upper()}_TOO_LARGE")


def validate(item: InteractionIn, now: dt.datetime) -> None:
    """Check one interaction; raises InvalidArgument with a reason such as ``PROMPT_EMPTY``."""
    if not item.account_id or len(item.account_id) > MAX_ID_CHARS or not item.account_id.isprintable():
        raise InvalidArgument("account_id is missing or malformed", "ACCOUNT_ID_INVALID")
    if len(item.session_hint) > MAX_ID_CHARS:
        raise InvalidArgument("session_hint exceeds 256 characters", "SESSION_HINT_INVALID")
    if item.kind not in KINDS:
        raise InvalidArgument("kind must be interaction or support_ticket", "KIND_INVALID")
    if not REGION.match(item.region):
        raise InvalidArgument("region must be 2-8 upper-case letters, e.g. EU", "REGION_INVALID")
    if item.occurred_at is None:
        raise InvalidArgument("timestamp is missing", "TIMESTAMP_MISSING")
    if item.occurred_at > now + MAX_CLOCK_SKEW:
        raise InvalidArgument("timestamp is in the future", "TIMESTAMP_IN_FUTURE")
    if item.client_ip:
        network_prefix(item.client_ip)
    if len(item.user_agent) > 1024:
        raise InvalidArgument("user_agent exceeds 1024 characters", "USER_AGENT_INVALID")
    ticket = item.kind == "support_ticket"
    _text_ok(item.prompt, "prompt", required=not ticket)
    _text_ok(item.response, "response", required=False)
    _text_ok(item.contact, "contact", required=False)
    if ticket and not (item.prompt.strip() or item.contact.strip()):
        raise InvalidArgument("a support ticket needs a prompt or contact", "TICKET_EMPTY")


def network_prefix(client_ip: str) -> str:
    """The network prefix kept instead of an IP: ``/24`` for IPv4, ``/48`` for IPv6 (CIDR text).

    IPv4-mapped IPv6 addresses are treated as IPv4. Raises InvalidArgument when not an IP address.
    """
    try:
        address = ipaddress.ip_address(client_ip.strip().split("%", 1)[0])
    except ValueError:
        raise InvalidArgument("client_ip is not an IP address", "CLIENT_IP_INVALID") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    bits = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


_UA_FAMILIES = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
                ("Safari/", "Safari"), ("curl/", "curl"), ("python-requests", "python-requests"))


def user_agent_family(user_agent: str) -> str:
    """A coarse family such as ``Chrome`` or ``Firefox (mobile)``; never the full string."""
    if not user_agent:
        return "unknown"
    if re.search(r"bot|crawler|spider", user_agent, re.IGNORECASE):
        return "bot"
    family = next((name for marker, name in _UA_FAMILIES if marker in user_agent), "other")
    return family + (" (mobile)" if "Mobile" in user_agent else "")


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class IngestedInteraction(Aggregate):
    """An interaction that went through the pipeline (id = interaction id).

    Its event names the subject and the vault records, nothing about the interaction itself:
    kind, region, times and entity counts live in the vault's metadata record, encrypted under
    the subject's key group, so that erasure leaves no per-interaction fact in this log (issue 10
    item 4). The event's own timestamp is the epoch, not the time of ingestion.
    """

    class InteractionIngested(Aggregate.Created):
        """An interaction's records are in the vault.

        v2 drops ``kind``, ``region``, ``received_at`` and ``entities_redacted`` (v1 carried them;
        they are dropped when a v1 event is read, though the stored v1 bytes keep them).
        """

        class_version = 2
        interaction_id: uuid.UUID
        subject_ref: str
        record_ids: list[str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """v1 events carried per-interaction facts: read them without."""
            for name in ("kind", "region", "received_at", "entities_redacted"):
                state.pop(name, None)

        @staticmethod
        def create_timestamp() -> dt.datetime:
            """The epoch: the log keeps no time per interaction."""
            return _EPOCH

    @staticmethod
    def create_id(interaction_id: uuid.UUID, **_: object) -> uuid.UUID:
        """The interaction id is the aggregate id."""
        return interaction_id

    @event(InteractionIngested)
    def __init__(self, interaction_id: uuid.UUID, subject_ref: str, record_ids: list[str]) -> None:
        self.subject_ref = subject_ref
        self.record_ids = record_ids
