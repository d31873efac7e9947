"""Tests for shared.merkle: published RFC 6962 vectors plus property tests.

Vector source: transparency-dev/merkle (testonly/constants.go and proof/verify_test.go),
which carry the certificate-transparency merkle_tree_test.cc vectors. The Go tables
number leaves from 1; they are converted to 0-based indices below. Every vector is
also re-derived independently in `test_vectors_rederived_by_naive_rfc_recursion`.
"""

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import merkle as M

# Local (not a global profile) so other test modules keep their own settings; no deadline
# because these tests make no timing claims.
props = settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])

LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]
HASHES = [M.leaf_hash(x) for x in LEAVES]
ROOTS = [bytes.fromhex(h) for h in (  # indexed by tree size 0..8
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
H = {k: bytes.fromhex(v) for k, v in {
    "l1": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "l4": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "l6": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "n23": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "n45": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "n67": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "n4_8": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
}.items()}
# (0-based index, tree size, proof)
INCLUSION = [
    (0, 1, []),
    (0, 8, [H["l1"], H["n23"], H["n4_8"]]),
    (5, 8, [H["l4"], H["n67"], ROOTS[4]]),
    (2, 3, [ROOTS[2]]),
    (1, 5, [ROOTS[1], H["n23"], H["l4"]]),
]
# (old size, new size, proof)
CONSISTENCY = [
    (1, 1, []),
    (1, 8, [H["l1"], H["n23"], H["n4_8"]]),
    (6, 8, [H["n45"], H["n67"], ROOTS[4]]),
    (2, 5, [H["n23"], H["l4"]]),
    (6, 7, [H["n45"], H["l6"], ROOTS[4]]),
]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def naive_mth(d):
    """MTH straight from the RFC 9162 §2.1.1 recursion, as an independent oracle."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = 1
    while k * 2 < len(d):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(d[:k]) + naive_mth(d[k:])).digest()


def flip(h, bit=3):
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


# ---------------------------------------------------------------- known vectors


def test_hash_primitives():
    assert M.EMPTY_ROOT == ROOTS[0] == M.root_from_leaf_hashes([])
    assert M.leaf_hash(b"") == ROOTS[1]
    assert M.node_hash(HASHES[0], HASHES[1]) == ROOTS[2]


@pytest.mark.parametrize("n", range(9))
def test_published_roots(n):
    assert M.root_from_leaf_hashes(HASHES[:n]) == ROOTS[n]
    assert M.root_from_leaf_hashes(HASHES, n) == ROOTS[n]
    log = M.MerkleLog()
    for x in LEAVES[:n]:
        log.append(x)
    assert (log.size, log.root()) == (n, ROOTS[n])


def test_vectors_rederived_by_naive_rfc_recursion():
    for n in range(9):
        assert naive_mth(HASHES[:n]) == ROOTS[n]
    assert H["l1"] == HASHES[1] and H["l4"] == HASHES[4] and H["l6"] == HASHES[6]
    assert H["n23"] == naive_mth(HASHES[2:4]) and H["n45"] == naive_mth(HASHES[4:6])
    assert H["n67"] == naive_mth(HASHES[6:8]) and H["n4_8"] == naive_mth(HASHES[4:8])


@pytest.mark.parametrize("index,size,proof", INCLUSION)
def test_inclusion_vectors(index, size, proof):
    assert M.inclusion_proof(HASHES[:size], index) == proof
    root, leaf = ROOTS[size], HASHES[index]
    assert M.verify_inclusion(leaf, index, size, proof, root)
    # Corruptions from transparency-dev's corruptInclusionProof.
    bad = [
        (leaf, index - 1, size, proof, root), (leaf, index + 1, size, proof, root),
        (leaf, index ^ 2, size, proof, root), (leaf, index, size * 2, proof, root),
        (leaf, index, size // 2, proof, root), (b"WrongLeaf", index, size, proof, root),
        (leaf, index, size, proof, ROOTS[0]), (leaf, index, size, proof, SOME_HASH),
        (leaf, index, size, proof + [b""], root), (leaf, index, size, proof + [root], root),
        (leaf, index, size, [b""] + proof, root), (leaf, index, size, [root] + proof, root),
    ]
    bad += [(leaf, index, size, proof[:i] + [flip(p)] + proof[i + 1:], root)
            for i, p in enumerate(proof)]
    if proof:
        bad.append((leaf, index, size, proof[:-1], root))
    for args in bad:
        assert not M.verify_inclusion(*args), args


@pytest.mark.parametrize("m,n,proof", CONSISTENCY)
def test_consistency_vectors(m, n, proof):
    assert M.consistency_proof(HASHES[:n], m) == proof
    r1, r2 = ROOTS[m], ROOTS[n]
    assert M.verify_consistency(m, n, r1, r2, proof)
    if not proof:
        return
    # Corruptions from transparency-dev's corruptConsistencyProof.
    bad = [
        (m - 1, n, r1, r2, proof), (m + 1, n, r1, r2, proof), (m ^ 2, n, r1, r2, proof),
        (m, n * 2, r1, r2, proof), (m, n // 2, r1, r2, proof),
        (m, n, b"WrongRoot", r2, proof), (m, n, r1, b"WrongRoot", proof),
        (m, n, r2, r1, proof), (m, n, r1, r2, []), (m, n, r1, r2, proof[:-1]),
        (m, n, r1, r2, proof + [b""]), (m, n, r1, r2, proof + [r1]),
        (m, n, r1, r2, proof + [r2]), (m, n, r1, r2, [b""] + proof),
        (m, n, r1, r2, [r1] + proof), (m, n, r1, r2, [r2] + proof),
        (m, n, r1, r2, [proof[0]] + proof),
    ]
    bad += [(m, n, r1, r2, proof[:i] + [flip(p, 4)] + proof[i + 1:])
            for i, p in enumerate(proof)]
    for args in bad:
        assert not M.verify_consistency(*args), args


def test_consistency_edge_cases():
    r1, r2 = b"don't care 1".ljust(32), b"don't care 2".ljust(32)
    assert M.verify_consistency(0, 0, M.EMPTY_ROOT, M.EMPTY_ROOT, [])
    assert M.verify_consistency(0, 5, M.EMPTY_ROOT, r2, [])
    assert M.verify_consistency(1, 1, r2, r2, [])
    assert not M.verify_consistency(0, 5, r1, r2, [])  # size-0 root must be the empty root
    assert not M.verify_consistency(1, 1, r1, r2, [])
    assert not M.verify_consistency(1, 0, r1, r2, [])
    assert not M.verify_consistency(2, 1, r1, r2, [])
    assert not M.verify_consistency(1, 2, r1, r2, [])
    assert not M.verify_consistency(0, 1, M.EMPTY_ROOT, r2, [M.EMPTY_ROOT])
    assert not M.verify_consistency(1, 1, M.EMPTY_ROOT, M.EMPTY_ROOT, [M.EMPTY_ROOT])
    assert M.consistency_proof(HASHES, 0) == [] and M.consistency_proof(HASHES, 8) == []


def test_bad_input_raises_value_error():
    for args in [(HASHES, -1), (HASHES, 8), ([], 0), (HASHES, 3, 3), (HASHES, 0, 9)]:
        with pytest.raises(ValueError):
            M.inclusion_proof(*args)
    for args in [(HASHES, -1), (HASHES, 9), (HASHES, 5, 4)]:
        with pytest.raises(ValueError):
            M.consistency_proof(*args)
    with pytest.raises(ValueError):
        M.inclusion_proof(lambda a, b: HASHES[a:b], 0)  # callable needs tree_size
    with pytest.raises(ValueError):
        M.root_from_leaf_hashes([b"short"])
    with pytest.raises(ValueError):
        M.MerkleLog().append_leaf_hash(b"\x00" * 31)
    assert not M.verify_inclusion(HASHES[0], 0, 0, [], ROOTS[0])
    assert not M.verify_inclusion(HASHES[0], -1, 1, [], HASHES[0])
    assert not M.verify_inclusion(HASHES[0], 0, 2, [None], ROOTS[2])  # never raises
    assert not M.verify_inclusion(HASHES[0], 0, 1, [], HASHES[0].hex())
    assert not M.verify_consistency(1, 2, ROOTS[1], ROOTS[2], ["not bytes"])


def test_fetch_callable_streams_in_chunks(monkeypatch):
    monkeypatch.setattr(M, "CHUNK", 7)
    hashes = [M.leaf_hash(i.to_bytes(4, "big")) for i in range(100)]
    calls = []

    def fetch(a, b):
        calls.append((a, b))
        assert 0 <= a < b <= 100 and b - a <= 7
        return hashes[a:b]

    assert M.root_from_leaf_hashes(fetch, 100) == naive_mth(hashes)
    for i in (0, 37, 99):
        calls.clear()
        assert M.inclusion_proof(fetch, i, 100) == M.inclusion_proof(hashes, i)
        assert sum(b - a for a, b in calls) == 99  # every other leaf read exactly once
    assert M.consistency_proof(fetch, 45, 100) == M.consistency_proof(hashes, 45)
    with pytest.raises(ValueError):
        M.root_from_leaf_hashes(lambda a, b: hashes[a:b - 1], 100)


# ---------------------------------------------------------------- properties


def leaf_hashes(n):
    return [M.leaf_hash(b"leaf-%d" % i) for i in range(n)]


@st.composite
def size_and_index(draw):
    n = draw(st.integers(1, 300))
    return n, draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))


@props
@given(size_and_index(), st.data())
def test_every_inclusion_proof_verifies_and_tampering_fails(sii, data):
    n, i, j = sii
    hashes = leaf_hashes(n)
    root = M.root_from_leaf_hashes(hashes)
    proof = M.inclusion_proof(hashes, i)
    assert len(proof) <= (n - 1).bit_length()
    assert M.verify_inclusion(hashes[i], i, n, proof, root)
    assert not M.verify_inclusion(M.leaf_hash(b"other"), i, n, proof, root)
    assert not M.verify_inclusion(hashes[i], i, n, proof, flip(root))
    if j != i:
        assert not M.verify_inclusion(hashes[i], j, n, proof, root)
        assert not M.verify_inclusion(hashes[j], i, n, proof, root)
    assert not M.verify_inclusion(hashes[i], i, n, proof + [root], root)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        bad = proof[:k] + [flip(proof[k])] + proof[k + 1:]
        assert not M.verify_inclusion(hashes[i], i, n, bad, root)
        assert not M.verify_inclusion(hashes[i], i, n, proof[:-1], root)


@props
@given(st.integers(1, 300), st.data())
def test_every_consistency_proof_verifies_and_tampering_fails(n, data):
    m = data.draw(st.integers(0, n))
    hashes = leaf_hashes(n)
    r1, r2 = M.root_from_leaf_hashes(hashes[:m]), M.root_from_leaf_hashes(hashes)
    proof = M.consistency_proof(hashes, m)
    assert M.verify_consistency(m, n, r1, r2, proof)
    assert not M.verify_consistency(m, n, r1, r2, proof + [r2])
    if m not in (0, n):
        assert proof
        assert not M.verify_consistency(m, n, flip(r1), r2, proof)
        assert not M.verify_consistency(m, n, r1, flip(r2), proof)
        assert not M.verify_consistency(m, n, r1, r2, proof[:-1])
        k = data.draw(st.integers(0, len(proof) - 1))
        assert not M.verify_consistency(m, n, r1, r2, proof[:k] + [flip(proof[k])] + proof[k + 1:])
        for m2 in {m - 1, m + 1} - {0, n}:
            assert not M.verify_consistency(m2, n, r1, r2, proof)
    # The other log (different leaf at position m-1) is not consistent with this one.
    if m:
        forked = hashes[:m - 1] + [M.leaf_hash(b"fork")] + hashes[m:]
        assert not M.verify_consistency(m, n, M.root_from_leaf_hashes(forked[:m]), r2, proof)


@props
@given(st.lists(st.binary(max_size=40), max_size=300))
def test_streaming_root_equals_batch_root(leaves):
    log = M.MerkleLog()
    hashes = [M.leaf_hash(x) for x in leaves]
    for i, x in enumerate(leaves):
        assert log.append(x) == i
        assert len(log.to_dict()["frontier"]) == (i + 1).bit_count()
    assert log.size == len(leaves)
    assert log.root() == M.root_from_leaf_hashes(hashes) == naive_mth(hashes)


@props
@given(st.integers(0, 300), st.data())
def test_checkpoint_resume_gives_same_root(n, data):
    k = data.draw(st.integers(0, n))
    hashes = leaf_hashes(n)
    log = M.MerkleLog()
    for h in hashes[:k]:
        log.append_leaf_hash(h)
    resumed = M.MerkleLog.from_dict(json.loads(json.dumps(log.to_dict())))
    assert (resumed.size, resumed.root()) == (k, log.root())
    for h in hashes[k:]:
        resumed.append_leaf_hash(h)
    assert resumed.root() == M.root_from_leaf_hashes(hashes)


@pytest.mark.parametrize("bad", [
    {}, {"size": 3}, {"size": 3, "frontier": ["00" * 32]}, {"size": -1, "frontier": []},
    {"size": 1, "frontier": ["zz" * 32]}, {"size": 1, "frontier": ["00" * 31]},
    {"size": True, "frontier": ["00" * 32]}, {"size": 1, "frontier": [None]},
])
def test_checkpoint_rejects_malformed(bad):
    with pytest.raises(ValueError):
        M.MerkleLog.from_dict(bad)


KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@props
@given(st.text(min_size=1, max_size=40), st.integers(0, 2**64 - 1),
       st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32))
def test_sth_sign_verify_and_tamper(log_id, size, ts, root):
    sth = M.sign_tree_head(KEY, log_id, size, root, ts)
    assert json.loads(json.dumps(sth)) == sth
    assert M.verify_tree_head(KEY.public_key(), sth)
    other_key = Ed25519PrivateKey.generate().public_key()
    assert not M.verify_tree_head(other_key, sth)
    sig = bytearray(base64.b64decode(sth["signature"]))
    sig[0] ^= 1
    tampered = [
        {"log_id": log_id + "x"}, {"tree_size": size ^ 1}, {"timestamp_ms": ts ^ 1},
        {"root_hash": flip(root).hex()}, {"signature": base64.b64encode(sig).decode()},
        {"tree_size": str(size)}, {"root_hash": "zz"}, {"signature": "!!"},
    ]
    for change in tampered:
        assert not M.verify_tree_head(KEY.public_key(), {**sth, **change}), change
    for key in sth:
        assert not M.verify_tree_head(KEY.public_key(), {k: v for k, v in sth.items() if k != key})


def test_sth_message_layout_and_bad_input():
    sth = M.sign_tree_head(KEY, "log", 8, ROOTS[8], 1234)
    msg = (b"lethe-sth-v1\x00" + b"\x00\x03log" + (8).to_bytes(8, "big")
           + (1234).to_bytes(8, "big") + ROOTS[8])
    KEY.public_key().verify(base64.b64decode(sth["signature"]), msg)
    assert sth["root_hash"] == ROOTS[8].hex()
    for args in [("log", 8, ROOTS[8][:31], 0), ("", 8, ROOTS[8], 0), ("log", -1, ROOTS[8], 0),
                 ("log", 8, ROOTS[8], 2**64)]:
        with pytest.raises(ValueError):
            M.sign_tree_head(KEY, *args)
    assert not M.verify_tree_head(KEY.public_key(), None)
    assert not M.verify_tree_head(KEY.public_key(), {**sth, "tree_size": True})
