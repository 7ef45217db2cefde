"""The stub relying services of one department, its matching service and its records.

Every relying service in the federation file whose ACS lies under this app's base URL is served under its
own slug: it sends the hub a signed AuthnRequest, checks the hub's signed Response and shows the outcome.
The department's one matching service answers the hub's queries from the same records.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from federation import web
from federation.runtime import load_runtime
from federation.settings import AppSettings
from stub_service import department_records, matching_service, views
from stub_service.matcher import Matcher
from stub_service.records import RecordBook, load_records
from stub_service.services import StubServiceServices
from stub_service.variants import department_matching_service, find_variants

logger = logging.getLogger(__name__)
APP_NAME = "Stub relying services"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    settings = AppSettings.build(config)
    web.configure_logging(logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO))
    runtime = load_runtime(settings, store_prefix="stub-service")
    base_url = runtime.federation.file.urls.get("stub_service", "").rstrip("/")
    variants = find_variants(runtime.federation.file.relying_services, base_url)
    if not variants:
        raise RuntimeError(f"no relying service in {settings.federation_file} has its ACS under {base_url}")
    book = RecordBook(load_records(), runtime.store)
    app = Flask(__name__)
    app.config.update(TESTING=settings.testing, SERVICE_NAME=APP_NAME)
    StubServiceServices(
        runtime=runtime,
        variants={variant.slug: variant for variant in variants},
        matching_service=department_matching_service(variants, base_url),
        records=book,
        matcher=Matcher(book, runtime.store),
    ).init_app(app)
    app.jinja_env.globals["service_name"] = APP_NAME
    web.init_app(app, form_targets=[runtime.federation.hub.sso_url])
    app.register_blueprint(views.blueprint)
    app.register_blueprint(department_records.blueprint)
    app.register_blueprint(matching_service.blueprint)
    logger.info(
        "Stub service ready at %s with %d services: %s",
        base_url,
        len(variants),
        ", ".join(variant.slug for variant in variants),
    )
    return app
