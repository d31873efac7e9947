"""RFC 9162 (Certificate Transparency v2) Merkle trees, proofs and signed tree heads.

The tree shape and hashing are those of RFC 9162 §2.1 (identical to RFC 6962 §2.1),
with SHA-256, so roots and proofs interoperate with CT / transparency-dev tooling:

* leaf hash  ``SHA-256(0x00 || data)``;  node hash ``SHA-256(0x01 || left || right)``;
* ``MTH({}) = SHA-256("")``; for n > 1, ``MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n]))``
  where k is the largest power of two strictly below n.

Every hash is 32 raw bytes; proofs are ``list[bytes]`` ordered leaf-to-root, exactly
as RFC 9162 §2.1.3.1 (PATH) and §2.1.4.1 (PROOF) define them.

Leaf sources.  Proof and root functions take ``leaves``: either a sequence of leaf
hashes, or a callable ``fetch(start, end) -> Sequence[bytes]`` returning the leaf
hashes ``[start, end)`` of a log too big for memory (then ``tree_size`` is required).
The subtrees in a proof are disjoint, so a proof costs O(n) hashing with each leaf
fetched at most once, in chunks of ``CHUNK`` hashes; peak memory is one chunk
(CHUNK * 32 B = 512 KiB) plus O(log n) hashes.  Pass a sequence for small logs.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
CHUNK = 1 << 14
STH_DOMAIN = b"lethe-sth-v1\x00"

Fetch = Callable[[int, int], Sequence[bytes]]
Leaves = Sequence[bytes] | Fetch


def leaf_hash(data: bytes) -> bytes:
    """Return the 32-byte RFC 9162 §2.1.1 leaf hash ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the 32-byte interior node hash ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _check_hash(h: bytes, what: str = "hash") -> bytes:
    if not isinstance(h, (bytes, bytearray)) or len(h) != HASH_SIZE:
        raise ValueError(f"{what} must be {HASH_SIZE} bytes")
    return bytes(h)


class MerkleLog:
    """Append-only Merkle tree keeping only its O(log n) frontier.

    The frontier is the list of roots of the perfect subtrees that make up the
    tree, largest (leftmost) first: one 32-byte hash per set bit of ``size``.
    ``append`` is amortised O(1) hashes; ``root()`` costs popcount(size) - 1 hashes.
    """

    __slots__ = ("_size", "_frontier")

    def __init__(self) -> None:
        self._size = 0
        self._frontier: list[bytes] = []

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf_data: bytes) -> int:
        """Append raw leaf data (hashed with `leaf_hash`); return its leaf index."""
        return self.append_leaf_hash(leaf_hash(leaf_data))

    def append_leaf_hash(self, h: bytes) -> int:
        """Append a precomputed 32-byte leaf hash; return its index. ValueError if not 32 B."""
        h, n, frontier = _check_hash(h, "leaf hash"), self._size, self._frontier
        while n & 1:  # merge equal-sized perfect subtrees, like a binary carry
            h = node_hash(frontier.pop(), h)
            n >>= 1
        frontier.append(h)
        self._size += 1
        return self._size - 1

    def root(self) -> bytes:
        """Return MTH of all leaves so far (RFC 9162 §2.1.1); EMPTY_ROOT if empty."""
        if not self._frontier:
            return EMPTY_ROOT
        r = self._frontier[-1]
        for h in reversed(self._frontier[:-1]):
            r = node_hash(h, r)
        return r

    def to_dict(self) -> dict:
        """Return a JSON-able checkpoint ``{"size": int, "frontier": [hex, ...]}``."""
        return {"size": self._size, "frontier": [h.hex() for h in self._frontier]}

    @classmethod
    def from_dict(cls, d: dict) -> MerkleLog:
        """Restore a `to_dict` checkpoint. ValueError if malformed or inconsistent."""
        try:
            size, frontier = d["size"], [bytes.fromhex(h) for h in d["frontier"]]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed MerkleLog checkpoint: {e}") from None
        if type(size) is not int or size < 0 or len(frontier) != size.bit_count():
            raise ValueError("checkpoint frontier does not match its size")
        log = cls()
        log._size, log._frontier = size, [_check_hash(h, "frontier hash") for h in frontier]
        return log


def _source(leaves: Leaves, tree_size: int | None) -> tuple[Fetch, int]:
    if callable(leaves):
        if tree_size is None:
            raise ValueError("tree_size is required when leaves is a fetch callable")
        return leaves, tree_size
    n = len(leaves) if tree_size is None else tree_size
    if not 0 <= n <= len(leaves):
        raise ValueError(f"tree_size {n} out of range 0..{len(leaves)}")
    return (lambda a, b: leaves[a:b]), n


