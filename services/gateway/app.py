"""The gateway's HTTP app (Starlette): OpenAI ``POST /v1/chat/completions`` and ``GET /v1/models``.

A request is read at the door (:mod:`services.gateway.door`), forwarded with the session id in
``user`` and the session header (and, with ``--forward redacted``, surrogates in the messages),
and the upstream's answer goes back as it comes: server-sent events chunk by chunk, re-identified
on the way (:mod:`services.gateway.reidentify`). Only after the response is sent is the turn
written to the encrypted spool (:mod:`services.gateway.spool`) for delivery to ingestion. Errors
are OpenAI-shaped ``{"error": {"message", "type", "code"}}`` with an UPPER_SNAKE code and no
personal data; an unreachable upstream is 502.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from services.gateway.door import Door, GatewayConfig, read_door, upstream_headers
from services.gateway.messages import redact_messages, reidentify_body, turn_text
from services.gateway.reidentify import Redactor, StreamingReidentifier, Surrogates
from services.gateway.spool import SpooledInteraction
from shared.errors import InvalidArgument

Recorder = Callable[[SpooledInteraction, Surrogates, bool], None]
MAX_BODY_BYTES = 32 * 1024 * 1024  # as the services' per-message limit


def _error(status: int, code: str, message: str) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "api_error"
    return JSONResponse({"error": {"message": message, "type": kind, "code": code}}, status)


class Gateway:
    """Routes and state of one gateway: config, upstream client, redactor, recorder."""

    def __init__(self, config: GatewayConfig, record: Recorder, redactor: Redactor | None = None) -> None:
        self.config = config
        self.record = record
        self.redactor = redactor
        base = config.upstream.rstrip("/")
        self.base = base[:-3] if base.endswith("/v1") else base
        self.client: httpx.AsyncClient | None = None

    def app(self) -> Starlette:
        """The ASGI app (opens the upstream connection pool at start-up, closes it at shutdown)."""
        routes = [Route("/v1/chat/completions", self.chat, methods=["POST"]),
                  Route("/v1/models", self.models, methods=["GET"]),
                  Route("/healthz", self.health, methods=["GET"])]

        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            timeout = httpx.Timeout(self.config.upstream_timeout_s, connect=10.0)
            async with httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=200)) as c:
                self.client = c
                yield

        return Starlette(routes=routes, lifespan=lifespan)

    async def health(self, request: Request) -> Response:
        """``{"status": "ok"}`` (and the spool's state, when the recorder exposes one)."""
        state = getattr(self.record, "state", None)
        return JSONResponse({"status": "ok", **(state() if state else {})})

    async def models(self, request: Request) -> Response:
        """``GET /v1/models`` passed through (allow-listed headers only)."""
        assert self.client is not None
        headers = upstream_headers(request.headers, "", self.config)
        headers.pop(self.config.session_header, None)
        try:
            resp = await self.client.get(self.base + "/v1/models", headers=headers)
        except httpx.HTTPError:
            return _error(502, "UPSTREAM_UNAVAILABLE", "the model server could not be reached")
        return Response(resp.content, resp.status_code,
                        media_type=resp.headers.get("content-type", "application/json"))

    async def chat(self, request: Request) -> Response:
        """``POST /v1/chat/completions``, streaming (SSE) or not."""
        assert self.client is not None
        peer = request.client.host if request.client else None
        if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
            return _error(413, "BODY_TOO_LARGE", f"the request body exceeds {MAX_BODY_BYTES} bytes")
        try:
            door = read_door(peer, request.headers, self.config)
            raw = await request.body()
            if len(raw) > MAX_BODY_BYTES:
                return _error(413, "BODY_TOO_LARGE", f"the request body exceeds {MAX_BODY_BYTES} bytes")
            body = json.loads(raw)
        except InvalidArgument as exc:
            return _error(400, exc.reason, exc.message)
        except ValueError:
            return _error(400, "BODY_NOT_JSON", "the request body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "MESSAGES_MISSING", "messages must be a list")
        occurred_at = dt.datetime.now(dt.timezone.utc).isoformat()
        prompt = turn_text(body["messages"])
        surrogates = Surrogates()
        outgoing = {**body, "user": door.session_id}
        outgoing.pop("metadata", None)
        if "safety_identifier" in outgoing:
            outgoing["safety_identifier"] = door.session_id
        if self.redactor is not None:
            outgoing["messages"] = await run_in_threadpool(
                redact_messages, self.redactor, body["messages"], door.session_id, surrogates)
        headers = upstream_headers(request.headers, door.session_id, self.config)
        try:
            upstream = await self.client.send(self.client.build_request(
                "POST", self.base + "/v1/chat/completions", json=outgoing, headers=headers), stream=True)
        except httpx.HTTPError:
            return _error(502, "UPSTREAM_UNAVAILABLE", "the model server could not be reached")
        back = {self.config.session_header: door.session_id}
        streamed = upstream.headers.get("content-type", "").startswith("text/event-stream")
        if upstream.status_code != 200 or not streamed:
            return await self._whole(upstream, door, prompt, occurred_at, surrogates, back)
        texts: dict[int, list[str]] = {}
        events = self._events(upstream, surrogates, texts)
        task = BackgroundTask(self._recorded, door, prompt, occurred_at, surrogates, texts, True)
        return StreamingResponse(events, media_type="text/event-stream", headers=back, background=task)

    async def _whole(self, upstream: httpx.Response, door: Door, prompt: str, occurred_at: str,
                     surrogates: Surrogates, back: dict[str, str]) -> Response:
        try:
            raw = await upstream.aread()
        finally:
            await upstream.aclose()
        media = upstream.headers.get("content-type", "application/json")
        if upstream.status_code != 200:
            return Response(raw, upstream.status_code, media_type=media, headers=back)
        try:
            data = json.loads(raw)
        except ValueError:
            return _error(502, "UPSTREAM_NOT_JSON", "the model server answered with something else")
        texts = reidentify_body(data, surrogates)
        task = BackgroundTask(self._recorded, door, prompt, occurred_at, surrogates, texts, False)
        return JSONResponse(data, headers=back, background=task)

    async def _events(self, upstream: httpx.Response, surrogates: Surrogates,
                      texts: dict[int, list[str]]) -> AsyncIterator[bytes]:
        """The upstream's SSE events as they come, re-identified; assembles ``texts`` per choice."""
        streams: dict[int, StreamingReidentifier] = {}
        redacted = self.redactor is not None
        try:
            async for line in upstream.aiter_lines():
                if not line.startswith("data:"):
                    if line:
                        yield (line + "\n").encode("utf-8")
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    tail = {i: s.flush() for i, s in streams.items()}
                    for i, text in tail.items():
                        if text:
                            texts.setdefault(i, []).append(text)
                            chunk = {"object": "chat.completion.chunk",
                                     "choices": [{"index": i, "delta": {"content": text}}]}
                            yield f"data: {json.dumps(chunk)}\n\n".encode("utf-8")
                    yield b"data: [DONE]\n\n"
                    continue
                try:
                    chunk = json.loads(payload)
                except ValueError:
                    yield f"data: {payload}\n\n".encode("utf-8")
                    continue
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    piece = delta.get("content")
                    if not isinstance(piece, str):
                        continue
                    index = choice.get("index", 0)
                    if redacted:
                        stream = streams.setdefault(index, StreamingReidentifier(surrogates))
                        piece = stream.feed(piece)
                        if choice.get("finish_reason"):
                            piece += stream.flush()
                        delta["content"] = piece
                    texts.setdefault(index, []).append(piece)
                out = json.dumps(chunk) if redacted else payload
                yield f"data: {out}\n\n".encode("utf-8")
        finally:
            await upstream.aclose()

    def _recorded(self, door: Door, prompt: str, occurred_at: str, surrogates: Surrogates,
                  texts: dict[int, list[str]], streamed: bool) -> None:
        """Spool the turn (runs after the response was sent; Starlette's thread pool)."""
        response = "".join(texts.get(0, []))
        item = SpooledInteraction(request_id=str(uuid.uuid4()), account_id=door.account_id,
                                  session_id=door.session_id, network_prefix=door.network_prefix,
                                  user_agent=door.user_agent, region=door.region,
                                  occurred_at=occurred_at, prompt=prompt, response=response)
        self.record(item, surrogates, streamed)


def json_body(data: Any) -> bytes:
    """Compact JSON bytes (used by tests and the bench)."""
    return json.dumps(data, separators=(",", ":")).encode("utf-8")
