"""The gRPC server every Lethe service runs: mTLS, health, reflection, ReadEvents, errors, SIGTERM.

``create_server`` builds and starts a server (tests bind port 0); ``run_service`` is each service's
``main``: it reads configuration once, starts the server, and on SIGTERM flips health to NOT_SERVING,
lets in-flight calls finish (grace period), then closes the event store.
"""

from __future__ import annotations

import argparse
import base64
import re
import logging
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from shared.app import LetheApplication
from shared.authz import Authorizer, RefusalLog
from shared.concurrency import MAX_PENDING_CALLS, MAX_WORKERS, CallLimits, TooManyCalls
from shared.config import ConfigError, Settings, exit_on_config_error, load_settings, setting
from shared.errors import FailedPrecondition, InvalidArgument, LetheError, NotFound
from shared.gen.lethe.v1 import common_pb2, events_pb2, events_pb2_grpc
from shared.idempotency import IdempotencyStore, RequestIdReused, request_digest
from shared.keysource import FileKeySource
from shared.logs import configure_logging
from shared.store import open_store
from shared.telemetry import setup_telemetry
from shared.tls import peer_identity, server_credentials
from shared.transparency import TransparencyLog

log = logging.getLogger("lethe")

GRACE_S = 10.0
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
OPTIONS = [("grpc.so_reuseport", 0),
           ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
           ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str, reason: str) -> None:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="lethe.v1"))
    status = status_pb2.Status(code=code.value[0], message=message, details=[info])
    context.abort_with_status(rpc_status.to_status(status))


REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def check_request_id(value: str) -> None:
    """Request ids end up in events and logs: ids only (letters, digits, ``._:-``, <= 128).

    Raises InvalidArgument (REQUEST_ID_INVALID) otherwise, e.g. for an e-mail used as an id.
    """
    if value and not REQUEST_ID.match(value):
        raise InvalidArgument("request_id must be 1-128 letters, digits or ._:-",
                              "REQUEST_ID_INVALID")


@dataclass(frozen=True)
class Guards:
    """The checks every call passes before its servicer runs (None: that check is off).

    ``refused(caller, method, reason)`` records a refusal (aggregated, :class:`RefusalLog`).
    """

    authorizer: Authorizer | None = None
    idempotency: IdempotencyStore | None = None
    limits: CallLimits | None = None
    refused: Callable[[str, str, str], None] | None = None


