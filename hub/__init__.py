"""The identity assurance hub: relying services on one side, identity providers on the other."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import requests
from flask import Flask

from federation import web
from federation.runtime import load_runtime
from federation.settings import AppSettings
from hub.journeys import JourneyRepository

logger = logging.getLogger(__name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the hub. ``config`` overrides settings (see ``AppSettings``); tests pass theirs in here."""
    settings = AppSettings.build(config)
    web.configure_logging(logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO))
    runtime = load_runtime(settings, store_prefix="hub")
    app = Flask(__name__)
    app.config.update(TESTING=settings.testing, SERVICE_NAME="GOV.UK Sign in")
    app.extensions["runtime"] = runtime
    app.extensions["journeys"] = JourneyRepository(
        runtime.store, ttl_seconds=runtime.federation.hub.journey_minutes * 60
    )
    # One HTTP connection pool per process for the back channel to matching services.
    app.extensions["http"] = requests.Session()
    web.init_app(app)
    from hub import views

    app.register_blueprint(views.blueprint)
    logger.info("Hub ready at %s (session store: %s)", runtime.federation.hub.base_url, runtime.store.kind)
    return app
