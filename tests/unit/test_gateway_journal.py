"""The gateway's spool journal under attack: flipped bytes anywhere, torn tails and torn writes in
the middle, writes that fail part-way (a real file size limit), two gateways adopting the same
orphaned segments at once, concurrent turns through the group-committing recorder, rotation, and
entries of the former one-file-per-turn spool.

What each test tries to break: a damaged record that is delivered, hides the records after it,
or is logged with its content; a torn record delivered or blocking the rest; a failed write that
leaves the journal unreadable or a turn pending that was never durable; an entry adopted (so
delivered) by two gateways; a turn that comes back from the recorder before it is durable; a
delivered segment left on disk; content in clear on disk.
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from faker import Faker

from services.gateway.journal import HEADER_BYTES, SUFFIX
from services.gateway.spool import Spool, SpooledInteraction

REPO = Path(__file__).resolve().parents[2]


def turns(n: int, seed: int = 14) -> list[SpooledInteraction]:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    return [SpooledInteraction(str(uuid.uuid4()), f"acct-{fake.user_name()}", uuid.uuid4().hex,
                               "192.0.2.0/24", fake.user_agent(), "EU", "2026-01-01T00:00:00+00:00",
                               f"user: {fake.name()} asks {fake.sentence()}", fake.paragraph())
            for _ in range(n)]


def written(tmp_path: Path, items: list[SpooledInteraction], key: bytes) -> Path:
    """A segment holding ``items`` (one record each), released as a dead gateway leaves it."""
    spool = Spool(tmp_path, key)
    for item in items:
        spool.put(item)
    spool.close()
    [segment] = tmp_path.glob(f"*{SUFFIX}")
    return segment


def record_bounds(segment: Path) -> list[tuple[int, int]]:
    data, bounds, pos = segment.read_bytes(), [], 0
    while pos < len(data):
        size = HEADER_BYTES + int.from_bytes(data[pos + 20:pos + 24], "big")
        bounds.append((pos, pos + size))
        pos += size
    return bounds


def pending_ids(directory: Path, key: bytes) -> list[str]:
    spool = Spool(directory, key)
    try:
        return [i.request_id for i in spool.pending(1000)]
    finally:
        spool.close()


def test_a_flipped_byte_anywhere_refuses_only_its_entry_and_logs_no_content(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key, items = os.urandom(32), turns(3)
    segment = written(tmp_path, items, key)
    pristine, bounds = segment.read_bytes(), record_bounds(segment)
    start, end = bounds[1]
    rng = random.Random(7)
    sealed_from = start + HEADER_BYTES + 14  # the header, version and nonce byte by byte, then 40 others
    positions = list(range(start, sealed_from)) + rng.sample(range(sealed_from, end), 40)
    for pos in positions:
        case = tmp_path / f"flip-{pos}"
        case.mkdir()
        damaged = bytearray(pristine)
        damaged[pos] ^= 1 << rng.randrange(8)
        (case / f"{uuid.uuid4().hex}{SUFFIX}").write_bytes(bytes(damaged))
        with caplog.at_level(logging.ERROR, logger="lethe.gateway"):
            got = pending_ids(case, key)
        assert got == [items[0].request_id, items[2].request_id], f"flip at byte {pos}"
    for item in items:
        for value in (item.prompt, item.response, item.account_id, item.user_agent):
            assert value not in caplog.text
    assert "does not open" in caplog.text


def test_nothing_is_on_disk_in_clear(tmp_path: Path) -> None:
    key, items = os.urandom(32), turns(5)
    segment = written(tmp_path, items, key)
    data = segment.read_bytes()
    for item in items:
        for value in (item.prompt, item.response, item.account_id, item.session_id, item.user_agent):
            assert value.encode() not in data
        assert item.prompt.split()[2].encode() not in data  # a single word of it neither


def test_a_torn_tail_is_never_delivered_and_torn_bytes_in_the_middle_block_nothing(tmp_path: Path) -> None:
    key, items = os.urandom(32), turns(4)
    segment = written(tmp_path, items, key)
    pristine, bounds = segment.read_bytes(), record_bounds(segment)
    last_start, last_end = bounds[-1]
    for cut in [last_start + 1, last_start + HEADER_BYTES - 1, last_start + HEADER_BYTES, last_end - 1]:
        case = tmp_path / f"tail-{cut}"
        case.mkdir()
        (case / f"{uuid.uuid4().hex}{SUFFIX}").write_bytes(pristine[:cut])
        assert pending_ids(case, key) == [i.request_id for i in items[:-1]], f"cut at {cut}"
    s2, e2 = bounds[2]
    for keep in (1, 3, HEADER_BYTES, HEADER_BYTES + 5, e2 - s2 - 1):  # a write cut short, then more
        case = tmp_path / f"middle-{keep}"
        case.mkdir()
        torn = pristine[:s2] + pristine[s2:s2 + keep] + pristine[e2:]
        (case / f"{uuid.uuid4().hex}{SUFFIX}").write_bytes(torn)
        want = [items[0].request_id, items[1].request_id, items[3].request_id]
        assert pending_ids(case, key) == want, f"{keep} bytes of a record left in the middle"


_FAILING_WRITES = r"""
import os, resource, signal, sys, uuid, json
sys.path.insert(0, sys.argv[1])
from collections.abc import Callable
from pathlib import Path
from services.gateway.spool import Spool, SpooledInteraction
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
key, out = bytes.fromhex(sys.argv[3]), {"ok": [], "failed": []}
spool = Spool(Path(sys.argv[2]), key)
spool.put(SpooledInteraction(str(uuid.uuid4()), "a", "s", "p", "u", "EU", "t", "first", "r"))
size = spool._active.segment.size
for n, limit in enumerate([size + 100, size + 100, 1 << 30]):
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    item = SpooledInteraction(str(uuid.uuid4()), "a", "s", "p", "u", "EU", "t", "x" * 3000, "r")
    try:
        spool.put(item)
        out["ok"].append(item.request_id)
    except OSError:
        out["failed"].append(item.request_id)
