"""End-to-end ingest through the five services vs the in-process anonymization rate, same texts.

For each backend (SQLite, then PostgreSQL when reachable) a fresh deployment is started with
``lethe up``; the same generated interactions (prompts of up to 100 words) are
1. anonymized in-process with the detection engine's batch path (the expensive step, baseline);
2. ingested with one streaming call (``IngestStream``, acknowledged once de-identified):
   interactions per second;
3. ingested one per call (each with its own request id) by 32 concurrent unary clients, first
   acknowledged once de-identified (``ACKNOWLEDGE_DEIDENTIFIED``, the old behaviour), then
   acknowledged once durably queued (``ACKNOWLEDGE_DURABLE``, the default): p50 and p99 latency
   in ms of each, the acknowledgement rate, and the de-identification rate (from the first call
   until the queue is empty, i.e. everything de-identified and stored), in the same run on the
   same deployment. The load average of the machine is printed with the figures;
4. beside them, the floor: a no-op RPC (health ``Check``) on the same channel by the same 32 clients;
5. the durable acknowledgement at the old acknowledgement's throughput: the 32 clients send
   open-loop (Poisson arrivals, fixed seed) at the rate ``ACKNOWLEDGE_DEIDENTIFIED`` sustained in
   step 3 of the same run, and each latency counts from the call's scheduled time (so a call that
   waits for a free client counts its wait). Steps 3 and 4 are closed-loop (each client sends its
   next call when the last is answered), so their latency is the queue the clients themselves make
   (Little's law: 32 / rate); step 5 is the latency a caller sees at a given throughput.
The ratio e2e rate / in-process anonymization rate shows what the service mesh costs.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc

from cli.reader import parse_line
from cli.sample import generate
from shared.gen.lethe.v1 import ingestion_pb2, ingestion_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
N_STREAM, N_UNARY, CLIENTS = 1000, 640, 32


def _interactions(n: int, seed: int) -> list[ingestion_pb2.Interaction]:
    import json
    out = []
    for i, line in enumerate(generate(max(1, n // 20), n, seed=seed)):
        line["prompt"] = f"{line['prompt']} (ref {uuid.uuid4().hex[:8]})"
        out.append(parse_line(json.dumps(line).encode(), i + 1))
    return out


def _anonymization_rate(items: list[ingestion_pb2.Interaction]) -> float:
    from services.anonymization.engine import DetectionEngine, deidentify
    texts = [t for i in items for t in (i.prompt, i.response)]
    engine = DetectionEngine()
    engine.analyze_batch(texts[:64])
    began = time.perf_counter()
    for start in range(0, len(texts), 128):
        chunk = texts[start:start + 128]
        for text, found in zip(chunk, engine.analyze_batch(chunk), strict=True):
            deidentify(text, found)
    elapsed = time.perf_counter() - began
    engine.close()
    return len(items) / elapsed


def _lethe(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, cwd=REPO, check=True,
                   capture_output=True, timeout=300)


def _run_backend(backend: str, stream_items: list[Any], unary_items: list[Any]) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix=f"lethe-bench-{backend}-"))
    env = {**os.environ, "LETHE_DATA_DIR": str(root / "var"), "LETHE_KEY_DIR": str(root / "keys")}
    if backend == "postgres":
        env.update(LETHE_PERSISTENCE="postgres", POSTGRES_HOST="127.0.0.1", POSTGRES_USER="postgres",
                   POSTGRES_DBNAME="test", LETHE_POSTGRES_SCHEMA_PREFIX=f"b{uuid.uuid4().hex[:8]}")
    _lethe(env, "up")
    try:
        os.environ.update({k: v for k, v in env.items() if k.startswith(("LETHE_", "POSTGRES_"))})
        from cli.deployment import connect
        _, _, peers = connect(env["LETHE_DATA_DIR"], env["LETHE_KEY_DIR"], "client")
        stub = ingestion_pb2_grpc.IngestionServiceStub(peers.channel("ingestion"))
        warm = _interactions(64, seed=99)
        stub.Ingest(ingestion_pb2.IngestRequest(interactions=warm), timeout=120)
        began = time.perf_counter()
        deidentified = ingestion_pb2.ACKNOWLEDGE_DEIDENTIFIED
        resp = stub.IngestStream((ingestion_pb2.IngestStreamRequest(interaction=i, acknowledge=deidentified)
                                  for i in stream_items), timeout=600)
        stream_rate = len(stream_items) / (time.perf_counter() - began)
        assert sum(r.outcome == ingestion_pb2.INGEST_OUTCOME_STORED for r in resp.results) == len(stream_items)

        refused = [0]

        def one(item: Any, acknowledge: int) -> float:
            """Latency as the client sees it: each call carries a request id, as the client library
            sends (so the idempotency binding is on the path); a call over the identity's cap of
            concurrent calls (RESOURCE_EXHAUSTED, shared/concurrency.py) is retried with the same
            id after 5 ms doubling to 80 ms."""
            t, backoff, request_id = time.perf_counter(), 0.005, str(uuid.uuid4())
            while True:
                try:
                    stub.Ingest(ingestion_pb2.IngestRequest(interactions=[item], acknowledge=acknowledge,
                                                            request_id=request_id), timeout=60)
                    return (time.perf_counter() - t) * 1000
                except grpc.RpcError as exc:
                    if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                        raise
                    refused[0] += 1
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 0.08)

        figures: dict[str, float] = {"stream_rate_per_s": stream_rate, **_floor(peers.channel("ingestion"))}
        for name, mode, items in (("deidentified", deidentified, unary_items[0]),
                                  ("durable", ingestion_pb2.ACKNOWLEDGE_DURABLE, unary_items[1])):
            with ThreadPoolExecutor(CLIENTS) as pool:
                began = time.perf_counter()
                latencies = sorted(pool.map(lambda item: one(item, mode), items))
                acked = time.perf_counter() - began
            _wait_drained(backend, env)
            done = time.perf_counter() - began
            figures.update({f"{name}_ack_rate_per_s": len(items) / acked,
                            f"{name}_rate_per_s": len(items) / done,
                            f"{name}_p50_ms": statistics.median(latencies),
                            f"{name}_p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
                            f"{name}_retried_calls": float(refused[0])})
            refused[0] = 0
        paced = _paced(lambda item: one(item, ingestion_pb2.ACKNOWLEDGE_DURABLE), unary_items[2],
                       figures["deidentified_ack_rate_per_s"])
        _wait_drained(backend, env)
        figures.update({f"paced_{k}": v for k, v in paced.items()})
        peers.close()
        return figures
    finally:
        _lethe(env, "down")
        if backend == "postgres":
            import psycopg
            with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as db:
                for s in ("ingestion", "anonymization", "vault", "retention", "rights"):
                    db.execute(f'DROP SCHEMA IF EXISTS "{env["LETHE_POSTGRES_SCHEMA_PREFIX"]}_{s}" CASCADE')
        shutil.rmtree(root, ignore_errors=True)


def _paced(one: Callable[[Any], float], items: list[Any], rate: float) -> dict[str, float]:
    """``items`` sent by ``CLIENTS`` threads at ``rate`` calls/s (Poisson arrivals, seed 7); each
    latency (ms) runs from the call's scheduled time to its answer: p50, p99 and the achieved rate."""
    rng, at, schedule = random.Random(7), 0.0, []
    for _ in items:
        at += rng.expovariate(rate)
        schedule.append(at)

    def timed(pair: tuple[float, Any]) -> float:
        due, item = pair
        time.sleep(max(0.0, began + due - time.perf_counter()))
        one(item)
        return (time.perf_counter() - began - due) * 1000

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(time.sleep, [0.02] * CLIENTS))  # the 32 client threads exist before the clock
        began = time.perf_counter()
        latencies = sorted(pool.map(timed, zip(schedule, items)))
    elapsed = time.perf_counter() - began
    return {"p50_ms": statistics.median(latencies), "p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
            "rate_per_s": len(items) / elapsed, "offered_per_s": rate}


