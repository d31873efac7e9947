"""One turn through the gateway: relaying the upstream's stream, and when the turn is recorded.

A turn is recorded (spooled for ingestion, :mod:`services.gateway.spool`) in exactly one of
these ways:

* **answered**: the entry is durable *before* the end of the answer is sent (the last chunk and
  ``data: [DONE]``, or the whole non-streamed body), so a client that got a whole answer holds a
  turn that survives a crash of the gateway (it costs one fsync at the end of the answer, never
  the time to the first token);
* **interrupted**: the client disconnected, or the upstream failed or timed out after it began
  to answer: the prompt and the part of the response produced so far are recorded, and the cause
  (``client_disconnected``, ``upstream_failed``, ``upstream_timeout``, or
  ``response_truncated`` for an answer beyond ingestion's per-text limit) goes with the entry
  into the gateway's own log (:mod:`services.gateway.record`). Ingestion's ``Interaction`` has
  no field for it. The upstream request is closed at once, which cancels it;
* **not at all**: the upstream refused (an error status), could not be reached or timed out
  before answering. No answer exists and the client gets an error it may retry; recording the
  prompt would store it once per attempt.

Errors sent to the client are OpenAI-shaped ``{"error": {"message", "type", "code"}}`` with an
UPPER_SNAKE code; mid-stream, as a ``data:`` event (OpenAI clients raise it as an APIError). An
upstream's own error body is never passed on: it may quote the prompt.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from services.gateway.door import Door
from services.gateway.reidentify import StreamingReidentifier, Surrogates
from services.gateway.spool import SpooledInteraction
from shared.limits import MAX_TEXT_BYTES

Recorder = Callable[[SpooledInteraction, Surrogates, bool], "Future[None]"]
_UPSTREAM_STATUS = {400: (400, "UPSTREAM_REJECTED", "the model server refused the request as invalid"),
                    404: (404, "UPSTREAM_NOT_FOUND", "the model server does not know the model or path"),
                    413: (413, "UPSTREAM_TOO_LARGE", "the request is too large for the model server"),
                    422: (422, "UPSTREAM_REJECTED", "the model server refused the request as invalid"),
                    429: (429, "UPSTREAM_BUSY", "the model server is busy; retry later"),
                    401: (502, "UPSTREAM_AUTH", "the model server refused the gateway's credentials"),
                    403: (502, "UPSTREAM_AUTH", "the model server refused the gateway's credentials")}


class SpoolFailed(Exception):
    """The turn could not be made durable (the spool is not writable)."""


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    """``{"error": {...}}``; ``type`` is invalid_request_error below 500, api_error from 500."""
    kind = "invalid_request_error" if status < 500 else "api_error"
    return {"error": {"message": message, "type": kind, "code": code}}


def upstream_error(status: int) -> tuple[int, str, str]:
    """(status for the client, code, message) for an upstream's error status; 5xx and the rest
    become 502 UPSTREAM_ERROR."""
    return _UPSTREAM_STATUS.get(status, (502, "UPSTREAM_ERROR", f"the model server failed (HTTP {status})"))


@dataclass
class Turn:
    """What the gateway keeps of one turn until it is recorded (``texts``: pieces per choice)."""

    door: Door
    prompt: str
    occurred_at: str
    surrogates: Surrogates
    streamed: bool
    texts: dict[int, list[str]] = field(default_factory=dict)
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    cause: str = ""
    recorded: bool = False
    _future: Any = field(default=None, repr=False)

    def item(self) -> SpooledInteraction:
        """The spool entry: choice 0's text, cut at ingestion's per-text limit (UTF-8 safe)."""
        response = "".join(self.texts.get(0, []))
        data = response.encode("utf-8", "surrogatepass")
        if len(data) > MAX_TEXT_BYTES:
            response = data[:MAX_TEXT_BYTES].decode("utf-8", "ignore")
            self.cause = self.cause or "response_truncated"
        d = self.door
        return SpooledInteraction(request_id=self.request_id, account_id=d.account_id,
                                  session_id=d.session_id, network_prefix=d.network_prefix,
                                  user_agent=d.user_agent, region=d.region, occurred_at=self.occurred_at,
                                  prompt=self.prompt, response=response, interrupted=self.cause)

    def record(self, recorder: Recorder) -> "Future[None]":
        """Hand the turn to the recorder once (later calls return the first call's future)."""
        if not self.recorded:
            self.recorded = True
            self._future = recorder(self.item(), self.surrogates, self.streamed)
        return self._future

    async def durable(self, recorder: Recorder) -> None:
        """Record the turn and wait until it is durable; raises SpoolFailed. Cancelling the
        caller does not cancel the write."""
        try:
            await asyncio.shield(asyncio.wrap_future(self.record(recorder)))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the recorder logged it (never the content)
            raise SpoolFailed() from None


def _event(data: Any) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode("utf-8")


async def relay(upstream: httpx.Response, turn: Turn, redacted: bool, recorder: Recorder) -> AsyncIterator[bytes]:
    """The upstream's SSE events as they come (re-identified when ``redacted``); records the turn
    as described above and closes the upstream response whatever happens."""
    streams: dict[int, StreamingReidentifier] = {}
    texts = turn.texts
    try:
        async for line in upstream.aiter_lines():
            if not line.startswith("data:"):
                if line:
                    yield (line + "\n").encode("utf-8")
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                for i, s in streams.items():
                    if text := s.flush():
                        texts.setdefault(i, []).append(text)
                        yield _event({"object": "chat.completion.chunk",
                                      "choices": [{"index": i, "delta": {"content": text}}]})
                await turn.durable(recorder)
                yield b"data: [DONE]\n\n"
                continue
            try:
                chunk = json.loads(payload)
            except ValueError:
                yield f"data: {payload}\n\n".encode("utf-8")
                continue
            for choice in (chunk.get("choices") or []) if isinstance(chunk, dict) else []:
                delta = choice.get("delta") if isinstance(choice, dict) else None
                piece = delta.get("content") if isinstance(delta, dict) else None
                if not isinstance(piece, str):
                    continue
                index = choice.get("index", 0)
                if redacted:
                    stream = streams.setdefault(index, StreamingReidentifier(turn.surrogates))
                    piece = stream.feed(piece)
                    if choice.get("finish_reason"):
                        piece += stream.flush()
                    delta["content"] = piece
                texts.setdefault(index, []).append(piece)
            yield _event(chunk) if redacted else f"data: {payload}\n\n".encode("utf-8")
        await turn.durable(recorder)  # an upstream that ends without [DONE]
    except httpx.TimeoutException:
        turn.cause = "upstream_timeout"
        yield _event(error_body(504, "UPSTREAM_TIMEOUT", "the model server stopped answering in time"))
    except httpx.HTTPError:
        turn.cause = "upstream_failed"
        yield _event(error_body(502, "UPSTREAM_FAILED", "the model server failed while answering"))
    except SpoolFailed:
        yield _event(error_body(503, "SPOOL_UNAVAILABLE", "the turn could not be recorded; "
                                "the gateway refuses turns until its spool is writable"))
    finally:
        if not turn.recorded:  # interrupted: the client went away, or the upstream failed
            turn.cause = turn.cause or "client_disconnected"
            for i, s in streams.items():
                texts.setdefault(i, []).append(s.flush())
            turn.record(recorder)
        with anyio.CancelScope(shield=True):
            await upstream.aclose()


class TurnStream:
    """An ASGI response that sends ``events`` as server-sent events and stops as soon as the
    client disconnects (it listens for ``http.disconnect`` meanwhile); the events' generator is
    then closed, which records the turn as interrupted and cancels the upstream request."""

    def __init__(self, events: AsyncIterator[bytes], headers: dict[str, str]) -> None:
        self.events = events
        self.headers = [(b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-cache"),
                        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def watch(cancel: anyio.CancelScope) -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            cancel.cancel()

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(watch, group.cancel_scope)
                try:
                    await send({"type": "http.response.start", "status": 200, "headers": self.headers})
                    async for chunk in self.events:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                except OSError:
                    pass  # the client is gone (ASGI 2.4 send raises)
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.events.aclose()  # type: ignore[attr-defined]