def _range_root(fetch: Fetch, lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]), streamed through a MerkleLog in CHUNK-sized fetches."""
    log = MerkleLog()
    for a in range(lo, hi, CHUNK):
        b = min(a + CHUNK, hi)
        chunk = fetch(a, b)
        if len(chunk) != b - a:
            raise ValueError(f"fetch({a}, {b}) returned {len(chunk)} hashes")
        for h in chunk:
            log.append_leaf_hash(h)
    return log.root()


def _split(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Leaves, tree_size: int | None = None) -> bytes:
    """Return MTH (RFC 9162 §2.1.1) of the first ``tree_size`` (default: all) leaf hashes."""
    fetch, n = _source(hashes, tree_size)
    return _range_root(fetch, 0, n)


def inclusion_proof(hashes: Leaves, index: int, tree_size: int | None = None) -> list[bytes]:
    """Return PATH(index, D[tree_size]) per RFC 9162 §2.1.3.1, leaf-to-root order.

    The proof has at most ceil(log2(tree_size)) hashes. Raises ValueError if
    ``index`` is not in ``[0, tree_size)``.
    """
    fetch, n = _source(hashes, tree_size)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} out of range for tree size {n}")
    path, lo, hi = [], 0, n
    while hi - lo > 1:  # descend from the root; each level contributes its sibling
        k = lo + _split(hi - lo)
        if index < k:
            path.append(_range_root(fetch, k, hi))
            hi = k
        else:
            path.append(_range_root(fetch, lo, k))
            lo = k
    return path[::-1]


def consistency_proof(hashes: Leaves, m: int, tree_size: int | None = None) -> list[bytes]:
    """Return PROOF(m, D[tree_size]) per RFC 9162 §2.1.4.1 (SUBPROOF with b = true).

    Returns ``[]`` when m == 0 or m == tree_size (nothing to prove). Raises
    ValueError unless ``0 <= m <= tree_size``.
    """
    fetch, n = _source(hashes, tree_size)
    if not 0 <= m <= n:
        raise ValueError(f"old size {m} out of range 0..{n}")
    if m in (0, n):
        return []
    proof, lo, hi, complete = [], 0, n, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(_range_root(fetch, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_range_root(fetch, lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:  # D[m] is not a whole subtree of the new tree: include its root
        proof.append(_range_root(fetch, lo, hi))
    return proof[::-1]


def _valid(*hashes: bytes) -> bool:
    return all(isinstance(h, (bytes, bytearray)) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an inclusion proof with the algorithm of RFC 9162 §2.1.3.2.

    Returns False (never raises) for a bad proof or any hash that is not 32 bytes.
    """
    if not (0 <= index < tree_size and _valid(leaf_hash, root, *proof)):
        return False
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    """Check a consistency proof with the algorithm of RFC 9162 §2.1.4.2. Never raises.

    Edge cases (outside the RFC's 0 < size1 < size2): size1 == size2 needs an empty
    proof and root1 == root2; size1 == 0 needs an empty proof and root1 == EMPTY_ROOT.
    """
    if not (0 <= size1 <= size2 and _valid(root1, root2, *proof)):
        return False
    if size1 == 0 or size1 == size2:
        return not proof and root1 == (EMPTY_ROOT if size1 == 0 else root2)
    if not proof:
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: old root is a subtree
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == root1 and sr == root2


def _sth_message(log_id: str, tree_size: int, timestamp_ms: int, root: bytes) -> bytes:
    lid = log_id.encode("utf-8")
    if not 0 < len(lid) <= 0xFFFF or not 0 <= tree_size < 2**64 or not 0 <= timestamp_ms < 2**64:
        raise ValueError("log_id must be 1..65535 UTF-8 bytes; sizes/timestamps u64")
    return STH_DOMAIN + struct.pack(">H", len(lid)) + lid + struct.pack(
        ">QQ", tree_size, timestamp_ms
    ) + _check_hash(root, "root")


def sign_tree_head(
    private_key: Ed25519PrivateKey, log_id: str, tree_size: int, root: bytes, timestamp_ms: int
) -> dict:
    """Sign a tree head with Ed25519 and return it as a JSON-able dict.

    Signed message (big-endian)::

        b"lethe-sth-v1\\0" (13 B) || u16 len(log_id) || log_id (UTF-8)
        || u64 tree_size || u64 timestamp_ms || root (32 B)

    Returns ``{"log_id", "tree_size", "timestamp_ms", "root_hash": 64 hex chars,
    "signature": base64 of the 64-byte Ed25519 signature}``. Raises ValueError on
    an empty/oversized log_id, a root that is not 32 bytes, or values outside u64.
    """
    msg = _sth_message(log_id, tree_size, timestamp_ms, root)
    return {
        "log_id": log_id,
        "tree_size": tree_size,
        "timestamp_ms": timestamp_ms,
        "root_hash": bytes(root).hex(),
        "signature": base64.b64encode(private_key.sign(msg)).decode("ascii"),
    }


def verify_tree_head(public_key: Ed25519PublicKey, sth: dict) -> bool:
    """Return True iff ``sth`` (from `sign_tree_head`) is well-formed and validly signed."""
    try:
        fields = sth["log_id"], sth["tree_size"], sth["timestamp_ms"]
        if not (isinstance(fields[0], str) and all(type(v) is int for v in fields[1:])):
            return False
        msg = _sth_message(*fields, bytes.fromhex(sth["root_hash"]))
        public_key.verify(base64.b64decode(sth["signature"], validate=True), msg)
        return True
    except (InvalidSignature, KeyError, TypeError, ValueError):
        return False


def bench_append(n: int) -> float:
    """Return MerkleLog.append throughput in leaves/second for n 100-byte leaves."""
    log, leaf = MerkleLog(), bytes(range(100))
    t0 = time.perf_counter()
    for _ in range(n):
        log.append(leaf)
    log.root()
    return n / (time.perf_counter() - t0)
