"""The main job behind ``make run``: Lethe end to end on realistic input, with a short summary.

Steps: start the five services, generate (or read) a sample, ingest it, serve an access request
and an erasure, sweep retention 31 days later, replay and verify the audit log, stop the services,
then prove the erasure by scanning every file of the data dir (after the services stopped, so that
no file is being written or renamed while it is read). A failed step is named on stderr.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console

from cli import audit, deployment
from cli.main import access_export, erase_account, ingest_file, sweep_at
from cli.sample import generate
from shared.config import default_key_dir, load_settings

MARKER = ".lethe-demo"
console = Console(soft_wrap=True)


def scan_for(root: Path, needles: list[bytes]) -> list[str]:
    """Files under ``root`` whose raw bytes contain any needle (names only).

    A file that vanishes between listing and reading (a temporary file renamed into place) is
    skipped: it holds nothing any more, and what it held is in the file it was renamed to.
    """
    hits = []
    for path in sorted(root.rglob("*")):
        try:
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        if any(n in data for n in needles):
            hits.append(str(path.relative_to(root)))
    return hits


def _failed(name: str) -> None:
    """Name the step that failed, on stderr (the error itself follows from the caller)."""
    Console(stderr=True).print(f"[bold red]✗[/] [bold]{name:10}[/] failed", highlight=False)


def run_demo(data_dir: Path, key_dir: Path | None, input_file: Path | None, accounts: int,
             interactions: int) -> dict[str, Any]:
    """Run the main job; returns the summary. Refuses to wipe a data dir it did not create."""
    data_dir = data_dir.resolve()
    key_dir = (key_dir or default_key_dir(data_dir)).resolve()
    if data_dir.exists() and any(data_dir.iterdir()):
        if not (data_dir / MARKER).exists():
            raise deployment.DeploymentError(f"{data_dir} is not a demo data dir; not touching it")
        deployment.down(load_settings(data_dir, key_dir))
        shutil.rmtree(data_dir)
        shutil.rmtree(key_dir, ignore_errors=True)
    data_dir.mkdir(parents=True, mode=0o700)
    (data_dir / MARKER).write_text("created by `lethe demo`; wiped by the next demo run\n")
    settings = load_settings(data_dir, key_dir)
    summary: dict[str, Any] = {}

    current = ["up"]  # the step under way, named when it fails

    def step(title: str, detail: str, following: str) -> None:
        console.print(f"[bold green]✓[/] [bold]{title:10}[/] {detail}", highlight=False)
        current[0] = following

    try:
        record = deployment.up(settings)
    except BaseException:
        _failed("up")
        raise
    step("up", f"{len(record['services'])} services on mTLS gRPC, data {data_dir}, keys {key_dir}",
         "sample" if input_file is None else "ingest")
    needles: set[bytes] = set()
    try:
        if input_file is None:
            input_file = data_dir.parent / f"{data_dir.name}-sample.jsonl"
            with open(input_file, "w", encoding="utf-8") as fh:
                for line in generate(accounts, interactions, seed=7):
                    fh.write(json.dumps(line, ensure_ascii=False) + "\n")
            step("sample", f"{interactions} interactions of {accounts} accounts -> {input_file}", "ingest")
        lines = []
        for raw in input_file.read_bytes().splitlines():  # bad lines are ingest's to report
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if isinstance(line, dict):
                lines.append(line)
        result = ingest_file(input_file, data_dir, key_dir)
        summary["ingest"] = {k: v for k, v in result.items() if k != "rejections"}
        step("ingest", f"stored {result['stored']}, duplicates {result['duplicate']}, "
                       f"rejected {result['rejected']}, erased {result['erased']} in "
                       f"{result['seconds']:.1f} s = {result['rate_per_s']:.1f} interactions/s", "access")
        account_ids = list(dict.fromkeys(str(line.get("account_id", "")) for line in lines
                                         if line.get("account_id")))
        if len(account_ids) < 2:
            step("access", "skipped: the input holds fewer than two accounts (one is exported, "
                           "another erased)", "sweep")
        else:
            first, second = account_ids[0], account_ids[1]
            export = access_export(first, data_dir / "exports" / "access-1.json", data_dir, key_dir)
            summary["access"] = export
            step("access", f"request {export['request_id']} {export['state']}: "
                           f"{export['interactions']} interactions, {export['records']} records "
                           f"-> {export['file']}", "erase")
            erased = erase_account(second, data_dir, key_dir)
            needles.add(second.encode())
            for line in lines:
                if line.get("account_id") == second:
                    needles |= {s["value"].encode() for spans in line.get("labels", {}).values()
                                for s in spans}  # every labelled value: names, e-mails, cards...
                    needles.add(str(line.get("client_ip", "")).encode() or second.encode())
            summary["erase"] = erased
            step("erase", f"request {erased['request_id']} {erased['state']}", "sweep")
        at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=31)
        swept = sweep_at(at.isoformat(), data_dir, key_dir)
        summary["sweep"] = swept
        step("sweep", f"at {at.isoformat()[:10]} (+31 days): expired {swept['expired']}, held "
                      f"{swept['held']}, aggregated {swept['aggregated']}, excluded by objection "
                      f"{swept['excluded_by_objection']}", "replay")
        _, _, peers = deployment.connect(data_dir, key_dir, "auditor")
        logs = audit.read_logs(peers)
        peers.close()
        kinds = Counter(e.event for log in logs.values() for e in log)
        summary["replay"] = dict(kinds)
        step("replay", f"{sum(kinds.values())} events: " + ", ".join(
            f"{k} {v}" for k, v in kinds.most_common(8)), "verify")
        violations = audit.verify(logs)
        summary["verify"] = [v.as_dict() for v in violations]
        step("verify", "every log intact and consistent across services" if not violations
             else f"{len(violations)} violations: " + ", ".join(sorted({v.kind for v in violations})),
             "down")
    except BaseException:
        _failed(current[0])
        raise
    finally:
        try:
            deployment.down(settings)
        except BaseException:
            _failed("down")
            raise
    step("down", "services stopped", "proof")
    if needles:  # the services have stopped: no file is written or renamed while it is scanned
        try:
            hits = scan_for(data_dir, sorted(n for n in needles if len(n) >= 6))
        except BaseException:
            _failed("proof")
            raise
        summary["erase"]["files_with_identifiers"] = hits
        step("proof", f"{len(hits)} files under the data dir hold the erased subject's identifiers",
             "done")
    (data_dir.parent / f"{data_dir.name}-summary.json").write_text(json.dumps(summary, indent=2,
                                                                               default=str))
    if summary.get("verify"):
        raise deployment.DeploymentError("audit verification failed")
    return summary
