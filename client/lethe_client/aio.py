"""The asyncio client (``grpc.aio``) and its batcher; same rules as :mod:`lethe_client.sync`.

Use one event loop per client (gRPC's aio channels belong to the loop that made them).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import grpc

from lethe_client._gen.lethe.v1 import ingestion_pb2 as pb
from lethe_client._gen.lethe.v1 import ingestion_pb2_grpc
from lethe_client.config import ClientConfig
from lethe_client.model import MAX_BATCH, IngestResult, Interaction
from lethe_client.sync import RETRYABLE, channel_args


class AsyncLetheClient:
    """``await client.ingest(items)``; ``async with AsyncLetheClient() as client``."""

    def __init__(self, config: ClientConfig | None = None, retries: int = 6) -> None:
        self.config = config or ClientConfig.from_env()
        self.retries = retries
        creds, options = channel_args(self.config)
        self.channel = (grpc.aio.insecure_channel(self.config.address, options) if creds is None
                        else grpc.aio.secure_channel(self.config.address, creds, options))
        self.stub = ingestion_pb2_grpc.IngestionServiceStub(self.channel)

    async def __aenter__(self) -> AsyncLetheClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel."""
        await self.channel.close()

    async def ingest(self, items: Sequence[Interaction]) -> list[IngestResult]:
        """One result per interaction, in order; one request id per call, kept across retries."""
        results: list[IngestResult] = []
        for start in range(0, len(items), MAX_BATCH):
            request = pb.IngestRequest(request_id=str(uuid.uuid4()), interactions=[
                item.to_proto(n) for n, item in enumerate(items[start:start + MAX_BATCH])])
            delay = 0.2
            for attempt in range(self.retries + 1):
                try:
                    response = await self.stub.Ingest(request, timeout=self.config.timeout_s)
                    break
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in RETRYABLE or attempt == self.retries:
                        raise
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            results += [IngestResult.from_proto(r) for r in response.results]
        return results


class AsyncBatcher:
    """``await batcher.add(item)`` returns a Future; it waits while ``max_pending`` are queued."""

    def __init__(self, client: AsyncLetheClient, batch_size: int = 64, linger_s: float = 0.05,
                 max_pending: int = 1024) -> None:
        self.client = client
        self.batch_size = min(batch_size, MAX_BATCH)
        self.linger_s = linger_s
        self._queue: asyncio.Queue[tuple[Interaction, asyncio.Future[IngestResult]] | None] = \
            asyncio.Queue(max_pending)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def add(self, item: Interaction) -> asyncio.Future[IngestResult]:
        """Queue one interaction (waits while the queue is full: backpressure)."""
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return future

    async def close(self) -> None:
        """Send what is queued, then stop."""
        await self._queue.put(None)
        await self._task

    async def _run(self) -> None:
        done = False
        while not done:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.linger_s
            while len(batch) < self.batch_size:
                try:
                    nxt = await asyncio.wait_for(self._queue.get(), max(0.0, deadline - loop.time()))
                except asyncio.TimeoutError:
                    break
                if nxt is None:
                    done = True
                    break
                batch.append(nxt)
            try:
                results = await self.client.ingest([item for item, _ in batch])
                for (_, future), result in zip(batch, results, strict=True):
                    future.set_result(result)
            except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
                for _, future in batch:
                    future.set_exception(exc)
