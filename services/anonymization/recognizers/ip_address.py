"""IPv4 and IPv6 addresses in every textual form (full, compressed, IPv4-embedded, zone, prefix)."""

from __future__ import annotations

import ipaddress
from typing import Optional

from .base import LetheRegexRecognizer

_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# IPv4 documentation ranges (RFC 5737): example addresses, never a person's. (IPv6's 2001:db8::/32,
# RFC 3849, stays detected: real logs paste it as a placeholder for a real address often enough.)
_DOCUMENTATION = tuple(ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))


class LetheIpAddressRecognizer(LetheRegexRecognizer):
    """Candidates are validated with :mod:`ipaddress`; ``::``-heavy code tokens are rejected."""

    ENTITY = "IP_ADDRESS"
    PATTERNS = [
        (
            "ipv4",
            r"(?<![\w.:])(?P<v>(?:\d{1,3}\.){3}\d{1,3})(?:/\d{1,2})?(?![\w]|\.\d)",
            0.9,
        ),
        (
            "ipv6",
            r"(?<![\w:.])(?P<v>(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?"
            r"(?:%[0-9A-Za-z_.-]+)?)(?:/\d{1,3})?(?![\w:])",
            0.95,
        ),
    ]

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """Accept real addresses; reject ``::``, loopback/unspecified, IPv4 documentation ranges and hex-free
        ``a::b`` tokens."""
        value = text[start:end]
        address = value.split("%", 1)[0]
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        if ip.is_unspecified or ip.is_loopback:
            return None
        if ip.version == 4 and any(ip in net for net in _DOCUMENTATION):
            return None
        if ip.version == 6 and ip in _IPV4_COMPATIBLE:
            return None  # ``::1:9703`` is loopback and a port; ::/96 is deprecated and assigned to no one
        if ip.version == 6:
            groups = [g for g in address.split(":") if g]
            # ``std::abc`` style tokens: compressed forms need a digit and at least two groups.
            if "::" in address and (len(groups) < 2 or not any(c.isdigit() for c in address)):
                return None
        return score
