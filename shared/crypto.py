"""Small cryptographic building blocks shared by the services (all from ``cryptography``).

* :func:`subject_ref`: the pseudonymous subject key, ``"sr_" + hex(HMAC-SHA256(pepper, account_id))[:32]``
  (128 bits); stable for an account, meaningless without the pepper (GDPR Art. 4(5) pseudonymization).
* :func:`seal` / :func:`open_sealed`: AES-256-GCM with a random 96-bit nonce. Byte layout of a sealed
  blob: ``version (1 byte, 0x01) || nonce (12 bytes) || ciphertext || tag (16 bytes)``; the associated
  data binds the blob to its context (e.g. record id and subject) so blobs cannot be swapped.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
_VERSION = b"\x01"


class DecryptionError(Exception):
    """Raised when a sealed blob cannot be opened (wrong key, tampering, or a shredded key)."""


def subject_ref(pepper: bytes, account_id: str) -> str:
    """Derive the pseudonymous subject ref from an account id.

    Args:
        pepper: the deployment's 32-byte HMAC key (from the key source).
        account_id: the controller's account identifier (any non-empty string).
    Returns:
        ``"sr_"`` followed by 32 lowercase hex characters.
    Raises:
        ValueError: when the pepper is not 32 bytes or the account id is empty.
    """
    if len(pepper) != KEY_BYTES:
        raise ValueError("pepper must be 32 bytes")
    if not account_id:
        raise ValueError("account_id is empty")
    digest = hmac.new(pepper, b"subject\0" + account_id.encode("utf-8"), hashlib.sha256)
    return "sr_" + digest.hexdigest()[:32]


def keyed_digest(key: bytes, *parts: str) -> str:
    """HMAC-SHA256 over NUL-separated UTF-8 parts, as 64 hex characters (for lookups, not secrecy)."""
    mac = hmac.new(key, "\0".join(parts).encode("utf-8"), hashlib.sha256)
    return mac.hexdigest()


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt with AES-256-GCM; returns ``0x01 || nonce(12) || ct || tag(16)``.

    Raises:
        ValueError: when the key is not 32 bytes.
    """
    if len(key) != KEY_BYTES:
        raise ValueError("AES-256 key must be 32 bytes")
    nonce = os.urandom(12)
    return _VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Decrypt a blob made by :func:`seal` with the same key and associated data.

    Raises:
        DecryptionError: on a wrong key, wrong associated data, or any tampering.
    """
    if len(key) != KEY_BYTES or len(blob) < 29 or blob[:1] != _VERSION:
        raise DecryptionError("malformed sealed blob")
    try:
        return AESGCM(key).decrypt(blob[1:13], blob[13:], aad)
    except InvalidTag:
        raise DecryptionError("sealed blob does not authenticate") from None
