"""lethe-client (``client/``) installed on its own, ingesting into the real services.

The package is built and installed into a scratch folder (its stubs generated from ``protos/`` at
build time) and used from a separate interpreter whose path holds that folder and not the
repository, so it cannot lean on ``shared/``. What each part tries to break: an install that lacks
its stubs; mutual TLS from the environment as the ``client`` identity; a retry during an
ingestion outage that changes its request id; a batcher that loses or reorders results, or lets
more than ``max_pending`` wait; the asyncio client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, Deployment

pytestmark = pytest.mark.e2e

SCRIPT = textwrap.dedent('''
    import asyncio, json, os, sys
    import lethe_client
    from lethe_client import AsyncBatcher, AsyncLetheClient, Batcher, Interaction, LetheClient
    assert "shared" not in sys.modules and lethe_client.__file__.startswith(os.environ["PYTHONPATH"])
    phase, account = sys.argv[1], sys.argv[2]
    out = {}
    if phase == "basic":
        with LetheClient() as lethe:
            items = [Interaction(account_id=account, prompt=f"client library prompt {n}", region="EU",
                                 response="ok", session_hint="lib") for n in range(3)]
            out["first"] = [r.outcome for r in lethe.ingest(items)]
            out["again"] = [r.outcome for r in lethe.ingest(items)]
            with Batcher(lethe, batch_size=4, linger_s=0.01, max_pending=2) as batcher:
                futures = [batcher.add(Interaction(account_id=account, prompt=f"batched prompt {n}",
                                                   region="EU")) for n in range(10)]
            out["batched"] = [f.result().outcome for f in futures]
        async def run():
            async with AsyncLetheClient() as client:
                batcher = AsyncBatcher(client, batch_size=3, max_pending=2)
                futures = [await batcher.add(Interaction(account_id=account, prompt=f"async prompt {n}",
                                                         region="EU")) for n in range(5)]
                await batcher.close()
                return [(await f).outcome for f in futures]
        out["async"] = asyncio.run(run())
    else:  # ingestion is down when this starts: retries keep one request id
        with LetheClient(retries=12) as lethe:
            seen, call = [], lethe.stub.Ingest
            def recording(request, timeout=None):
                seen.append(request.request_id)
                return call(request, timeout=timeout)
            lethe.stub.Ingest = recording
            out["outage"] = [r.outcome for r in lethe.ingest(
                [Interaction(account_id=account, prompt="sent during an outage", region="EU")])]
            out["request_ids"] = seen
    print(json.dumps(out))
''')


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("lethe-client")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "--no-deps", "--no-build-isolation", "--target", str(target), str(REPO / "client")],
                   check=True, timeout=300)
    assert (target / "lethe_client" / "_gen" / "lethe" / "v1" / "ingestion_pb2_grpc.py").exists()
    return target


def run_script(installed: Path, dep: Deployment, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"PYTHONPATH": str(installed), "LETHE_DATA_DIR": str(dep.data_dir),
                "LETHE_KEY_DIR": str(dep.key_dir)})
    return subprocess.Popen([sys.executable, "-c", SCRIPT, *args], cwd=installed, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def result(proc: subprocess.Popen[bytes]) -> dict[str, object]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    return json.loads(out)


def test_installed_client_ingests_sync_batched_and_async(installed: Path, sqlite_deployment: Deployment,
                                                         tmp_path: Path) -> None:
    got = result(run_script(installed, sqlite_deployment, "basic", "acct-lib-1"))
    # Acknowledged once durable; a retry is accepted again while queued, a duplicate after.
    assert got["first"] == ["accepted"] * 3 and set(got["again"]) <= {"accepted", "duplicate"}
    assert got["batched"] == ["accepted"] * 10 and got["async"] == ["accepted"] * 5
    deadline, prompts = time.monotonic() + 60, []
    while len(prompts) < 18 and time.monotonic() < deadline:  # de-identified in the background
        sqlite_deployment.lethe("rights", "access", "acct-lib-1", "--out", str(tmp_path / "e.json"))
        prompts = [i["content"]["prompt"]
                   for i in json.loads((tmp_path / "e.json").read_text())["interactions"]]
    assert len(prompts) == 18 and len(set(prompts)) == 18


def test_a_retry_across_an_ingestion_outage_keeps_its_request_id(installed: Path,
                                                                 sqlite_deployment: Deployment) -> None:
    from tests.e2e.test_kill_recovery import Cluster

    cluster = Cluster(sqlite_deployment)
    cluster.kill("ingestion")
    try:
        proc = run_script(installed, sqlite_deployment, "outage", "acct-lib-2")
        time.sleep(1.5)
    finally:
        cluster.start("ingestion")
    got = result(proc)
    assert got["outage"] == ["accepted"]
    assert len(got["request_ids"]) > 1 and len(set(got["request_ids"])) == 1
