"""The identity assurance hub: relying services on one side, identity providers on the other."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from federation import web
from federation.config import Federation
from federation.errors import JourneyNotFoundError
from federation.runtime import load_runtime
from federation.sealing import Sealer
from federation.settings import AppSettings
from federation.web import gettext
from federation.words import N_
from hub.audit import make_auditor
from hub.journey import JourneyRepository, JourneyStageError
from hub.matching import back_channel
from hub.pages import start_again, to_the_page_for_the_stage
from hub.services import HubServices

logger = logging.getLogger(__name__)
SERVICE_NAME = "GOV.UK Sign in"
FOOTER_LINKS = (("/cookies", N_("Cookies")), ("/privacy", N_("Privacy")))


def _form_targets(federation: Federation) -> list[str]:
    """Where the hub's pages post SAML forms: every identity provider's SSO URL and every service's ACS URLs."""
    file = federation.file
    return [idp.sso_url for idp in file.identity_providers] + [
        url for rp in file.relying_services for url in rp.assertion_consumer_urls
    ]


def _footer_links() -> dict[str, list[dict[str, str]]]:
    """The footer's links in the page's language: a context processor, since a global is fixed when the app starts."""
    return {"footer_links": [{"href": href, "text": gettext(text)} for href, text in FOOTER_LINKS]}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the hub. ``config`` overrides settings (see ``AppSettings``); tests pass theirs in here."""
    settings = AppSettings.build(config)
    web.configure_logging(logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO))
    runtime = load_runtime(settings, store_prefix="hub")
    app = Flask(__name__)
    app.config.update(TESTING=settings.testing)
    # The data keys that seal personal data in the store and the hub_service cookie (keys.pki.DataKeyError
    # names the file when they cannot be used: the hub does not start without them).
    sealer = Sealer.from_keys_dir(settings.keys_dir)
    HubServices(
        runtime=runtime,
        sealer=sealer,
        journeys=JourneyRepository(
            runtime.store, ttl_seconds=runtime.federation.hub.journey_minutes * 60, sealer=sealer
        ),
        http=back_channel(),
        audit=make_auditor(runtime, "hub"),
    ).init_app(app)
    app.jinja_env.globals.update(service_name=SERVICE_NAME)
    app.context_processor(_footer_links)
    web.init_app(app, form_targets=_form_targets, translations=os.path.join(app.root_path, "translations"))
    web.init_metrics(app, "hub")
    app.register_error_handler(JourneyNotFoundError, start_again)
    app.register_error_handler(JourneyStageError, to_the_page_for_the_stage)
    from hub import home, journey_views, saml_views

    app.register_blueprint(home.blueprint)
    app.register_blueprint(journey_views.blueprint)
    app.register_blueprint(saml_views.blueprint)
    logger.info("Hub ready at %s (session store: %s)", runtime.federation.hub.base_url, runtime.store.kind)
    logger.info("Data keys: %d held, %s seals", len(sealer.key_ids), sealer.active)
    return app
