"""C2SP checkpoints and signed notes (shared.proofcheck) against the specifications' own examples.

The vectors are the published example of https://c2sp.org/signed-note, also the test vectors of
golang.org/x/mod/sumdb/note: a note signed by the key named ``PeterNeumann`` (verifier key and
private key below, both published as test vectors), and a second signer, ``EnochRoot``. Ed25519 is
deterministic, so our signer, given the same key and text, must produce the published note byte for
byte; our verifier must accept it, ignore other keys' signatures, and refuse any alteration.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared import merkle
from shared.proofcheck import (
    NoteError,
    checkpoint_text,
    key_hash,
    open_checkpoint,
    open_note,
    parse_verifier_key,
    sign_note,
    verifier_key,
)

REPO = Path(__file__).resolve().parents[2]
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = ("If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n")
PETER_SIG = ("\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXg"
             "KvqfqdngotpRZb6KE6RyyBwJnAM=\n")
ENOCH_SIG = ("\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01"
             "oOTGwnWLox33WWd1RvMc+QQ=\n")
NOTE = TEXT + "\n" + PETER_SIG


def _peter_private_key() -> Ed25519PrivateKey:
    raw = base64.b64decode(PETER_SKEY.split("+", 4)[4])  # PRIVATE+KEY+name+hash+key
    assert raw[0] == 1  # the Ed25519 signature type, then the 32-byte seed
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


def test_published_note_is_accepted_by_our_verifier() -> None:
    assert open_note(NOTE, PETER_VKEY) == TEXT


def test_our_signer_reproduces_the_published_note_byte_for_byte() -> None:
    key = _peter_private_key()
    assert sign_note(TEXT, "PeterNeumann", key) == NOTE
    pub = key.public_key().public_bytes_raw()
    assert verifier_key("PeterNeumann", pub) == PETER_VKEY
    assert key_hash("PeterNeumann", pub).hex() == "c74f20a3"


def test_signatures_by_other_keys_are_ignored_and_each_key_checks_its_own() -> None:
    both = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(both, PETER_VKEY) == TEXT
    assert open_note(both, ENOCH_VKEY) == TEXT
    with pytest.raises(NoteError) as err:
        open_note(TEXT + "\n" + ENOCH_SIG, PETER_VKEY)
    assert err.value.reason == "NOTE_UNSIGNED"


@pytest.mark.parametrize("note, reason", [
    (NOTE.replace("cryptography", "Cryptography"), "NOTE_SIGNATURE_INVALID"),
    (NOTE.replace("Zb6KE6", "Zb6KE7"), "NOTE_SIGNATURE_INVALID"),
    (NOTE.replace("x08go", "x08gp"), "NOTE_UNSIGNED"),  # the key hash no longer matches
    (NOTE.replace("\u2014", "-"), "NOTE_MALFORMED"),
    (NOTE.replace("\n\n", "\n"), "NOTE_MALFORMED"),
    (NOTE[:-1], "NOTE_MALFORMED"),
    (NOTE.replace("PeterNeumann x08", "PeterNeumann  x08"), "NOTE_MALFORMED"),
    (NOTE.replace("PeterNeumann x08", "Peter x08"), "NOTE_UNSIGNED"),
])
def test_altered_or_malformed_notes_are_refused(note: str, reason: str) -> None:
    with pytest.raises(NoteError) as err:
        open_note(note, PETER_VKEY)
    assert err.value.reason == reason


@pytest.mark.parametrize("vkey", [
    "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key hash
    "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown algorithm
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",  # short key
    "PeterNeumann+c74f20a3",
])
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(NoteError):
        parse_verifier_key(vkey)


def test_our_checkpoint_has_the_c2sp_structure_and_verifies() -> None:
    key = Ed25519PrivateKey.generate()
    origin = "lethe.local/d1/vault"
    root = merkle.root_from_leaf_hashes([merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")])
    note = sign_note(checkpoint_text(origin, 2, root), origin, key)
    body, sig = note.split("\n\n")
    assert body.split("\n") == [origin, "2", base64.b64encode(root).decode()]
    assert sig.startswith(f"\u2014 {origin} ") and sig.endswith("\n") and sig.count("\n") == 1
    raw = base64.b64decode(sig.split(" ")[2])
    pub = key.public_key().public_bytes_raw()
    assert len(raw) == 4 + 64 and raw[:4] == key_hash(origin, pub)
    cp = open_checkpoint(note, verifier_key(origin, pub))
    assert (cp.origin, cp.size, cp.root_hash) == (origin, 2, root)
    with pytest.raises(NoteError) as err:
        open_checkpoint(note, verifier_key(origin, pub), origin="lethe.local/d2/vault")
    assert err.value.reason == "CHECKPOINT_ORIGIN_MISMATCH"
    with pytest.raises(NoteError) as err:  # the spec's example is a note, not a checkpoint
        open_checkpoint(NOTE, PETER_VKEY)
    assert err.value.reason == "CHECKPOINT_MALFORMED"


def test_proofcheck_checks_a_checkpoint_offline(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    origin = "lethe.local/d1/rights"
    path = tmp_path / "checkpoint"
    path.write_text(sign_note(checkpoint_text(origin, 0, merkle.EMPTY_ROOT), origin, key))
    vkey = verifier_key(origin, key.public_key().public_bytes_raw())
    run = [sys.executable, "-m", "shared.proofcheck", "--note", str(path), "--vkey"]
    ok = subprocess.run([*run, vkey], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.startswith(f"ok: checkpoint of {origin} at size 0")
    bad = subprocess.run([*run, PETER_VKEY], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "NOTE_UNSIGNED" in bad.stderr


def test_verifier_keys_round_trip_whatever_their_base64_holds() -> None:
    for _ in range(64):  # most of these keys' base64 holds a "+" or "/"
        key = Ed25519PrivateKey.generate()
        pub = key.public_key().public_bytes_raw()
        name, parsed = parse_verifier_key(verifier_key("lethe.local/x/vault", pub))
        assert name == "lethe.local/x/vault" and parsed.public_bytes_raw() == pub
