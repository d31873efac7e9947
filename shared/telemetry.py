"""OpenTelemetry for every service: traces of every RPC (server and client), and Lethe's metrics.

Exporters are configuration, read once at start-up: OTLP over gRPC when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, a JSON-lines file per service when ``LETHE_TRACE_FILE`` is
set (``{service}`` in it is replaced; used by the canary tests), nothing otherwise. Metrics can also
be scraped: ``LETHE_METRICS_ADDRESS=host:port`` serves them in the Prometheus text format at
``http://host:port/metrics`` (OpenTelemetry's Prometheus exporter; plain HTTP on a port of its own,
since the gRPC health port cannot answer HTTP/1.1; no personal data: labels are outcomes). The maintained
gRPC instrumentation creates the spans; Lethe adds only ids and counts as attributes (prefixed
``lethe.``). No personal data goes into any span, attribute, event or status message: error
messages are written without it (see shared/errors.py), and no payload is recorded.

Metric names (units in brackets): ``lethe.ingest.interactions`` [1] by outcome,
``lethe.ingest.batch.duration`` [s], ``lethe.requests.open`` [1], ``lethe.requests.overdue`` [1].
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from shared.config import ConfigError, setting

_started = False


class JsonLinesSpanExporter(SpanExporter):
    """Writes each finished span as one JSON line to a file (for tests and local inspection)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:  # noqa: D102
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            for span in spans:
                fh.write(span.to_json(indent=None) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:  # noqa: D102
        return None


def setup_telemetry(service: str) -> None:
    """Install the tracer and meter providers and the gRPC instrumentation (once per process).

    Must run before any gRPC server or channel is created.
    """
    global _started
    if _started:
        return
    _started = True
    from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient, GrpcInstrumentorServer

    resource = Resource.create({"service.name": f"lethe-{service}", "service.namespace": "lethe"})
    tracer_provider = TracerProvider(resource=resource)
    readers = []
    if setting("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    metrics_address = setting("LETHE_METRICS_ADDRESS")
    if metrics_address:
        readers.append(prometheus_reader(metrics_address))
    trace_file = setting("LETHE_TRACE_FILE")
    if trace_file:
        tracer_provider.add_span_processor(
            SimpleSpanProcessor(JsonLinesSpanExporter(trace_file.replace("{service}", service))))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    GrpcInstrumentorServer().instrument()
    GrpcInstrumentorClient().instrument()


def prometheus_reader(address: str) -> MetricReader:
    """Serve ``GET /metrics`` (Prometheus text format) on ``host:port``; return the reader that feeds it.

    Raises ConfigError when the address is not ``host:port`` and OSError when the port cannot be bound.
    """
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import start_http_server

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError("LETHE_METRICS_ADDRESS must be host:port")
    reader = PrometheusMetricReader()
    start_http_server(int(port), addr=host.strip("[]"))
    return reader


def tracer() -> trace.Tracer:
    """Lethe's tracer."""
    return trace.get_tracer("lethe")


def meter() -> metrics.Meter:
    """Lethe's meter."""
    return metrics.get_meter("lethe")


def gauge(name: str, description: str, read: Callable[[], int]) -> None:
    """Register an observable gauge whose value ``read()`` returns at each collection."""
    def callback(_: CallbackOptions) -> list[Observation]:
        return [Observation(read())]
    meter().create_observable_gauge(name, callbacks=[callback], unit="1", description=description)
