"""The stub relying services of several departments, each department's matching service and its records.

Every relying service in the federation file whose ACS lies under this app's base URL is served under its
own slug: it sends the hub a signed AuthnRequest (with its own key), checks the hub's signed Response and
shows the outcome. Each department's matching service answers the hub's queries from that department's
records only, at ``/<department>/matching-service/POST`` (``stub_service.departments``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from flask import Flask

from federation import web
from federation.config import Federation
from federation.runtime import load_runtime
from federation.settings import AppSettings
from federation.words import N_
from stub_service import department_records, matching_service, views
from stub_service.departments import STORE_PREFIX, build_departments
from stub_service.services import StubServiceServices, services
from stub_service.variants import VariantConfigError, find_variants

logger = logging.getLogger(__name__)
APP_NAME = N_("Stub relying services")


def _take_up(app: Flask, federation: Federation, base_url: str, settings: AppSettings) -> None:
    """After the federation file changed: the services and departments it now names, each department keeping
    its records and links. If the new file names a service this app cannot host, the old set stays."""
    current = services(app)
    try:
        variants = find_variants(federation.file.relying_services, base_url)
        departments = build_departments(federation.file.departments, variants, base_url, settings, current.departments)
    except VariantConfigError as exc:
        logger.error("Federation file reloaded, but its services cannot be hosted here; keeping the old ones: %s", exc)
        return
    replace(current, variants={variant.slug: variant for variant in variants}, departments=departments).init_app(app)
    logger.info("Stub service now hosts %d departments, %d services", len(departments), len(variants))


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    settings = AppSettings.build(config)
    web.configure_logging(logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO))
    runtime = load_runtime(settings, store_prefix=STORE_PREFIX)
    base_url = runtime.federation.file.urls.get("stub_service", "").rstrip("/")
    variants = find_variants(runtime.federation.file.relying_services, base_url)
    if not variants:
        raise RuntimeError(f"no relying service in {settings.federation_file} has its ACS under {base_url}")
    departments = build_departments(runtime.federation.file.departments, variants, base_url, settings)
    app = Flask(__name__)
    app.config.update(TESTING=settings.testing, SERVICE_NAME=APP_NAME)
    StubServiceServices(
        runtime=runtime,
        variants={variant.slug: variant for variant in variants},
        departments=departments,
    ).init_app(app)
    runtime.listeners.append(lambda federation: _take_up(app, federation, base_url, settings))
    # The header's name for pages not under a service's slug (those name their service: ``views``).
    app.context_processor(lambda: {"service_name": web.gettext(APP_NAME)})
    web.init_app(
        app,
        form_targets=lambda federation: [federation.hub.sso_url],
        translations=os.path.join(app.root_path, "translations"),
    )
    app.register_blueprint(views.blueprint)
    app.register_blueprint(department_records.blueprint)
    app.register_blueprint(matching_service.blueprint)
    logger.info(
        "Stub service ready at %s with %d departments: %s",
        base_url,
        len(departments),
        "; ".join(f"{d.id} ({', '.join(d.variants)})" for d in departments.values()),
    )
    return app