out["pending"] = len(spool)
print(json.dumps(out), flush=True)
os._exit(0)  # as a SIGKILL would: no close
"""


def test_a_write_that_fails_part_way_is_refused_and_leaves_the_journal_whole(tmp_path: Path) -> None:
    key = os.urandom(32)
    done = subprocess.run([sys.executable, "-c", _FAILING_WRITES, str(REPO), str(tmp_path), key.hex()],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert len(out["failed"]) == 2 and len(out["ok"]) == 1 and out["pending"] == 2
    got = pending_ids(tmp_path, key)
    assert len(got) == 2 and got[1] == out["ok"][0] and not set(out["failed"]) & set(got)


def test_two_gateways_adopting_the_same_orphans_at_once_take_each_entry_once(tmp_path: Path) -> None:
    key = os.urandom(32)
    items = turns(60)
    for n in range(6):  # six dead gateways' segments
        part = tmp_path / f"dead-{n}"
        part.mkdir()
        written(part, items[n * 10:(n + 1) * 10], key).rename(tmp_path / f"{uuid.uuid4().hex}{SUFFIX}")
    spools: list[Spool] = []
    threads = [threading.Thread(target=lambda: spools.append(Spool(tmp_path, key))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = [i.request_id for s in spools for i in s.pending(1000)]
    assert sorted(taken) == sorted(i.request_id for i in items)
    for spool in spools:
        for item in spool.pending(1000):
            spool.remove(item.request_id)
        spool.close()
    assert not list(tmp_path.glob(f"*{SUFFIX}")) and pending_ids(tmp_path, key) == []


def test_segments_rotate_and_are_deleted_once_delivered_and_a_refused_one_is_kept(tmp_path: Path) -> None:
    key, items = os.urandom(32), turns(40)
    spool = Spool(tmp_path, key, segment_bytes=4000)
    for n in range(0, 40, 4):
        spool.put_many(items[n:n + 4])
    assert len(list(tmp_path.glob(f"*{SUFFIX}"))) >= 5
    for item in spool.pending(1000)[:-1]:
        spool.remove(item.request_id)
    assert len(list(tmp_path.glob(f"*{SUFFIX}"))) == 1  # the active one, with the last entry
    spool.remove(items[-1].request_id)
    spool.close()
    assert list(tmp_path.iterdir()) == []
    segment = written(tmp_path, items[:2], key)
    bounds = record_bounds(segment)
    data = bytearray(segment.read_bytes())
    data[bounds[0][1] - 3] ^= 0x40
    segment.write_bytes(bytes(data))
    spool = Spool(tmp_path, key)
    [left] = spool.pending(10)
    spool.remove(left.request_id)
    spool.close()
    assert [p.suffix for p in tmp_path.iterdir()] == [".bad"]


def test_entries_of_the_one_file_per_turn_spool_are_moved_into_the_journal(tmp_path: Path) -> None:
    from dataclasses import asdict

    from shared.crypto import seal

    key, items = os.urandom(32), turns(3)
    for item in items:
        aad = b"lethe.gateway.spool\0" + item.request_id.encode()
        blob = seal(key, json.dumps(asdict(item)).encode(), aad)
        (tmp_path / f"{item.request_id}.bin").write_bytes(blob)
    tampered = tmp_path / f"{items[1].request_id}.bin"
    blob = bytearray(tampered.read_bytes())
    blob[-1] ^= 1
    tampered.write_bytes(bytes(blob))
    assert sorted(pending_ids(tmp_path, key)) == sorted([items[0].request_id, items[2].request_id])
    assert not list(tmp_path.glob("*.bin")) and (tmp_path / f"{items[1].request_id}.bad").exists()


def test_concurrent_turns_are_released_only_once_written_each_once(tmp_path: Path) -> None:
    from concurrent.futures import Future

    from services.gateway.delivery import DeliveryWorker
    from services.gateway.journal import scan
    from services.gateway.recorder import Recorder
    from services.gateway.reidentify import Surrogates

    key, items = os.urandom(32), turns(120, seed=15)
    spool = Spool(tmp_path, key)
    never_started = DeliveryWorker(spool, ingest=lambda *_, **__: None)
    recorder = Recorder(spool, never_started, events=None)  # type: ignore[arg-type]
    early: list[str] = []

    def on_disk(request_id: str) -> bool:
        found = (r for f in tmp_path.glob(f"*{SUFFIX}") for r in scan(key, f.read_bytes()))
        return any(r.request_id == request_id and r.payload for r in found)

    def released(item: SpooledInteraction) -> Callable[[Future[None]], None]:
        return lambda future: None if future.exception() is None and on_disk(item.request_id) \
            else early.append(item.request_id)

    futures: list[Future[None]] = []
    barrier = threading.Barrier(12)

    def submit(part: list[SpooledInteraction]) -> None:
        barrier.wait()
        for item in part:
            future = recorder(item, Surrogates(), False)
            future.add_done_callback(released(item))
            futures.append(future)

    threads = [threading.Thread(target=submit, args=(items[n::12],)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for future in futures:
        future.result(timeout=60)
    recorder.close()
    assert early == [], "a turn was released before it was in the journal"
    assert sorted(i.request_id for i in spool.pending(1000)) == sorted(i.request_id for i in items)
    assert recorder.state()["spooled"] == len(items)
    spool.close()
