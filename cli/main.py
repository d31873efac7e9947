"""``lethe``: the one command-line interface to a Lethe deployment (docs/design.md §5).

Every command finds its deployment through ``--data-dir``/``LETHE_DATA_DIR`` (default ``./var``)
and ``--key-dir``/``LETHE_KEY_DIR`` (default: a ``-keys`` folder beside the data dir). Exit codes:
0 success, 1 refused or failed (message on stderr), 2 usage.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import grpc
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli import audit as audit_mod
from cli import deployment
from cli.outfile import check_target, private_output
from cli.reader import LineError, parse_line, parse_timestamp, read_lines
from cli.sample import generate
from shared.config import ConfigError, load_settings
from shared.gen.lethe.v1 import (
    anonymization_pb2,
    anonymization_pb2_grpc,
    ingestion_pb2,
    ingestion_pb2_grpc,
    retention_pb2,
    retention_pb2_grpc,
    rights_pb2,
    rights_pb2_grpc,
    vault_pb2,
    vault_pb2_grpc,
)
from shared.ids import stable_id
from shared.keysource import KeySourceError

app = typer.Typer(help="Lethe: privacy data plane for AI services.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
rights_app = typer.Typer(help="Data-subject requests (GDPR/CCPA).", no_args_is_help=True)
retention_app = typer.Typer(help="Retention sweeps, legal holds and tickets.", no_args_is_help=True)
hold_app = typer.Typer(help="Legal holds.", no_args_is_help=True)
audit_app = typer.Typer(help="Replay and verify the event logs.", no_args_is_help=True)
app.add_typer(rights_app, name="rights")
app.add_typer(retention_app, name="retention")
retention_app.add_typer(hold_app, name="hold")
app.add_typer(audit_app, name="audit")
recipients_app = typer.Typer(help="The third-party recipient registry.", no_args_is_help=True)
keys_app = typer.Typer(help="Key rotation.", no_args_is_help=True)
app.add_typer(recipients_app, name="recipients")
app.add_typer(keys_app, name="keys")
certs_app = typer.Typer(help="TLS certificates of the local CA.", no_args_is_help=True)
k8s_app = typer.Typer(help="Kubernetes material from the key dir.", no_args_is_help=True)
app.add_typer(certs_app, name="certs")
app.add_typer(k8s_app, name="k8s")

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)  # ids never cut in pipes
err = Console(stderr=True, soft_wrap=True)
DataDir = Annotated[Optional[Path], typer.Option("--data-dir", envvar="LETHE_DATA_DIR",
                                                 help="Deployment data dir (default ./var).")]
KeyDir = Annotated[Optional[Path], typer.Option("--key-dir", envvar="LETHE_KEY_DIR",
                                                help="Key dir (default: <data dir>-keys).")]
INGEST_BATCH = 64


def fail(message: str) -> None:
    """Print to stderr and exit 1."""
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(1)


def usage(message: str) -> None:
    """A usage error: message on stderr, exit 2 (docs/design.md §5)."""
    err.print(f"[red]usage:[/red] {message}", highlight=False)
    raise typer.Exit(2)


def handled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected failures into exit code 1 with a message (no traceback, no personal data)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except deployment.DeploymentError as exc:
            fail(str(exc))
        except ConfigError as exc:
            fail(f"configuration error: {exc}")
        except grpc.RpcError as exc:
            fail(f"{exc.code().name}: {exc.details()}")
        except KeySourceError as exc:
            fail(f"key dir: {exc}")
        except BrokenPipeError:  # the reader went away (e.g. `| head`): nothing left to say
            sys.stderr.close()
            raise typer.Exit(0) from None
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            fail(f"{exc.strerror or type(exc).__name__}{where}")
        except ValueError as exc:  # malformed files given on the command line (checkpoints, keys)
            fail(f"invalid input: {exc}")
    return wrapper


# ---------------------------------------------------------------- deployment
@app.command()
@handled
def up(data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Start the five services locally (embedded SQLite), detached."""
    settings = load_settings(data_dir, key_dir)
    record = deployment.up(settings)
    for name, info in record["services"].items():
        out.print(f"{name:14} {info['address']:22} pid {info['pid']}")
    if record.get("console"):
        out.print(f"{'console':14} {record['console']['address']:22} pid {record['console']['pid']} "
                  "(login link: lethe status --json)")
    out.print(f"data dir {settings.data_dir}\nkey dir  {settings.key_dir}")