def _guard(method: str, fn: Callable[..., Any], streaming_response: bool, guards: Guards,
           serialize: Callable[[Any], bytes] | None = None) -> Callable[..., Any]:
    """Wrap a handler: rate limit and authorize, take a concurrency slot, bind the request id
    to the request and answer retries, then LetheError -> its status; anything else -> INTERNAL."""
    name = method.lstrip("/")
    store = guards.idempotency
    bound = store is not None and name in store.bound
    replayable = bound and serialize is not None and name in store.methods  # type: ignore[union-attr]

    def refuse(context: grpc.ServicerContext, exc: LetheError) -> LetheError:
        caller = peer_identity(context)
        if guards.refused is not None and caller is not None:
            guards.refused(caller, name, exc.reason)
        return exc

    deferred = replayable and name in store.deferred  # type: ignore[union-attr]

    def call_deferred(request: Any, context: grpc.ServicerContext, caller: str,
                      request_id: str) -> Any:
        """Claim the id, answer a retry from the store, else run and bind with the first answer
        in one commit (the binding is written on an error too)."""
        digest = request_digest(request)
        try:
            with store.claim(caller, name, request_id):  # type: ignore[union-attr]
                bound_to, first = store.lookup(caller, name, request_id)  # type: ignore[union-attr]
                if bound_to not in (None, digest):
                    raise RequestIdReused()
                if first is None:
                    try:
                        response = fn(request, context)
                    except Exception:
                        try:
                            store.record(caller, name, request_id, digest, None)  # type: ignore[union-attr]
                        except Exception as unbound:  # noqa: BLE001 - the call's own error matters
                            log.warning("request id not bound after a failed call: %s",
                                        type(unbound).__name__)
                        raise
                    bound_to, first = store.record(  # type: ignore[union-attr]
                        caller, name, request_id, digest, serialize(response))  # type: ignore[misc]
                elif bound_to is None:  # a first answer stored before digests existed
                    bound_to, first = store.record(caller, name, request_id, digest, None)  # type: ignore[union-attr]
                if bound_to != digest:  # another replica bound it meanwhile
                    raise RequestIdReused()
                return first
        except RequestIdReused as exc:
            raise refuse(context, exc) from None

    def call_once(request: Any, context: grpc.ServicerContext) -> Any:
        request_id = getattr(request, "request_id", "") if bound else ""
        if not request_id:
            return fn(request, context)
        caller = peer_identity(context) or "-"
        if deferred:
            return call_deferred(request, context, caller, request_id)
        try:
            store.bind(caller, name, request_id, request_digest(request))  # type: ignore[union-attr]
        except RequestIdReused as exc:
            raise refuse(context, exc) from None
        if not replayable:
            return fn(request, context)
        first = store.get(caller, name, request_id)  # type: ignore[union-attr]
        if first is not None:
            return first  # already serialized: the first answer
        response = fn(request, context)
        store.put(caller, name, request_id, serialize(response))  # type: ignore[union-attr,misc]
        return response

    def enter(context: grpc.ServicerContext, streaming: bool) -> Callable[[], None]:
        """Rate limit and authorize, then take a slot (released by the caller)."""
        if guards.authorizer is not None:
            guards.authorizer.check(method, peer_identity(context))
        if guards.limits is None:
            return lambda: None
        try:
            return guards.limits.enter(peer_identity(context) or context.peer(), streaming)
        except TooManyCalls as exc:
            raise refuse(context, exc) from None

    def translate(exc: Exception, context: grpc.ServicerContext) -> None:
        if isinstance(exc, LetheError):
            _abort(context, exc.code, exc.message, exc.reason)
        log.error("unexpected %s in %s", type(exc).__name__, method)
        _abort(context, grpc.StatusCode.INTERNAL, "internal error", "INTERNAL")

    if streaming_response:
        def stream(request: Any, context: grpc.ServicerContext) -> Any:
            release = lambda: None  # noqa: E731
            try:
                release = enter(context, True)
                context.add_callback(release)  # a cancelled stream frees its slot at once
                yield from fn(request, context)
            except Exception as exc:  # noqa: BLE001 - translated into a status, never leaked
                translate(exc, context)
            finally:
                release()
        return stream

    def unary(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            release = enter(context, False)
            try:
                check_request_id(getattr(request, "request_id", ""))
                return call_once(request, context)
            finally:
                release()
        except Exception as exc:  # noqa: BLE001
            translate(exc, context)
    return unary


class ErrorInterceptor(grpc.ServerInterceptor):
    """Applies the :class:`Guards` to each call and maps errors to gRPC status codes, so
    servicers never see either."""

    def __init__(self, guards: Guards | None = None) -> None:
        self.guards = guards or Guards()

    def intercept_service(self, continuation: Any, details: Any) -> Any:  # noqa: D102
        handler = continuation(details)
        if handler is None:
            return None
        m, g = details.method, self.guards
        if handler.unary_unary:
            serialize = handler.response_serializer

            def serializer(response: Any) -> bytes:  # stored first answers are already bytes
                return response if isinstance(response, bytes) else serialize(response)
            return grpc.unary_unary_rpc_method_handler(
                _guard(m, handler.unary_unary, False, g, serialize),
                handler.request_deserializer, serializer)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _guard(m, handler.unary_stream, True, g), handler.request_deserializer,
                handler.response_serializer)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _guard(m, handler.stream_unary, False, g), handler.request_deserializer,
                handler.response_serializer)
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                _guard(m, handler.stream_stream, True, g), handler.request_deserializer,
                handler.response_serializer)
        return handler


