"""End-to-end ingest through the five services vs the in-process anonymization rate, same texts.

For each backend (SQLite, then PostgreSQL when reachable) a fresh deployment is started with
``lethe up``; the same generated interactions (prompts of up to 100 words) are
1. anonymized in-process with the detection engine's batch path (the expensive step, baseline);
2. ingested with one streaming call (``IngestStream``): interactions per second;
3. ingested one per call by 32 concurrent unary clients: p50 and p99 latency in ms.
The ratio e2e rate / in-process anonymization rate shows what the service mesh costs.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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
        resp = stub.IngestStream((ingestion_pb2.IngestStreamRequest(interaction=i) for i in stream_items),
                                 timeout=600)
        stream_rate = len(stream_items) / (time.perf_counter() - began)
        assert sum(r.outcome == ingestion_pb2.INGEST_OUTCOME_STORED for r in resp.results) == len(stream_items)

        def one(item: Any) -> float:
            t = time.perf_counter()
            stub.Ingest(ingestion_pb2.IngestRequest(interactions=[item]), timeout=60)
            return (time.perf_counter() - t) * 1000

        with ThreadPoolExecutor(CLIENTS) as pool:
            began = time.perf_counter()
            latencies = sorted(pool.map(one, unary_items))
            unary_rate = len(unary_items) / (time.perf_counter() - began)
        peers.close()
        return {"stream_rate_per_s": stream_rate, "unary_rate_per_s": unary_rate,
                "p50_ms": statistics.median(latencies),
                "p99_ms": latencies[int(0.99 * (len(latencies) - 1))]}
    finally:
        _lethe(env, "down")
        if backend == "postgres":
            import psycopg
            with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as db:
                for s in ("ingestion", "anonymization", "vault", "retention", "rights"):
                    db.execute(f'DROP SCHEMA IF EXISTS "{env["LETHE_POSTGRES_SCHEMA_PREFIX"]}_{s}" CASCADE')
        shutil.rmtree(root, ignore_errors=True)


def _postgres_up() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"]).returncode == 0


def main() -> dict[str, Any]:
    """Print and return the figures for each backend."""
    stream_items = _interactions(N_STREAM, seed=1)
    unary_items = _interactions(N_UNARY, seed=2)
    anon = _anonymization_rate(stream_items)
    print(f"in-process anonymization (batch path): {anon:8.1f} interactions/s "
          f"({N_STREAM} interactions, prompt + response each)")
    results: dict[str, Any] = {"anonymization_rate_per_s": anon}
    for backend in ("sqlite", "postgres"):
        if backend == "postgres" and not _postgres_up():
            print("postgres: not reachable on 127.0.0.1:5432, skipped")
            continue
        r = _run_backend(backend, _interactions(N_STREAM, seed=3 if backend == "postgres" else 1),
                         _interactions(N_UNARY, seed=4 if backend == "postgres" else 2))
        r["stream_ratio"] = r["stream_rate_per_s"] / anon
        results[backend] = r
        print(f"{backend:8} streaming ingest {r['stream_rate_per_s']:8.1f}/s (ratio {r['stream_ratio']:.2f} "
              f"of in-process anonymization); {CLIENTS} unary clients {r['unary_rate_per_s']:.1f}/s, "
              f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms")
    return results


if __name__ == "__main__":
    main()