def _floor(channel: Any) -> dict[str, float]:
    """The floor under any acknowledgement: a no-op RPC (gRPC health ``Check`` of the ingestion
    service, same mTLS channel, same 32 client threads, N_UNARY calls): p50 and p99 in ms, calls/s."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stub = health_pb2_grpc.HealthStub(channel)

    def one(_: int) -> float:
        t = time.perf_counter()
        stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=60)
        return (time.perf_counter() - t) * 1000

    with ThreadPoolExecutor(CLIENTS) as pool:
        began = time.perf_counter()
        latencies = sorted(pool.map(one, range(N_UNARY)))
        elapsed = time.perf_counter() - began
    return {"noop_p50_ms": statistics.median(latencies),
            "noop_p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
            "noop_rate_per_s": N_UNARY / elapsed}


def _queued(backend: str, env: dict[str, str]) -> int:
    """Interactions acknowledged and not yet de-identified (ingestion's pending queue)."""
    if backend == "postgres":
        import psycopg
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test") as db:
            schema = f'{env["LETHE_POSTGRES_SCHEMA_PREFIX"]}_ingestion'
            return int(db.execute(f'SELECT COUNT(*) FROM "{schema}".pending').fetchone()[0])
    import sqlite3
    db = sqlite3.connect(f"file:{Path(env['LETHE_DATA_DIR']) / 'ingestion' / 'pending.db'}?mode=ro",
                         uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
    finally:
        db.close()


def _wait_drained(backend: str, env: dict[str, str], timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while _queued(backend, env) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _queued(backend, env) == 0, "the ingest queue did not drain"


def _postgres_up() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"]).returncode == 0


def main() -> dict[str, Any]:
    """Print and return the figures for each backend."""
    stream_items = _interactions(N_STREAM, seed=1)
    unary_items = _interactions(N_UNARY, seed=2)
    anon = _anonymization_rate(stream_items)
    print(f"load average {os.getloadavg()[0]:.2f} (2 cores; other work on the machine skews latency)")
    print(f"in-process anonymization (batch path): {anon:8.1f} interactions/s "
          f"({N_STREAM} interactions, prompt + response each)")
    results: dict[str, Any] = {"anonymization_rate_per_s": anon, "load_average": os.getloadavg()[0]}
    for backend in ("sqlite", "postgres"):
        if backend == "postgres" and not _postgres_up():
            print("postgres: not reachable on 127.0.0.1:5432, skipped")
            continue
        seeds = (4, 5, 8) if backend == "postgres" else (2, 6, 7)
        r = _run_backend(backend, _interactions(N_STREAM, seed=3 if backend == "postgres" else 1),
                         [_interactions(N_UNARY, seed=s) for s in seeds])
        r["stream_ratio"] = r["stream_rate_per_s"] / anon
        r["durable_vs_deidentified_rate"] = r["durable_rate_per_s"] / r["deidentified_rate_per_s"]
        results[backend] = r
        print(f"{backend:8} streaming ingest {r['stream_rate_per_s']:8.1f}/s (ratio {r['stream_ratio']:.2f} "
              f"of in-process anonymization)")
        for mode in ("deidentified", "durable"):
            print(f"{backend:8} {CLIENTS} unary clients, ack {mode:12}: p50 {r[mode + '_p50_ms']:6.1f} ms, "
                  f"p99 {r[mode + '_p99_ms']:6.1f} ms, acks {r[mode + '_ack_rate_per_s']:6.1f}/s, "
                  f"stored {r[mode + '_rate_per_s']:6.1f}/s ({r[mode + '_retried_calls']:.0f} calls "
                  "over the per-identity cap retried)")
        print(f"{backend:8} {CLIENTS} unary clients, no-op RPC (floor)  : p50 {r['noop_p50_ms']:6.1f} ms, "
              f"p99 {r['noop_p99_ms']:6.1f} ms, calls {r['noop_rate_per_s']:6.1f}/s (gRPC + mTLS alone)")
        print(f"{backend:8} {CLIENTS} unary clients, ack durable open-loop at the deidentified ack rate "
              f"({r['paced_offered_per_s']:.1f}/s offered, {r['paced_rate_per_s']:.1f}/s answered): "
              f"p50 {r['paced_p50_ms']:6.1f} ms, p99 {r['paced_p99_ms']:6.1f} ms")
        print(f"{backend:8} durable/deidentified end-to-end throughput: "
              f"{r['durable_vs_deidentified_rate']:.2f}")
    return results


if __name__ == "__main__":
    main()
