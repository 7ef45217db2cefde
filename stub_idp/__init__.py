"""Stub identity providers for testers: several certified companies from the federation file in one app.

Each IDP whose SSO URL lies under this app's base URL is served at ``/<slug>/...``. It accepts the hub's
signed AuthnRequest and lets a tester sign in as a seeded or registered test user, choose what level (or a
fraud event) to return, refuse, or return any non-success outcome without signing in. Every answer is a
Response signed by the IDP; a success carries two signed assertions encrypted to the hub.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from federation import web
from federation.runtime import load_runtime
from federation.settings import AppSettings
from stub_idp.idps import stub_idps
from stub_idp.pending import PendingRequests
from stub_idp.services import StubIdpServices
from stub_idp.users import UserDirectory, load_users
from stub_idp.views import blueprint

logger = logging.getLogger(__name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the stub IDPs' app from defaults, the environment and ``config`` (tests pass theirs in)."""
    settings = AppSettings.build(config)
    web.configure_logging(logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO))
    runtime = load_runtime(settings, store_prefix="stub-idp")
    base_url = runtime.federation.file.urls.get("stub_idp", "").rstrip("/")
    app = Flask(__name__)
    app.config.update(TESTING=settings.testing)
    idps = stub_idps(runtime, base_url)
    StubIdpServices(
        runtime=runtime,
        idps=idps,
        users=UserDirectory(load_users(), runtime.store),
        pending=PendingRequests(runtime.store),
    ).init_app(app)
    # The pages post the IDP's Response to the hub: the CSP's form-action must allow the hub's origin.
    web.init_app(
        app,
        form_targets=lambda federation: [federation.hub.acs_url],
        translations=os.path.join(app.root_path, "translations"),
    )
    # A certified company is not GOV.UK: every page of the stub IDPs, error pages too, wears a neutral brand.
    app.jinja_env.globals["brand"] = "neutral"
    app.register_blueprint(blueprint)
    logger.info("Stub IDPs ready at %s: %s", base_url, ", ".join(idps))
    return app
