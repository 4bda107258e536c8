"""Metrics, logs and traces of a process (worker or API), set up from the settings before it connects.

Metrics: the SDK's Prometheus exporter, one endpoint per process, serving the SDK's metrics and ours
(workflows/metrics.py, and the API's request counter). Logs: one line per record, JSON when asked, with
the case id when the record has one and never anything a party wrote. Traces: the SDK's OpenTelemetry
interceptor, when an OTLP endpoint is configured and the `otel` extra is installed."""

from __future__ import annotations

import logging
import sys

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from config.settings import Settings


def install_runtime(settings: Settings, metrics_port: int) -> Runtime | None:
    """Makes the default runtime export Prometheus metrics on `metrics_host:metrics_port` (0: none).
    Must run before the process's first client connects."""
    if metrics_port == 0:
        return None
    runtime = Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=f"{settings.metrics_host}:{metrics_port}", counters_total_suffix=True),
            global_tags={"service": settings.service_name},
            attach_service_name=False,
        )
    )
    Runtime.set_default(runtime, error_if_already_set=False)
    return runtime


class _CaseContext(logging.Filter):
    """Lifts the case id out of the SDK's activity and workflow context (workflow id `case-<id>`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "case_id"):
            context = getattr(record, "temporal_activity", None) or getattr(record, "temporal_workflow", None) or {}
            workflow_id = context.get("workflow_id", "")
            if workflow_id.startswith("case-"):
                record.case_id = workflow_id.removeprefix("case-")
        return True


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        from pythonjsonlogger.core import RESERVED_ATTRS
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                reserved_attrs=[*RESERVED_ATTRS, "taskName", "temporal_activity", "temporal_workflow"],
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(_CaseContext())
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)


def tracing_interceptors(settings: Settings) -> list:
    """The SDK's tracing interceptor exporting to OTEL_EXPORTER_OTLP_ENDPOINT, or none when unset."""
    if not settings.otel_exporter_otlp_endpoint:
        return []
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError:
        raise SystemExit("OTEL_EXPORTER_OTLP_ENDPOINT is set, but tracing needs the otel extra: pip install '.[otel]'") from None
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{settings.otel_exporter_otlp_endpoint.rstrip('/')}/v1/traces")))
    trace.set_tracer_provider(provider)
    return [TracingInterceptor()]
