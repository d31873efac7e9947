"""Cryptocurrency wallet addresses: Bitcoin (base58check, bech32/bech32m), Ethereum, Litecoin."""

from __future__ import annotations

import hashlib
from typing import Optional

from .base import LetheRegexRecognizer

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def base58check_ok(value: str) -> bool:
    """Return True when ``value`` decodes as base58 and its 4-byte double-SHA256 checksum matches."""
    n = 0
    for ch in value:
        idx = _B58.find(ch)
        if idx < 0:
            return False
        n = n * 58 + idx
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    raw = b"\x00" * (len(value) - len(value.lstrip("1"))) + raw
    if len(raw) < 5:
        return False
    body, checksum = raw[:-4], raw[-4:]
    return hashlib.sha256(hashlib.sha256(body).digest()).digest()[:4] == checksum


def bech32_ok(value: str) -> bool:
    """Return True for a valid bech32 or bech32m string (BIP 173 / BIP 350)."""
    value = value.lower()
    hrp, _, data = value.rpartition("1")
    if not hrp or len(data) < 6 or any(c not in _BECH32 for c in data):
        return False
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + [_BECH32.find(c) for c in data]:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((top >> i) & 1) else 0
    return chk in (1, 0x2BC830A3)


class LetheCryptoWalletRecognizer(LetheRegexRecognizer):
    """Wallet addresses; checksummed formats are validated, Ethereum hex is accepted by shape."""

    ENTITY = "CRYPTO"
    PATTERNS = [
        ("btc_base58", r"(?<![\w])(?P<v>[13LM][1-9A-HJ-NP-Za-km-z]{25,34})(?![\w])", 0.95),
        ("bech32", r"(?i)(?<![\w])(?P<v>(?:bc|tb|ltc)1[02-9ac-hj-np-z]{11,87})(?![\w])", 0.95),
        ("eth", r"(?<![\w])(?P<v>0x[0-9a-fA-F]{40})(?![\w])", 0.8),
    ]

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """Validate base58check / bech32 checksums; Ethereum addresses pass on shape."""
        value = text[start:end]
        if value.startswith("0x"):
            return score
        if value[:3].lower() in ("bc1", "tb1") or value[:4].lower() == "ltc1":
            return score if bech32_ok(value) else None
        return score if base58check_ok(value) else None
