"""``/_status`` for load balancers (and for operators on the internal port), and GOV.UK Frontend's assets."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    send_from_directory,
)

from federation.runtime import Runtime
from federation.saml.metadata import PUBLISHED_VALIDITY
from keys.pki import days_to_expiry

logger = logging.getLogger(__name__)

# The shared templates and static files live beside the package: federation/templates, federation/static.
_HERE = Path(__file__).resolve().parent.parent
blueprint = Blueprint(
    "federation",
    __name__,
    template_folder=str(_HERE / "templates"),
    static_folder=str(_HERE / "static"),
    static_url_path="/federation-static",
)
GOVUK_ASSETS = _HERE / "static" / "govuk"
STATUS_DETAILS = "IDA_STATUS_DETAILS"


@blueprint.get("/_status")
def status() -> tuple[Response, int]:
    """Liveness for load balancers: 200 ``ok`` or 503 ``unavailable``, and nothing more on a public port.

    The details (the store's kind, the crypto backend, every certificate's days to expiry) tell an attacker
    what the hub runs and when its keys change: only an app made with ``status_details`` (the operations app,
    on its internal port) shows them.
    """
    runtime = current_app.extensions.get("runtime")
    if not isinstance(runtime, Runtime):
        return jsonify(status="starting"), 503
    healthy, details = _health(runtime)
    if not current_app.config.get(STATUS_DETAILS):
        return jsonify(status="ok" if healthy else "unavailable"), 200 if healthy else 503
    # Asked only here, not of every load balancer's probe: the deployment behind the store (for Sentinel and
    # Cluster, the master and the last fail-over this process noticed), which an operator watches in a fail-over.
    details["store_details"] = runtime.store.describe()
    return jsonify(status="ok" if healthy else "degraded", **details), 200 if healthy else 503


def _health(runtime: Runtime) -> tuple[bool, dict[str, Any]]:
    """Whether the app can serve journeys (its store answers, its certificates and metadata are in date), and
    the facts behind that, for operators."""
    store_ok = runtime.store.ping()
    moment = dt.datetime.now(dt.UTC)
    certificates = {
        name: days_to_expiry(certificate.cert, moment) for name, certificate in runtime.federation.certificates.items()
    }
    soonest = min(certificates.values()) if certificates else None
    # The hub re-signs its metadata (valid for 7 days) every hour, so it stays valid while its signing
    # certificate is; consumers refuse it once that has expired.
    metadata_name = runtime.federation.file.metadata_signing_certificate
    metadata_ok = runtime.federation.cert(metadata_name).is_current(moment)
    healthy = store_ok and soonest is not None and soonest >= 0 and metadata_ok
    return healthy, {
        "store": runtime.store.kind,
        "store_ok": store_ok,
        "crypto_backend": runtime.settings.crypto_backend,
        "certificate_days_to_expiry": certificates,
        "soonest_certificate_expiry_days": soonest,
        "metadata": {
            "valid": metadata_ok,
            "signing_certificate_days_to_expiry": certificates[metadata_name],
            "valid_for_days": PUBLISHED_VALIDITY.days,
        },
    }


@blueprint.get("/assets/<path:filename>")
def govuk_assets(filename: str) -> Response:
    """GOV.UK Frontend's compiled CSS, JS, fonts and images (copied by ``make assets``)."""
    return send_from_directory(GOVUK_ASSETS, filename, max_age=3600)
