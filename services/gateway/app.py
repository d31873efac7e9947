"""The gateway's HTTP app (Starlette): OpenAI ``POST /v1/chat/completions`` and ``GET /v1/models``.

A request is read at the door (:mod:`services.gateway.door`), forwarded with the session id in
``user`` and the session header (and, with ``--forward redacted``, surrogates in the messages),
and the upstream's answer goes back as it comes: server-sent events chunk by chunk, re-identified
on the way (:mod:`services.gateway.reidentify`). The turn is written to the encrypted spool
(:mod:`services.gateway.spool`) for delivery to ingestion before the end of the answer goes out
(:mod:`services.gateway.turn`). Errors are OpenAI-shaped ``{"error": {"message", "type",
"code"}}`` with an UPPER_SNAKE code and no personal data: 4xx for a request refused at the door
(:mod:`services.gateway.door`, :mod:`services.gateway.body`; never forwarded nor recorded), 422
DETECTION_BUDGET_EXCEEDED when redaction ran over its budget, 502 for an unreachable or failing
upstream, 504 when it timed out, 503 SPOOL_UNAVAILABLE while the spool is not writable (turns are
refused rather than answered and lost).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.anonymization.guard import DetectionBudgetExceeded
from services.gateway.body import MAX_BODY_BYTES, Refused, parse_chat, read_capped
from services.gateway.door import GatewayConfig, read_door, upstream_headers
from services.gateway.messages import redact_messages, reidentify_body
from services.gateway.reidentify import Redactor, Surrogates
from services.gateway.turn import (Recorder, SpoolFailed, Turn, TurnStream, error_body, relay,
                                   upstream_error)
from shared.errors import InvalidArgument

__all__ = ["Gateway", "MAX_BODY_BYTES", "json_body"]


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, code, message), status, headers=headers)


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

        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            timeout = httpx.Timeout(self.config.upstream_timeout_s, connect=10.0)
            async with httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=200)) as c:
                self.client = c
                yield

        return Starlette(routes=routes, lifespan=lifespan)

    async def health(self, request: Request) -> Response:
        """``{"status": "ok"}`` and the spool's state when the recorder exposes one; 503 with
        ``{"status": "spool_unwritable"}`` while turns are refused for want of a spool."""
        refusing = getattr(self.record, "refusing", None)
        state = getattr(self.record, "state", None)
        if refusing is not None and refusing():
            return JSONResponse({"status": "spool_unwritable", **(state() if state else {})}, 503)
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
        """``POST /v1/chat/completions``, streaming (SSE) or not; see :mod:`services.gateway.turn`
        for when the turn is recorded."""
        assert self.client is not None
        peer = request.client.host if request.client else None
        try:
            door = read_door(peer, request.headers, self.config)
            body, prompt = parse_chat(await read_capped(request.headers.get("content-length"),
                                                        request.stream()))
        except InvalidArgument as exc:
            return _error(400, exc.reason, exc.message)
        except Refused as exc:
            return _error(exc.status, exc.code, exc.message)
        refusing = getattr(self.record, "refusing", None)
        if refusing is not None and refusing():
            return _error(503, "SPOOL_UNAVAILABLE", "the gateway cannot record turns now "
                          "(its spool is not writable); retry later")
        turn = Turn(door, prompt, dt.datetime.now(dt.timezone.utc).isoformat(), Surrogates(),
                    streamed=False)
        outgoing = {**body, "user": door.session_id}
        outgoing.pop("metadata", None)
        if "safety_identifier" in outgoing:
            outgoing["safety_identifier"] = door.session_id
        if self.redactor is not None:
            try:
                outgoing["messages"] = await run_in_threadpool(
                    redact_messages, self.redactor, body["messages"], door.session_id, turn.surrogates)
            except DetectionBudgetExceeded:
                return _error(422, "DETECTION_BUDGET_EXCEEDED", "finding personal data in the "
                              "messages took longer than allowed; the request was not forwarded")
        headers = upstream_headers(request.headers, door.session_id, self.config)
        try:
            upstream = await self.client.send(self.client.build_request(
                "POST", self.base + "/v1/chat/completions", json=outgoing, headers=headers), stream=True)
        except httpx.TimeoutException:
            return _error(504, "UPSTREAM_TIMEOUT", "the model server did not answer in time")
        except httpx.HTTPError:
            return _error(502, "UPSTREAM_UNAVAILABLE", "the model server could not be reached")
        back = {self.config.session_header: door.session_id}
        if upstream.status_code != 200:
            await upstream.aclose()
            status, code, message = upstream_error(upstream.status_code)
            return _error(status, code, message, back)
        if upstream.headers.get("content-type", "").startswith("text/event-stream"):
            turn.streamed = True
            return TurnStream(relay(upstream, turn, self.redactor is not None, self.record), back)
        return await self._whole(upstream, turn, back)

    async def _whole(self, upstream: httpx.Response, turn: Turn, back: dict[str, str]) -> Response:
        """A non-streamed answer: read, re-identified, made durable, then sent (as received
        when not redacted: no re-encoding)."""
        try:
            raw = await upstream.aread()
        except httpx.TimeoutException:
            return _error(504, "UPSTREAM_TIMEOUT", "the model server did not answer in time", back)
        except httpx.HTTPError:
            return _error(502, "UPSTREAM_FAILED", "the model server failed while answering", back)
        finally:
            await upstream.aclose()
        try:
            data = json.loads(raw)
        except ValueError:
            return _error(502, "UPSTREAM_NOT_JSON", "the model server answered with something else", back)
        turn.texts.update(reidentify_body(data, turn.surrogates))
        try:
            await turn.durable(self.record)
        except SpoolFailed:
            return _error(503, "SPOOL_UNAVAILABLE", "the turn could not be recorded; the gateway "
                          "refuses turns until its spool is writable", back)
        if self.redactor is None:  # nothing was put back: the upstream's bytes as they came
            return Response(raw, headers=back, media_type="application/json")
        return JSONResponse(data, headers=back)


def json_body(data: Any) -> bytes:
    """Compact JSON bytes (used by tests and the bench)."""
    return json.dumps(data, separators=(",", ":")).encode("utf-8")
