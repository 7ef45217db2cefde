"""The operations app: the federation operators' dashboard, /metrics and /_status, on an INTERNAL port only.

It reads what every hub process writes to the shared store (``hub.stats``) and to
``PROMETHEUS_MULTIPROC_DIR``, so one operations process shows the whole federation. Never route it from the
internet: bind it to loopback or a management network (``make run`` uses 127.0.0.1:8501). Setting
``OPERATIONS_TOKEN`` also asks for that token (``hub.operations.access``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from federation import web
from federation.runtime import Runtime, load_runtime
from federation.settings import AppSettings
from hub.operations.access import require_token

logger = logging.getLogger(__name__)
SERVICE_NAME = "Hub operations"


def create_app(config: Mapping[str, Any] | None = None, *, runtime: Runtime | None = None) -> Flask:
    """Build the operations app.

    ``config`` overrides settings as for the hub (``AppSettings``), plus ``operations_token`` (else the
    ``OPERATIONS_TOKEN`` environment variable; empty means no sign-in). Pass the hub's ``runtime`` when both
    apps run in one process with the in-process store, which no other process can read.
    """
    options = dict(config or {})
    token = options.pop("operations_token", os.environ.get("OPERATIONS_TOKEN")) or None
    if runtime is None:
        settings = AppSettings.build(options)
        web.configure_logging(logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO))
        runtime = load_runtime(settings, store_prefix="hub")
    app = Flask(__name__)
    app.config.update(TESTING=runtime.settings.testing)
    app.extensions["runtime"] = runtime
    app.jinja_env.globals.update(service_name=SERVICE_NAME, service_home="/")
    web.init_app(app, status_details=True)
    web.init_metrics(app, "operations")
    if token:
        app.before_request(require_token(token))
    from hub.operations import views

    app.register_blueprint(views.blueprint)
    logger.info(
        "Operations app ready (store: %s; operator sign-in: %s)", runtime.store.kind, "token" if token else "none"
    )
    return app