class ProbeHealthServicer(health_pb2_grpc.HealthServicer):
    """The plaintext probe port's health service: ``Check`` only (what Kubernetes' gRPC probes
    call); ``Watch`` would hold a worker thread per stream, so it is UNIMPLEMENTED here."""

    def __init__(self, health_servicer: health.HealthServicer) -> None:
        self.health = health_servicer

    def Check(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        return self.health.Check(request, context)

    def Watch(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Watch is not served on the probe port")


def to_timestamp(value: Any) -> timestamp_pb2.Timestamp:
    """A timezone-aware datetime as a protobuf Timestamp."""
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


class EventLogServicer(events_pb2_grpc.EventLogServiceServicer):
    """Streams the service's own event log and proves it (audit replay, verify and followers).

    The proofs come from the service's :class:`~shared.transparency.TransparencyLog`: signed
    tree heads, RFC 9162 inclusion and consistency proofs, and the signed leaf hashes.
    """

    def __init__(self, app: LetheApplication, transparency: TransparencyLog | None = None) -> None:
        self.app = app
        self.transparency = transparency

    def _log(self) -> TransparencyLog:
        if self.transparency is None:
            raise FailedPrecondition("this server does not sign its log", "AUDIT_DISABLED")
        return self.transparency

    def GetLogInfo(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        return events_pb2.GetLogInfoResponse(service=self.app.service, size=self.app.max_position())

    def ReadEvents(self, request: events_pb2.ReadEventsRequest, context: Any) -> Any:  # noqa: N802, D102
        for e in self.app.read_events(after=max(0, request.after_position),
                                      limit=max(0, request.limit)):
            yield events_pb2.ReadEventsResponse(event=common_pb2.LogEvent(
                position=e.position, originator_id=e.originator_id,
                originator_version=e.originator_version, event_type=e.event_type,
                recorded_at=to_timestamp(e.recorded_at), attributes_json=e.attributes_json(),
                stored_state=e.stored_state, topic=e.topic))

    def GetSignedTreeHead(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        t = self._log()
        head = t.extend() if request.tree_size <= 0 else t.kept_head(request.tree_size)
        if head is None:
            raise NotFound(f"no kept tree head of size {request.tree_size}", "HEAD_NOT_FOUND")
        return events_pb2.GetSignedTreeHeadResponse(head=events_pb2.SignedTreeHead(
            log_id=head["log_id"], tree_size=head["tree_size"], timestamp_ms=head["timestamp_ms"],
            root_hash=bytes.fromhex(head["root_hash"]),
            signature=base64.b64decode(head["signature"])))

    def GetInclusionProof(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        try:
            size, leaf, path = self._log().inclusion(request.position, max(0, request.tree_size))
        except ValueError as exc:
            raise InvalidArgument(str(exc), "PROOF_OUT_OF_RANGE") from None
        return events_pb2.GetInclusionProofResponse(position=request.position, tree_size=size,
                                                    leaf_hash=leaf, audit_path=path)

    def GetConsistencyProof(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        try:
            size, proof = self._log().consistency(request.first_size, max(0, request.second_size))
        except ValueError as exc:
            raise InvalidArgument(str(exc), "PROOF_OUT_OF_RANGE") from None
        return events_pb2.GetConsistencyProofResponse(first_size=request.first_size,
                                                      second_size=size, proof=proof)

    def ReadLeafHashes(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        for first, hashes in self._log().leaf_hashes(max(0, request.after_position),
                                                     max(0, request.limit)):
            yield events_pb2.ReadLeafHashesResponse(first_position=first, hashes=hashes)

    def GetCheckpoint(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        t = self._log()
        return events_pb2.GetCheckpointResponse(note=t.checkpoint(), origin=t.origin)


def create_server(service: str, settings: Settings, keys: FileKeySource, app: LetheApplication,
                  register: Callable[[grpc.Server], list[str]],
                  address: str = "127.0.0.1:0") -> tuple[grpc.Server, int, health.HealthServicer]:
    """Build and start a service's server.

    Args:
        register: adds the service's servicers to the server; returns their full service names.
        address: ``host:port`` to bind; port 0 picks a free port.
    Returns:
        ``(server, bound_port, health_servicer)``.
    Raises:
        RuntimeError: when the port cannot be bound (gRPC returns 0 rather than raising).
    """
    refusals = RefusalLog(app.save, settings.refusal_window_s)
    authorizer = Authorizer(refusals.refused, service=service) if settings.tls else None
    guards = Guards(authorizer, IdempotencyStore(open_store(settings, service, "idempotency")),
                    CallLimits(), refusals.refused)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=MAX_WORKERS),
                         interceptors=[ErrorInterceptor(guards)], options=OPTIONS,
                         maximum_concurrent_rpcs=MAX_PENDING_CALLS)
    names = register(server)
    events_pb2_grpc.add_EventLogServiceServicer_to_server(
        EventLogServicer(app, TransparencyLog(app, keys).start()), server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [*names, events_pb2.DESCRIPTOR.services_by_name["EventLogService"].full_name]
    if setting("LETHE_PROFILE") != "production":
        reflection.enable_server_reflection([*names, health.SERVICE_NAME,
                                             reflection.SERVICE_NAME], server)
    if settings.tls:
        port = server.add_secure_port(address, server_credentials(keys, service))
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"{service}: cannot bind {address}")
    health_address = setting("LETHE_HEALTH_ADDRESS")
    if health_address:
        # Kubernetes' gRPC probes speak plaintext: serve only health Check there.
        probe = grpc.server(futures.ThreadPoolExecutor(max_workers=2), options=OPTIONS,
                            maximum_concurrent_rpcs=16)
        health_pb2_grpc.add_HealthServicer_to_server(ProbeHealthServicer(health_servicer), probe)
        if probe.add_insecure_port(health_address) == 0:
            raise RuntimeError(f"{service}: cannot bind health port {health_address}")
        probe.start()
        server.probe = probe  # type: ignore[attr-defined] - stopped with the main server
    server.start()
    stop_refusals = threading.Event()
    threading.Thread(target=refusals.run, args=(stop_refusals,), daemon=True,
                     name=f"refusals-{service}").start()
    server.refusals = (refusals, stop_refusals)  # type: ignore[attr-defined] - run_service flushes
    for name in ["", *names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port, health_servicer


def run_service(service: str, build: Callable[[Settings, FileKeySource], tuple[LetheApplication, Callable[[grpc.Server], list[str]], Callable[[], None]]]) -> None:
    """Entry point of a service process: ``python -m services.<service>.main``.

    ``build(settings, keys)`` returns ``(app, register, stop_workers)``.
    """
    parser = argparse.ArgumentParser(prog=f"lethe-{service}")
    parser.add_argument("--data-dir")
    parser.add_argument("--key-dir")
    parser.add_argument("--address")
    args = parser.parse_args()
    try:
        configure_logging(service, setting("LETHE_LOG_FORMAT"))
        settings = load_settings(args.data_dir, args.key_dir)
        address = args.address or setting("LETHE_LISTEN") or "127.0.0.1:0"
        setup_telemetry(service)
    except ConfigError as exc:
        exit_on_config_error(f"lethe-{service}", exc)
    keys = FileKeySource(settings.key_dir)
    app, register, stop_workers = build(settings, keys)
    server, port, health_servicer = create_server(service, settings, keys, app, register,
                                                  address)
    log.info("serving on port %d", port)
    done = threading.Event()

    def on_term(*_: Any) -> None:
        health_servicer.enter_graceful_shutdown()
        done.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    done.wait()
    stop_workers()
    server.stop(GRACE_S).wait()
    refusals, stop_refusals = server.refusals  # type: ignore[attr-defined]
    stop_refusals.set()
    refusals.flush(everything=True)
    if getattr(server, "probe", None):
        server.probe.stop(0)
    app.close()
    log.info("stopped")
