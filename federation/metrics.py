"""Prometheus metrics: journeys by outcome, IDP and service; endpoint and matching latency; crypto operations;
errors by type. Labels are entity IDs, endpoints and outcomes only: nothing personal.

The apps only count; the operations app (``hub.operations``), on an internal port, serves /metrics. Under
gunicorn with several workers, or with the operations app in a process of its own, give every process the
same empty folder in ``PROMETHEUS_MULTIPROC_DIR`` so that /metrics adds up every worker of every process
(prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

JOURNEYS = Counter("ida_journeys_total", "Journeys ended, by outcome", ["relying_service", "idp", "outcome"])
MATCHING_SECONDS = Histogram("ida_matching_seconds", "Matching service round trips", ["relying_service", "result"])
REQUEST_SECONDS = Histogram("ida_request_seconds", "Time to answer a request", ["app", "endpoint", "status"])
CRYPTO_OPERATIONS = Counter("ida_crypto_operations_total", "XML signature and encryption operations", ["operation"])
ERRORS = Counter("ida_errors_total", "Requests refused or failed, by error type", ["app", "error"])


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observer(app_name: str) -> Callable[[Response], Response]:
    def observe(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
            REQUEST_SECONDS.labels(app_name, endpoint, str(response.status_code)).observe(time.perf_counter() - started)
        return response

    return observe


def exposition() -> Response:
    """Every metric in Prometheus's text format: all processes' when ``PROMETHEUS_MULTIPROC_DIR`` is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask, app_name: str) -> None:
    """Time every request. /metrics is not served here: ``hub.operations`` serves it, on an internal port."""
    app.before_request(_start_timer)
    app.after_request(_observer(app_name))
