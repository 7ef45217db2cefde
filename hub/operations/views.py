"""The operations app's pages: the dashboard and Prometheus's /metrics."""

from __future__ import annotations

from flask import Blueprint, Response, g, render_template, request

from federation import web
from hub.operations import dashboard as dashboards

blueprint = Blueprint("operations", __name__)


@blueprint.get("/")
def dashboard() -> str:
    """The dashboard for the period chosen with ``?period=`` (hour, day, week or month)."""
    runtime = web.app_runtime()
    period = dashboards.PERIODS.get(request.args.get("period", ""), dashboards.PERIODS[dashboards.DEFAULT_PERIOD])
    g.no_store = True
    return render_template(
        "operations/dashboard.html",
        title="Hub performance",
        dashboard=dashboards.build(runtime.store, runtime.federation, period),
        periods=dashboards.PERIODS.values(),
        store_kind=runtime.store.kind,
    )


@blueprint.get("/metrics")
def prometheus_metrics() -> Response:
    """Prometheus's scrape target: every hub worker's metrics when they share ``PROMETHEUS_MULTIPROC_DIR``."""
    return web.metrics_exposition()
