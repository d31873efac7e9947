"""The synchronous client and its batcher.

:meth:`LetheClient.ingest` sends interactions in calls of at most 1,000; each call gets one
``request_id`` (a random UUID) that stays the same across its retries, so a retry after a lost
answer is recognised by the service (AIP-155) and nothing is stored twice. UNAVAILABLE,
DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED are retried with exponential backoff (0.2 s doubling, at
most ``retries`` times); other errors raise ``grpc.RpcError``.

:class:`Batcher` collects single interactions into calls of ``batch_size`` (or what arrived within
``linger_s``); at most ``max_pending`` wait at once: ``add`` blocks beyond that (backpressure).
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import grpc

from lethe_client._gen.lethe.v1 import ingestion_pb2 as pb
from lethe_client._gen.lethe.v1 import ingestion_pb2_grpc
from lethe_client.config import ClientConfig
from lethe_client.model import MAX_BATCH, IngestResult, Interaction

RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.RESOURCE_EXHAUSTED)


def channel_args(config: ClientConfig) -> tuple[Any, list[tuple[str, Any]]]:
    """(credentials or None, options): mutual TLS pinned to the ingestion service's name."""
    options: list[tuple[str, Any]] = [("grpc.max_send_message_length", 32 * 1024 * 1024)]
    if config.insecure:
        return None, options
    creds = grpc.ssl_channel_credentials(config.ca, config.key, config.cert)
    return creds, [*options, ("grpc.ssl_target_name_override", config.server_name)]


class LetheClient:
    """Ingests through ``IngestionService/Ingest`` (use as a context manager, or ``close()``)."""

    def __init__(self, config: ClientConfig | None = None, retries: int = 6) -> None:
        self.config = config or ClientConfig.from_env()
        self.retries = retries
        creds, options = channel_args(self.config)
        self.channel = (grpc.insecure_channel(self.config.address, options) if creds is None
                        else grpc.secure_channel(self.config.address, creds, options))
        self.stub = ingestion_pb2_grpc.IngestionServiceStub(self.channel)

    def __enter__(self) -> LetheClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def ingest(self, items: Sequence[Interaction]) -> list[IngestResult]:
        """One result per interaction, in order; raises grpc.RpcError when retries run out."""
        results: list[IngestResult] = []
        for start in range(0, len(items), MAX_BATCH):
            request = pb.IngestRequest(request_id=str(uuid.uuid4()), interactions=[
                item.to_proto(n) for n, item in enumerate(items[start:start + MAX_BATCH])])
            results += [IngestResult.from_proto(r) for r in self._call(request).results]
        return results

    def _call(self, request: pb.IngestRequest) -> pb.IngestResponse:
        delay = 0.2
        for attempt in range(self.retries + 1):
            try:
                return self.stub.Ingest(request, timeout=self.config.timeout_s)
            except grpc.RpcError as exc:
                if exc.code() not in RETRYABLE or attempt == self.retries:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")


class Batcher:
    """Single interactions in, batched calls out; ``add`` returns a Future of the IngestResult."""

    def __init__(self, client: LetheClient, batch_size: int = 64, linger_s: float = 0.05,
                 max_pending: int = 1024) -> None:
        self.client = client
        self.batch_size = min(batch_size, MAX_BATCH)
        self.linger_s = linger_s
        self._queue: queue.Queue[tuple[Interaction, Future[IngestResult]] | None] = queue.Queue(max_pending)
        self._thread = threading.Thread(target=self._run, name="lethe-batcher", daemon=True)
        self._thread.start()

    def add(self, item: Interaction, timeout: float | None = None) -> Future[IngestResult]:
        """Queue one interaction; blocks while ``max_pending`` wait (raises queue.Full on timeout)."""
        future: Future[IngestResult] = Future()
        self._queue.put((item, future), timeout=timeout)
        return future

    def close(self) -> None:
        """Send what is queued, then stop."""
        self._queue.put(None)
        self._thread.join()

    def __enter__(self) -> Batcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self) -> None:
        done = False
        while not done:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.linger_s
            while len(batch) < self.batch_size:
                try:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    done = True
                    break
                batch.append(nxt)
            try:
                results = self.client.ingest([item for item, _ in batch])
                for (_, future), result in zip(batch, results, strict=True):
                    future.set_result(result)
            except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
                for _, future in batch:
                    future.set_exception(exc)
