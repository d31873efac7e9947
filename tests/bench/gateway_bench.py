"""Gateway overhead: the same chat completions sent to the model server directly and through
``lethe gateway`` (a real process, with a real deployment behind it delivering the spool), in
one run, interleaved so that both see the same machine load.

Reported: p50 and p99 latency of each path (ms, non-streamed requests of a short prompt, one at a
time over a kept-alive connection) and the added milliseconds (gateway minus direct at the same
percentile); for streamed requests the same for the time to the first content chunk. The goal of
issue 14 is p50 added <= 5 ms. A whole answer leaves the gateway only once its turn is durable in
the spool's journal (one append and one ``fdatasync``, shared by the turns that end together), so
the bench also reports what that write costs on this disk at the time, alone and per turn in a
group of 16, beside the former one-file-per-turn write (``spool_write``), and the load average
(other processes on the machine add their own latency). Nothing is asserted.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import _start, _stop
from tests.e2e.test_gateway import FakeUpstream, GatewayProcess

REQUESTS = 300
BODY = {"model": "fake-1", "messages": [{"role": "user", "content": "What is the capital of France?"}]}


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _once(client: httpx.Client, url: str, headers: dict[str, str], stream: bool) -> float:
    started = time.perf_counter()
    if not stream:
        client.post(url, json=BODY, headers=headers).raise_for_status()
        return (time.perf_counter() - started) * 1000
    with client.stream("POST", url, json={**BODY, "stream": True}, headers=headers) as resp:
        lines = resp.iter_lines()
        for line in lines:
            if line.startswith("data:") and '"content"' in line:
                first = (time.perf_counter() - started) * 1000
                for _ in lines:
                    pass
                return first
    raise AssertionError("no content chunk")


def _spool_writes(directory: Path, n: int = 200) -> dict[str, Any]:
    """What making a turn durable costs on this disk now (ms, p50/p99): the journal's append with
    one ``fdatasync`` for a lone turn (``journal_put``), per turn in a group commit of 16
    (``journal_group16_per_turn``), and, for comparison, the former design's one sealed file per
    turn (temp file, fsync, rename, fsync of the folder: ``file_per_turn``)."""
    import os
    import uuid

    from services.gateway.journal import sync_dir
    from services.gateway.spool import Spool, SpooledInteraction

    def item() -> SpooledInteraction:
        return SpooledInteraction(str(uuid.uuid4()), "acct-bench", uuid.uuid4().hex, "192.0.2.0/24", "ua",
                                  "EU", "2026-01-01T00:00:00+00:00", "user: " + "q" * 100, "a" * 500)

    def old_put(blob: bytes) -> None:
        path, tmp = directory / "old.bin", directory / "old.tmp"
        with open(tmp, "wb") as out:
            out.write(blob)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        sync_dir(directory)

    spool = Spool(directory, os.urandom(32))
    took: dict[str, list[float]] = {"journal_put": [], "journal_group16_per_turn": [], "file_per_turn": []}
    try:
        for _ in range(n):
            one, group = item(), [item() for _ in range(16)]
            started = time.perf_counter()
            spool.put(one)
            took["journal_put"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            spool.put_many(group)
            took["journal_group16_per_turn"].append((time.perf_counter() - started) * 1000 / 16)
            started = time.perf_counter()
            old_put(os.urandom(700))
            took["file_per_turn"].append((time.perf_counter() - started) * 1000)
            for done in (one, *group):
                spool.remove(done.request_id)
    finally:
        spool.close()
    return {k: {"p50_ms": round(_pct(v, 0.5), 3), "p99_ms": round(_pct(v, 0.99), 3)} for k, v in took.items()}


def main(requests: int = REQUESTS) -> dict[str, Any]:
    """Run the benchmark; returns the figures (ms) by path and mode."""
    with tempfile.TemporaryDirectory() as tmp, FakeUpstream(piece=8, delay_s=0.0) as upstream:
        dep = _start(Path(tmp), "sqlite")
        gateway = None
        try:
            gateway = GatewayProcess(dep, upstream.url)
            headers = {"X-Lethe-Account": "acct-bench", "X-Lethe-Region": "EU"}
            results: dict[str, Any] = {}
            with httpx.Client(timeout=30) as client:
                for stream in (False, True):
                    times: dict[str, list[float]] = {"direct": [], "gateway": []}
                    for n in range(requests + 20):
                        for path, base in (("direct", upstream.url), ("gateway", gateway.url)):
                            took = _once(client, base + "/v1/chat/completions", headers, stream)
                            if n >= 20:  # warm-up
                                times[path].append(took)
                    mode = "stream_first_chunk" if stream else "whole"
                    fig = {p: {"p50_ms": round(_pct(v, 0.5), 2), "p99_ms": round(_pct(v, 0.99), 2),
                               "mean_ms": round(statistics.fmean(v), 2)} for p, v in times.items()}
                    fig["added_p50_ms"] = round(fig["gateway"]["p50_ms"] - fig["direct"]["p50_ms"], 2)
                    fig["added_p99_ms"] = round(fig["gateway"]["p99_ms"] - fig["direct"]["p99_ms"], 2)
                    results[mode] = fig
                    print(f"  {mode:20} direct p50 {fig['direct']['p50_ms']:.2f} ms p99 "
                          f"{fig['direct']['p99_ms']:.2f} ms | gateway p50 {fig['gateway']['p50_ms']:.2f} ms "
                          f"p99 {fig['gateway']['p99_ms']:.2f} ms | added p50 {fig['added_p50_ms']:.2f} ms "
                          f"p99 {fig['added_p99_ms']:.2f} ms")
            results["spool_write"] = _spool_writes(dep.data_dir / "bench-spool")
            for name, fig in results["spool_write"].items():
                print(f"  {name:26} p50 {fig['p50_ms']:.3f} ms p99 {fig['p99_ms']:.3f} ms")
            results["load_average"] = [round(x, 2) for x in os.getloadavg()]
            print(f"  load average {results['load_average']} on {os.cpu_count()} cores")
            results["requests"] = requests
            results["delivered"] = gateway.wait_delivered(300)
            return results
        finally:
            if gateway is not None:
                gateway.stop()
            _stop(dep)


if __name__ == "__main__":
    main()
