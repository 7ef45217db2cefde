"""Each request timed for the metrics; ``/metrics`` itself is served by the operations app on an internal port."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from flask import (
    Flask,
    Response,
    g,
    request,
)
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from federation import metrics


def _start_metrics_timer() -> None:
    g.metrics_started = time.perf_counter()


def _metrics_observer(app_name: str) -> Callable[[Response], Response]:
    def observe(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
            metrics.REQUEST_SECONDS.labels(app_name, endpoint, str(response.status_code)).observe(
                time.perf_counter() - started
            )
        return response

    return observe


def metrics_exposition() -> Response:
    """Every metric in Prometheus's text format: all processes' when ``PROMETHEUS_MULTIPROC_DIR`` is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


def init_metrics(app: Flask, app_name: str) -> None:
    """Time every request. /metrics is not served here: ``hub.operations`` serves it, on an internal port."""
    app.before_request(_start_metrics_timer)
    app.after_request(_metrics_observer(app_name))