@app.command()
@handled
def down(data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Stop the services of this deployment."""
    stopped = deployment.down(load_settings(data_dir, key_dir))
    out.print("stopped " + (", ".join(stopped) if stopped else "nothing (no deployment)"))


@app.command()
@handled
def status(data_dir: DataDir = None, key_dir: KeyDir = None,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Each service: address, health, event count."""
    rows = deployment.status(load_settings(data_dir, key_dir))
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        table = Table("service", "address", "pid", "health", "events")
        for r in rows:
            table.add_row(r["service"], r["address"], str(r["pid"]), r["health"], str(r["events"]))
        out.print(table)
    if any(r["health"] != "SERVING" for r in rows):
        raise typer.Exit(1)


# ---------------------------------------------------------------- input
@app.command()
def sample(accounts: Annotated[int, typer.Option(min=1)] = 50,
           interactions: Annotated[Optional[int], typer.Option(min=0)] = None,
           seed: int = 7) -> None:
    """Generate realistic labelled sample input (Faker) as JSON Lines on stdout."""
    for line in generate(accounts, interactions, seed):
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")


def ingest_file(path: Path, data_dir: Any = None, key_dir: Any = None,
                show_progress: bool = True) -> dict[str, Any]:
    """Ingest a JSONL file; returns counts, rejected lines and the rate (interactions/second)."""
    settings, _, peers = deployment.connect(data_dir, key_dir, "client")  # as the AI service
    stub = ingestion_pb2_grpc.IngestionServiceStub(peers.channel("ingestion"))
    counts = {"stored": 0, "duplicate": 0, "rejected": 0, "erased": 0}
    rejected: list[dict[str, Any]] = []
    names = {ingestion_pb2.INGEST_OUTCOME_STORED: "stored",
             ingestion_pb2.INGEST_OUTCOME_DUPLICATE: "duplicate",
             ingestion_pb2.INGEST_OUTCOME_REJECTED: "rejected",
             ingestion_pb2.INGEST_OUTCOME_ERASED: "erased"}
    total_lines = sum(1 for _ in open(path, "rb"))

    def send(batch: list[ingestion_pb2.Interaction]) -> list[ingestion_pb2.IngestResult]:
        for attempt in range(6):
            try:
                return list(stub.Ingest(ingestion_pb2.IngestRequest(  # counts known on return
                    request_id=str(uuid.uuid4()), interactions=batch,
                    acknowledge=ingestion_pb2.ACKNOWLEDGE_DEIDENTIFIED), timeout=300).results)
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or attempt == 5:
                    raise
                time.sleep(0.5 * 2 ** attempt)
        return []

    started = time.monotonic()
    progress = Progress(TextColumn("ingest"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err, disable=not show_progress)
    with progress, open(path, "rb") as fh, ThreadPoolExecutor(2) as pool:
        task = progress.add_task("ingest", total=total_lines)
        futures, batch = [], []

        def drain(limit: int) -> None:
            while len(futures) > limit:
                done_batch, future = futures.pop(0)
                for result in future.result():
                    name = names.get(result.outcome, "rejected")
                    counts[name] += 1
                    if name == "rejected":
                        rejected.append({"line": result.sequence, "reason": result.reason,
                                         "message": result.message})
                progress.advance(task, done_batch)

        for lineno, raw in read_lines(fh):
            try:
                batch.append(parse_line(raw, lineno))
            except LineError as exc:
                counts["rejected"] += 1
                rejected.append({"line": exc.lineno, "reason": exc.reason, "message": exc.detail})
                progress.advance(task)
            if len(batch) >= INGEST_BATCH:
                futures.append((len(batch), pool.submit(send, batch)))
                batch = []
                drain(2)
        if batch:
            futures.append((len(batch), pool.submit(send, batch)))
        drain(0)
    elapsed = time.monotonic() - started
    peers.close()
    accepted = counts["stored"] + counts["duplicate"] + counts["erased"]
    rejected.sort(key=lambda r: r["line"])
    return {**counts, "lines": accepted + counts["rejected"], "seconds": round(elapsed, 3),
            "rate_per_s": round(accepted / elapsed, 1) if elapsed else 0.0, "rejections": rejected}


@app.command()
@handled
def ingest(file: Path, data_dir: DataDir = None, key_dir: KeyDir = None,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Ingest interactions from a JSONL file (progress bar); prints counts and the ingest rate.

    Exits 1 when any line was rejected (the rest is ingested all the same).
    """
    if not file.is_file():
        fail(f"cannot read {file}: no such file")
    result = ingest_file(file, data_dir, key_dir, show_progress=not as_json)
    for r in result["rejections"]:
        err.print(f"line {r['line']}: rejected ({r['reason']}): {r['message']}", highlight=False)
    if as_json:
        print(json.dumps(result))
    else:
        out.print(f"stored {result['stored']}, duplicates {result['duplicate']}, "
                  f"rejected {result['rejected']}, erased {result['erased']} "
                  f"in {result['seconds']:.1f} s ({result['rate_per_s']:.1f} interactions/s)")
    if result["rejected"]:  # the rest is ingested, but a script must learn that data was refused
        err.print(f"{result['rejected']} of {result['lines']} lines rejected (see above); "
                  "exit status 1", highlight=False)
        raise typer.Exit(1)


def _anonymizer(data_dir: Any, key_dir: Any) -> Callable[[list[str]], list[dict[str, Any]]]:
    """Batch anonymizer: the running service if there is one, else the engine in-process."""
    settings = load_settings(data_dir, key_dir)
    if deployment.read_deployment(settings):
        _, _, peers = deployment.connect(data_dir, key_dir)
        stub = anonymization_pb2_grpc.AnonymizationServiceStub(peers.channel("anonymization"))

        def remote(texts: list[str]) -> list[dict[str, Any]]:
            resp = stub.AnonymizeBatch(anonymization_pb2.AnonymizeBatchRequest(
                items=[anonymization_pb2.TextItem(text=t) for t in texts]), timeout=300)
            return [{"text": r.text, "entities": [{"type": e.type, "start": e.start, "end": e.end}
                                                  for e in r.entities]} for r in resp.results]
        return remote
    from services.anonymization.application import check_texts
    from services.anonymization.engine import DetectionEngine, deidentify
    engine = DetectionEngine()

    def local(texts: list[str]) -> list[dict[str, Any]]:
        check_texts(texts)
        return [{"text": deidentify(t, ents), "entities": [
                    {"type": e.type, "start": e.start, "end": e.end} for e in ents]}
                for t, ents in zip(texts, engine.analyze_batch(texts), strict=True)]
    return local


@app.command()
@handled
def anonymize(as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
              jsonl: Annotated[bool, typer.Option("--jsonl", help="JSON Lines in and out.")] = False,
              data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Redact personal data from stdin (plain text, --json, or --jsonl lines of {"text": ...})."""
    from shared.errors import LetheError
    if as_json and jsonl:
        usage("--json and --jsonl cannot be combined (--jsonl already writes JSON)")
    run = _anonymizer(data_dir, key_dir)
    try:
        if not jsonl:
            raw = sys.stdin.buffer.read()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                fail("input is not valid UTF-8")
            result = run([text])[0]
            print(json.dumps(result, ensure_ascii=False) if as_json else result["text"],
                  end="" if not as_json else "\n")
            return
        failures = 0
        pending: list[tuple[int, str]] = []
        slots: list[dict[str, Any] | None] = []

        def flush() -> None:
            if pending:
                for (index, _), result in zip(pending, run([t for _, t in pending]), strict=True):
                    slots[index] = result
                pending.clear()
            for item in slots:
                print(json.dumps(item, ensure_ascii=False))
            slots.clear()

        for lineno, raw in enumerate(sys.stdin.buffer, start=1):  # blank lines keep their slot
            try:
                obj = json.loads(raw.decode("utf-8"))
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    raise ValueError
                obj["text"].encode("utf-8")
            except (ValueError, UnicodeError, RecursionError):
                failures += 1
                err.print(f"line {lineno}: expected a JSON object with a string \"text\"")
                slots.append({"error": "INVALID_LINE", "line": lineno})
                continue
            pending.append((len(slots), obj["text"]))
            slots.append(None)
            if len(pending) >= INGEST_BATCH:
                flush()
        flush()
        if failures:
            raise typer.Exit(1)
    except LetheError as exc:
        fail(exc.message)


# ---------------------------------------------------------------- rights
def _rights(data_dir: Any, key_dir: Any) -> tuple[Any, Any, Any]:
    settings, keys, peers = deployment.connect(data_dir, key_dir)
    return settings, keys, rights_pb2_grpc.RightsServiceStub(peers.channel("rights"))


def _request_dict(r: rights_pb2.DataSubjectRequest) -> dict[str, Any]:
    utc = dt.timezone.utc
    return {"request_id": r.request_id,
            "kind": rights_pb2.RequestKind.Name(r.kind).removeprefix("REQUEST_KIND_").lower(),
            "state": rights_pb2.RequestState.Name(r.state).removeprefix("REQUEST_STATE_").lower(),
            "subject_ref": r.subject_ref, "law": r.law,
            "received_at": r.received_at.ToDatetime(tzinfo=utc).isoformat(),
            "due_at": r.due_at.ToDatetime(tzinfo=utc).isoformat(),
            "closed_at": r.closed_at.ToDatetime(tzinfo=utc).isoformat() if r.HasField("closed_at") else None,
            "overdue": r.overdue, "reason": r.reason, "purpose": r.purpose}


def access_export(account_id: str, out_file: Path, data_dir: Any = None, key_dir: Any = None,
                  law: str = "gdpr") -> dict[str, Any]:
    """Run an access request and write the export (mode 0600); returns the request and counts."""
    _, _, stub = _rights(data_dir, key_dir)
    # Open the output first: a request recorded as fulfilled must have been delivered.
    with private_output(out_file) as fh:
        resp = stub.SubmitRequest(rights_pb2.SubmitRequestRequest(
            request_id=str(uuid.uuid4()), kind=rights_pb2.REQUEST_KIND_ACCESS,
            account_id=account_id, law=law), timeout=120)
        fh.write(resp.export_json)
    export = json.loads(resp.export_json)
    return {**_request_dict(resp.request), "records": len(export["records"]),
            "interactions": len(export["interactions"]), "file": str(out_file)}


def erase_account(account_id: str, data_dir: Any = None, key_dir: Any = None,
                  law: str = "gdpr", timeout_s: float = 300) -> dict[str, Any]:
    """Run an erasure and wait until it ends (the rights service does every step of it,
    including deleting the subject's access exports under the exports folder)."""
    _, _, stub = _rights(data_dir, key_dir)
    request_id = str(uuid.uuid4())
    stub.SubmitRequest(rights_pb2.SubmitRequestRequest(
        request_id=request_id, kind=rights_pb2.REQUEST_KIND_ERASURE, account_id=account_id,
        law=law), timeout=60)
    deadline = time.monotonic() + timeout_s
    while True:
        request = stub.GetRequest(rights_pb2.GetRequestRequest(request_id=request_id), timeout=30).request
        if request.state in (rights_pb2.REQUEST_STATE_FULFILLED, rights_pb2.REQUEST_STATE_DENIED):
            break
        if time.monotonic() > deadline:
            raise deployment.DeploymentError(f"erasure {request_id} still open after {timeout_s:.0f} s")
        time.sleep(0.2)
    return {**_request_dict(request), "duplicate_of": request.duplicate_of,
            "exports_removed": request.exports_deleted}


def resolve_subject(account_id: str, data_dir: Any = None, key_dir: Any = None) -> str:
    """The account's subject_ref, derived by the rights service (the CLI never holds the pepper)."""
    _, _, stub = _rights(data_dir, key_dir)
    return stub.ResolveSubject(rights_pb2.ResolveSubjectRequest(account_id=account_id),
                               timeout=30).subject_ref


class LawChoice(str, Enum):
    """Governing law of a data-subject request."""

    gdpr = "gdpr"
    ccpa = "ccpa"


Law = Annotated[LawChoice, typer.Option(case_sensitive=False, help="gdpr or ccpa")]


@rights_app.command("access")
@handled
def rights_access(account_id: str, out_file: Annotated[Path, typer.Option("--out")],
                  law: Law = LawChoice.gdpr, data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Export everything held about the subject (GDPR Art. 15 / Art. 20) to a JSON file."""
    result = access_export(account_id, out_file, data_dir, key_dir, law.value)
    out.print(f"request {result['request_id']} {result['state']}: {result['interactions']} "
              f"interactions, {result['records']} records -> {result['file']}")


@rights_app.command("erase")
@handled
def rights_erase(account_id: str, law: Law = LawChoice.gdpr, data_dir: DataDir = None,
                 key_dir: KeyDir = None) -> None:
    """Erase the subject (GDPR Art. 17); waits until complete; prints the request ID."""
    result = erase_account(account_id, data_dir, key_dir, law.value)
    if result["state"] != "fulfilled":
        fail(f"erasure {result['request_id']} {result['state']}: {result['reason']}"
             + (f" ({result['exemption']})" if result.get("exemption") else ""))
    print(result["request_id"])


@rights_app.command("object")
@handled
def rights_object(account_id: str, purpose: Annotated[str, typer.Option("--purpose")] = "model-training",
                  law: Law = LawChoice.gdpr, data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Record the subject's objection to a purpose (GDPR Art. 21), e.g. model-training."""
    _, _, stub = _rights(data_dir, key_dir)
    resp = stub.SubmitRequest(rights_pb2.SubmitRequestRequest(
        request_id=str(uuid.uuid4()), kind=rights_pb2.REQUEST_KIND_OBJECTION,
        account_id=account_id, law=law.value, purpose=purpose), timeout=60)
    out.print(f"request {resp.request.request_id} {_request_dict(resp.request)['state']}")


@rights_app.command("list")
@handled
def rights_list(as_json: Annotated[bool, typer.Option("--json")] = False,
                include_closed: Annotated[bool, typer.Option("--all/--open")] = True,
                data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Requests with state and deadline, overdue first."""
    _, _, stub = _rights(data_dir, key_dir)
    resp = stub.ListRequests(rights_pb2.ListRequestsRequest(include_closed=include_closed), timeout=30)
    rows = [_request_dict(r) for r in resp.requests]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("request", "kind", "state", "law", "received", "due", "overdue")
    for r in rows:
        table.add_row(r["request_id"], r["kind"], r["state"], r["law"], r["received_at"][:19],
                      r["due_at"][:19], "yes" if r["overdue"] else "")
    out.print(table)


@rights_app.command("extend")
@handled
def rights_extend(request_id: str, reason: Annotated[str, typer.Option("--reason")],
                  data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Extend a request's deadline once, with reasons (notice is recorded)."""
    _, _, stub = _rights(data_dir, key_dir)
    resp = stub.ExtendRequest(rights_pb2.ExtendRequestRequest(request_id=request_id, reason=reason),
                              timeout=30)
    out.print(f"request {request_id} now due {_request_dict(resp.request)['due_at']}")


@rights_app.command("deny")
@handled
def rights_deny(request_id: str, exemption: Annotated[str, typer.Option("--exemption")],
                reason: Annotated[str, typer.Option("--reason")],
                data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Deny an open request citing an exemption of the policy (request_exemptions), with a reason."""
    _, _, stub = _rights(data_dir, key_dir)
    action = str(stable_id("deny", f"{request_id}\n{exemption}\n{reason}"))  # a rerun is a retry
    resp = stub.DenyRequest(rights_pb2.DenyRequestRequest(
        request_id=action, subject_request_id=request_id, exemption=exemption, reason=reason), timeout=30)
    out.print(f"request {request_id} denied: {resp.request.reason}")


@rights_app.command("complete")
@handled
def rights_complete(request_id: str, reason: Annotated[str, typer.Option("--reason")],
                    data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Mark an open access or objection request done (its work was done out of band), with a reason."""
    _, _, stub = _rights(data_dir, key_dir)
    action = str(stable_id("complete", f"{request_id}\n{reason}"))  # a rerun is a retry
    stub.CompleteRequest(rights_pb2.CompleteRequestRequest(
        request_id=action, subject_request_id=request_id, reason=reason), timeout=30)
    out.print(f"request {request_id} completed")


# ---------------------------------------------------------------- vault: registry, releases, keys
def _vault(data_dir: Any, key_dir: Any) -> tuple[Any, Any]:
    _, keys, peers = deployment.connect(data_dir, key_dir)
    return keys, vault_pb2_grpc.VaultServiceStub(peers.channel("vault"))


@recipients_app.command("list")
@handled
def recipients_list(as_json: Annotated[bool, typer.Option("--json")] = False,
                    data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """The registered recipients with category, region and transfer mechanism."""
    _, stub = _vault(data_dir, key_dir)
    rows = [{"recipient_id": r.recipient_id, "name": r.name, "category": r.category,
             "region": r.region, "transfer_mechanism": r.transfer_mechanism,
             "legal_reference": r.legal_reference, "valid_until": r.valid_until, "active": r.active}
            for r in stub.ListRecipients(vault_pb2.ListRecipientsRequest(), timeout=30).recipients]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("recipient", "category", "region", "mechanism", "valid until")
    for r in rows:
        table.add_row(r["recipient_id"], r["category"], r["region"], r["transfer_mechanism"],
                      r["valid_until"])
    out.print(table)


@recipients_app.command("register")
@handled
def recipients_register(recipient_id: str,
                        category: Annotated[Optional[str], typer.Option()] = None,
                        region: Annotated[Optional[str], typer.Option()] = None,
                        name: Optional[str] = None, mechanism: Optional[str] = None,
                        legal_reference: Optional[str] = None, valid_until: Optional[str] = None,
                        data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Register a recipient, or update the given fields of a registered one (recorded as an event)."""
    _, stub = _vault(data_dir, key_dir)
    known = {r.recipient_id: r for r in
             stub.ListRecipients(vault_pb2.ListRecipientsRequest(), timeout=30).recipients}
    old = known.get(recipient_id)
    if old is None and (category is None or region is None):
        usage("a new recipient needs --category and --region")

    def pick(given: Optional[str], field: str, default: str = "") -> str:
        return given if given is not None else (getattr(old, field) if old else default)

    stub.RegisterRecipient(vault_pb2.RegisterRecipientRequest(
        request_id=str(uuid.uuid4()), recipient=vault_pb2.Recipient(
            recipient_id=recipient_id, name=pick(name, "name", recipient_id),
            category=pick(category, "category"), region=pick(region, "region"),
            transfer_mechanism=pick(mechanism, "transfer_mechanism"),
            legal_reference=pick(legal_reference, "legal_reference"),
            valid_until=pick(valid_until, "valid_until"))), timeout=30)
    out.print(f"registered {recipient_id}")


def _release_result(released: bool, reason: str, detail: str) -> None:
    if not released:
        fail(f"refused ({reason}); the refusal is recorded")
    out.print(detail)


@app.command()
@handled
def disclose(recipient: Annotated[str, typer.Option()], purpose: Annotated[str, typer.Option()],
             account: Annotated[Optional[str], typer.Option(help="personal data of this account")] = None,
             out_file: Annotated[Optional[Path], typer.Option("--out")] = None,
             data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Disclose a subject's data (or, without --account, aggregates) if the registry allows it."""
    if out_file:
        check_target(out_file)  # refuse a symlink before anything is released
    _, stub = _vault(data_dir, key_dir)
    request = vault_pb2.DiscloseRequest(
        request_id=str(uuid.uuid4()), recipient_id=recipient, purpose=purpose,
        data_kind=vault_pb2.DATA_KIND_PERSONAL if account else vault_pb2.DATA_KIND_AGGREGATE,
        subject_ref=resolve_subject(account, data_dir, key_dir) if account else "")
    resp = stub.Disclose(request, timeout=60)
    if resp.released and out_file:
        with private_output(out_file) as fh:
            fh.write(json.dumps([{"record_id": r.record_id, "category": r.category, "form": r.form,
                                  "content": r.content.decode("utf-8")} for r in resp.records]).encode())
    _release_result(resp.released, resp.refusal_reason,
                    f"disclosed {len(resp.records)} records to {recipient}")


@app.command()
@handled
def transfer(recipient: Annotated[str, typer.Option()], account: Annotated[str, typer.Option()],
             purpose: str = "hosting", data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Transfer a subject's personal data to a recipient's region under a valid mechanism."""
    _, stub = _vault(data_dir, key_dir)
    resp = stub.Transfer(vault_pb2.TransferRequest(
        request_id=str(uuid.uuid4()), recipient_id=recipient, purpose=purpose,
        subject_ref=resolve_subject(account, data_dir, key_dir)), timeout=60)
    _release_result(resp.released, resp.refusal_reason, f"transferred {resp.records} records to {recipient}")


@keys_app.command("rotate")
@handled
def keys_rotate(root: Annotated[bool, typer.Option("--root", help="rotate the root KEK")] = False,
                bucket: Annotated[int, typer.Option(help="bucket number, -1 = all")] = -1,
                data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Rotate the root KEK or bucket keys; rewraps what they protect, no plaintext exposed."""
    if root and bucket != -1:
        usage("--root rotates the root KEK; --bucket selects bucket keys: give one of them")
    if bucket < -1:
        usage("--bucket must be a bucket number or -1 for all")
    _, stub = _vault(data_dir, key_dir)
    resp = stub.RotateKey(vault_pb2.RotateKeyRequest(
        request_id=str(uuid.uuid4()), bucket=bucket,
        scope=vault_pb2.KEY_SCOPE_ROOT if root else vault_pb2.KEY_SCOPE_BUCKET), timeout=300)
    out.print(f"rewrapped {resp.rewrapped} keys")


@certs_app.command("rotate")
@handled
def certs_rotate(ca: Annotated[bool, typer.Option("--ca", help="make a new CA first")] = False,
                 data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Re-issue every certificate from the CA (or a new one); restart services to use them."""
    from cli.certs import rotate
    issued = rotate(load_settings(data_dir, key_dir), new_ca=ca)
    out.print(f"re-issued {len(issued)} certificates{' from a new CA' if ca else ''}; running "
              f"services use them after a restart (`lethe down && lethe up`, or a rollout)"
              + ("; restart every service and client: the old CA is no longer trusted" if ca else ""),
              highlight=False)


@k8s_app.command("secrets")
@handled
def k8s_secrets(namespace: Annotated[str, typer.Option("--namespace", help="target namespace")],
                out_dir: Annotated[Optional[Path], typer.Option("--out", help="write one file per "
                                                                "Secret here (default: stdout)")] = None,
                data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Write the namespace's Secret manifests (one kubernetes.io/tls Secret per identity, ...)."""
    from cli.certs import secret_manifests, write_manifests
    if not namespace or not namespace.replace("-", "").isalnum() or namespace != namespace.lower():
        usage("--namespace must be a Kubernetes namespace name (lower-case letters, digits, '-')")
    docs = secret_manifests(load_settings(data_dir, key_dir), namespace)
    text = write_manifests(docs, out_dir)
    if text:
        sys.stdout.write(text)
    else:
        err.print(f"wrote {len(docs)} Secrets to {out_dir}", highlight=False)


# ---------------------------------------------------------------- retention
def _retention(data_dir: Any, key_dir: Any, identity: str = "operator") -> tuple[Any, Any]:
    _, keys, peers = deployment.connect(data_dir, key_dir, identity)
    return keys, retention_pb2_grpc.RetentionServiceStub(peers.channel("retention"))


def sweep_at(at: Optional[str], data_dir: Any = None, key_dir: Any = None) -> dict[str, int]:
    """Run one sweep as if the clock read ``at`` (ISO 8601; None = now).

    Without ``at`` the sweep runs as the ``sweeper`` identity (what the CronJob holds); with it,
    as the ``operator``, the only identity that may sweep as of a later time.
    """
    _, stub = _retention(data_dir, key_dir, "operator" if at else "sweeper")
    request = retention_pb2.SweepRequest(request_id=str(uuid.uuid4()))
    if at:
        request.at.FromDatetime(parse_timestamp(at))
    resp = stub.Sweep(request, timeout=600)
    return {"expired": resp.expired, "held": resp.held, "aggregated": resp.aggregated,
            "excluded_by_objection": resp.excluded_by_objection}


@retention_app.command("sweep")
@handled
def retention_sweep(at: Annotated[Optional[str], typer.Option("--at", help="ISO 8601 time")] = None,
                    data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Run one sweep as if the clock read that time."""
    if at:
        try:
            parse_timestamp(at)
        except ValueError:
            usage("--at must be ISO 8601 with a time zone, e.g. 2026-12-31T00:00:00Z")
    result = sweep_at(at, data_dir, key_dir)
    out.print(", ".join(f"{k} {v}" for k, v in result.items()))


@retention_app.command("resolve")
@handled
def retention_resolve(interaction_id: str, data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Mark a support ticket resolved: its contact data expires after the administrative period."""
    _, stub = _retention(data_dir, key_dir)
    resp = stub.ResolveTicket(retention_pb2.ResolveTicketRequest(interaction_id=interaction_id),
                              timeout=30)
    out.print(f"{resp.scheduled} records scheduled")


@hold_app.command("place")
@handled
def hold_place(reason: Annotated[str, typer.Option(help="security_investigation, legal_obligation or litigation")],
               account: Annotated[Optional[str], typer.Option(help="account id of the subject")] = None,
               record: Annotated[Optional[str], typer.Option(help="record id")] = None,
               category: Annotated[Optional[str], typer.Option(help="data category, e.g. system.operations")] = None,
               reference: Annotated[str, typer.Option(help="case reference (no personal data)")] = "",
               data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Place a legal hold on a subject, a record or a category; prints the hold id."""
    if sum(bool(x) for x in (account, record, category)) != 1:
        usage("give exactly one of --account, --record or --category")
    _, stub = _retention(data_dir, key_dir)
    target = retention_pb2.HoldTarget(
        subject_ref=resolve_subject(account, data_dir, key_dir) if account else "",
        record_id=record or "", category=category or "")
    resp = stub.PlaceHold(retention_pb2.PlaceHoldRequest(
        request_id=f"hold-{uuid.uuid4()}", target=target, reason=reason, reference=reference),
        timeout=30)
    print(resp.hold_id)


@hold_app.command("list")
@handled
def hold_list(as_json: Annotated[bool, typer.Option("--json")] = False,
              include_released: Annotated[bool, typer.Option("--all")] = False,
              data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Legal holds with reason and target (active ones; --all includes released)."""
    _, stub = _retention(data_dir, key_dir)
    resp = stub.ListHolds(retention_pb2.ListHoldsRequest(include_released=include_released),
                          timeout=30)
    rows = [{"hold_id": h.hold_id, "reason": h.reason, "reference": h.reference,
             "active": h.active, "placed_at": h.placed_at.ToDatetime(tzinfo=dt.timezone.utc).isoformat(),
             "subject_ref": h.target.subject_ref, "record_id": h.target.record_id,
             "category": h.target.category} for h in resp.holds]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("hold", "reason", "target", "placed", "active")
    for r in rows:
        target = r["category"] or r["record_id"] or r["subject_ref"]
        table.add_row(r["hold_id"], r["reason"], target, r["placed_at"][:19], "yes" if r["active"] else "")
    out.print(table)


@hold_app.command("release")
@handled
def hold_release(hold_id: str, data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Release a legal hold; what it kept expires at the next sweep."""
    _, stub = _retention(data_dir, key_dir)
    resp = stub.ReleaseHold(retention_pb2.ReleaseHoldRequest(hold_id=hold_id), timeout=30)
    out.print("released" if resp.released else "already released")


# ---------------------------------------------------------------- audit
@audit_app.command("replay")
@handled
def audit_replay(account: Annotated[Optional[str], typer.Option("--account")] = None,
                 as_json: Annotated[bool, typer.Option("--json")] = False,
                 data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Lifecycle timeline from all services' logs (optionally of one account)."""
    settings, keys, peers = deployment.connect(data_dir, key_dir, "auditor")  # logs and proofs only
    ref = resolve_subject(account, data_dir, key_dir) if account else None
    entries = audit_mod.timeline(audit_mod.all_logs(settings, keys, peers), ref)
    if as_json:
        print(json.dumps([e.as_dict() for e in entries], indent=1))
        return
    for e in entries:
        attrs = {k: v for k, v in e.attributes.items() if k not in ("originator_topic",)}
        brief = ", ".join(f"{k}={v}" for k, v in sorted(attrs.items())
                          if not isinstance(v, (list, dict)))[:140]
        out.print(f"{e.recorded_at.isoformat()[:23]} {e.service:13} {e.event:26} {e.originator_id[:8]} {brief}",
                  highlight=False)


@audit_app.command("verify")
@handled
def audit_verify(as_json: Annotated[bool, typer.Option("--json")] = False,
                 checkpoint: Annotated[Optional[Path], typer.Option(
                     "--checkpoint", help="Auditor's checkpoint file: read if present (verify "
                     "only what is new, consistent with it), updated when intact.")] = None,
                 full: Annotated[bool, typer.Option(
                     "--full", help="Re-verify from scratch even with a checkpoint.")] = False,
                 keys_file: Annotated[Optional[Path], typer.Option(
                     "--keys", help="JSON {service: hex public key} to trust (default: the "
                     "keys published in the key dir).")] = None,
                 data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Check every log's integrity (signed Merkle tree heads), then every named invariant.

    Exit 0 only if intact; else each problem names its service and position.
    """
    from shared.config import SERVICES
    from shared.transparency import published_keys
    settings, keys, peers = deployment.connect(data_dir, key_dir, "auditor")  # logs and proofs only
    trusted = json.loads(keys_file.read_text()) if keys_file else published_keys(keys, SERVICES)
    doc = audit_mod.verify_deployment(settings, keys, peers, trusted, checkpoint, full)
    if as_json:
        print(json.dumps(doc, indent=1))
    else:
        out.print("signed events: " + ", ".join(f"{s} {n}" for s, n in doc["events"].items()))
        for inv in doc["invariants"]:
            out.print(f"{inv['status']:7} {inv['name']} ({inv['checked_events']} events)",
                      highlight=False)
        for v in doc["violations"]:
            err.print(f"{v['kind']} {v['service']}@{v['position']}: {v['message']}", highlight=False)
        out.print("intact" if doc["ok"] else f"{len(doc['violations'])} violations")
    if not doc["ok"]:
        raise typer.Exit(1)


@audit_app.command("prove")
@handled
def audit_prove(record: Annotated[Optional[str], typer.Option("--record")] = None,
                account: Annotated[Optional[str], typer.Option("--account")] = None,
                data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Print a record's or an account's lifecycle with inclusion proofs (JSON).

    Check it offline with ``python -m shared.proofcheck FILE [--keys KEYS.json]``.
    """
    from shared.config import SERVICES
    from shared.transparency import published_keys
    if bool(record) == bool(account):
        usage("give exactly one of --record or --account")
    _, keys, peers = deployment.connect(data_dir, key_dir, "auditor")  # logs and proofs only
    ref = resolve_subject(account, data_dir, key_dir) if account else None
    try:
        doc = audit_mod.prove(peers, published_keys(keys, SERVICES), record, ref)
    except LookupError as exc:
        fail(str(exc))
    print(json.dumps(doc, indent=1))


@audit_app.command("keys")
@handled
def audit_keys(as_json: Annotated[bool, typer.Option("--json")] = False,
               data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """Print each service's public audit key (Ed25519, hex): give them to auditors."""
    from shared.config import SERVICES
    from shared.keysource import FileKeySource
    from shared.transparency import published_keys
    settings = load_settings(data_dir, key_dir)
    if not settings.key_dir.exists():
        fail(f"no key dir at {settings.key_dir}; run `lethe up` first")
    found = published_keys(FileKeySource(settings.key_dir), SERVICES)
    if not found:
        fail(f"no published audit keys in {settings.key_dir}; run `lethe up` first")
    if as_json:
        print(json.dumps(found, indent=1))
        return
    for service, key in found.items():
        out.print(f"{service:14} {key}", highlight=False)


@app.command()
@handled
def demo(input_file: Annotated[Optional[Path], typer.Option("--input")] = None,
         data_dir: Annotated[Path, typer.Option("--data-dir")] = Path("var/demo"),
         key_dir: KeyDir = None, accounts: int = 50, interactions: int = 2000) -> None:
    """The main job (``make run``): up, sample, ingest, access, erase, sweep, replay, verify, down."""
    from cli.demo import run_demo
    run_demo(data_dir, key_dir, input_file, accounts, interactions)


# ---------------------------------------------------------------- gateway
@app.command()
@handled
def gateway(upstream: Annotated[str, typer.Option("--upstream", help="The model server's base URL.")],
            listen: Annotated[str, typer.Option("--listen", help="HOST:PORT")] = "127.0.0.1:8080",
            forward: Annotated[str, typer.Option("--forward", help="original or redacted")] = "original",
            trusted_proxy: Annotated[Optional[list[str]], typer.Option("--trusted-proxy")] = None,
            default_region: Annotated[str, typer.Option("--default-region")] = "EU",
            account_header: Annotated[str, typer.Option("--account-header")] = "X-Lethe-Account",
            session_header: Annotated[str, typer.Option("--session-header")] = "X-Lethe-Session",
            pass_authorization: Annotated[bool, typer.Option("--pass-authorization")] = False,
            data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """OpenAI-compatible front door (POST /v1/chat/completions, GET /v1/models) to a model server."""
    from services.gateway.main import make_config, parse_listen, serve
    try:
        config = make_config(upstream, forward, trusted_proxy or [], default_region, account_header,
                             session_header, pass_authorization)
        host, port = parse_listen(listen)
    except ValueError as exc:
        usage(str(exc))
    serve(config, load_settings(data_dir, key_dir), host, port)



# ---------------------------------------------------------------- console
@app.command()
@handled
def console(listen: Annotated[str, typer.Option("--listen", help="HOST:PORT")] = "127.0.0.1:8470",
            data_dir: DataDir = None, key_dir: KeyDir = None) -> None:
    """The DPO console (web), for the deployment; prints a one-time login link on stderr."""
    from services.console.main import serve, split_listen
    try:
        split_listen(listen)
    except ValueError as exc:
        usage(str(exc))
    serve(str(data_dir) if data_dir else None, str(key_dir) if key_dir else None, listen, show_link=True)


if __name__ == "__main__":
    app()
