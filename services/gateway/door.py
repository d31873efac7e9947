"""What the gateway takes from a request at the door, and what it lets through to the upstream.

At the door (privacy policy: "at the moment a prompt is received"):

* the account id comes from the account header (default ``X-Lethe-Account``) and never leaves
  for the upstream;
* the region from the region header (default ``X-Lethe-Region``) or the configured default;
* the client IP from the connection, or from ``X-Forwarded-For`` only when the connection comes
  from a configured trusted proxy; only its network prefix (/24, /48) is kept;
* the session id: 128 random bits as 32 lowercase hex characters, echoed back in the session
  header (default ``X-Lethe-Session``) and accepted from the client only in that exact form
  (anything else in the header is refused, never replaced silently).

Ids are restricted like request ids (letters, digits, ``._:-``, plus ``@`` and ``+`` for account
ids that are e-mail-like handles; at most 256 characters, first one a letter or digit), so no
header can carry control characters, separators or another header into logs and events.

Upstream headers are an allow-list (:func:`upstream_headers`): everything else (cookies,
``Forwarded``, ``X-Real-IP``, ``X-Forwarded-For``, the Lethe headers, the client's
``Authorization`` unless configured) is dropped.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.ingestion.domain import REGION, network_prefix
from shared.errors import InvalidArgument
from shared.limits import MAX_ID_CHARS

SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
ACCOUNT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,%d}$" % (MAX_ID_CHARS - 1))
_PASSED = ("content-type", "accept", "openai-beta")


@dataclass(frozen=True)
class GatewayConfig:
    """The gateway's settings (read once by ``lethe gateway``).

    Attributes:
        upstream: base URL of the model server, e.g. ``http://127.0.0.1:8000`` (``/v1/...`` is
            appended as received).
        forward: ``"original"`` (prompts as given) or ``"redacted"`` (surrogates in place of
            personal data, re-identified on the way back).
        trusted_proxies: networks whose ``X-Forwarded-For`` is believed.
        upstream_api_key: sent upstream as ``Authorization: Bearer ...`` when set.
        pass_authorization: forward the client's own ``Authorization`` header (default: never).
        upstream_timeout_s: seconds to wait for the upstream's first byte and between bytes.
    """

    upstream: str
    forward: str = "original"
    account_header: str = "x-lethe-account"
    region_header: str = "x-lethe-region"
    session_header: str = "x-lethe-session"
    default_region: str = "EU"
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(default=())
    upstream_api_key: str = ""
    pass_authorization: bool = False
    upstream_timeout_s: float = 300.0


@dataclass(frozen=True)
class Door:
    """What the gateway keeps about one request: account, region, network prefix, session id."""

    account_id: str
    region: str
    network_prefix: str
    session_id: str
    user_agent: str


def _client_ip(peer: str | None, headers: Mapping[str, str], config: GatewayConfig) -> str:
    """The client's address: the peer, or the right-most untrusted ``X-Forwarded-For`` hop."""
    hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
    address = peer or ""
    while hops and _trusted(address, config):
        address = hops.pop()
    return address


def _trusted(address: str, config: GatewayConfig) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in config.trusted_proxies)


def read_door(peer: str | None, headers: Mapping[str, str], config: GatewayConfig) -> Door:
    """Take account, region, network prefix and session from a request (headers lower-case).

    Raises InvalidArgument with reason ``ACCOUNT_MISSING``, ``ACCOUNT_ID_INVALID``,
    ``SESSION_ID_INVALID`` or ``REGION_INVALID`` (messages name the header, never its value).
    """
    account = headers.get(config.account_header, "").strip()
    if not account:
        raise InvalidArgument(f"header {config.account_header} is required", "ACCOUNT_MISSING")
    if not ACCOUNT_ID.fullmatch(account):
        raise InvalidArgument(f"header {config.account_header} must be 1-{MAX_ID_CHARS} letters, "
                              "digits or ._:@+-", "ACCOUNT_ID_INVALID")
    region = headers.get(config.region_header, "").strip() or config.default_region
    if not REGION.fullmatch(region):
        raise InvalidArgument(f"header {config.region_header} must be 2-8 upper-case letters",
                              "REGION_INVALID")
    try:
        prefix = network_prefix(_client_ip(peer, headers, config))
    except InvalidArgument:
        prefix = ""  # e.g. a Unix socket peer: nothing to keep
    session = headers.get(config.session_header, "").strip().lower()
    if session and not SESSION_ID.fullmatch(session):
        raise InvalidArgument(f"header {config.session_header} must be the 32 hex characters the "
                              "gateway gave", "SESSION_ID_INVALID")
    session = session or secrets.token_hex(16)
    return Door(account, region, prefix, session, headers.get("user-agent", "")[:1024])


def upstream_headers(headers: Mapping[str, str], session_id: str, config: GatewayConfig) -> dict[str, str]:
    """The allow-listed headers for the upstream, plus the session header and configured auth."""
    out = {k: headers[k] for k in _PASSED if k in headers}
    out[config.session_header] = session_id
    if config.upstream_api_key:
        out["authorization"] = f"Bearer {config.upstream_api_key}"
    elif config.pass_authorization and "authorization" in headers:
        out["authorization"] = headers["authorization"]
    return out
