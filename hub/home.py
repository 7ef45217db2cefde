"""The hub's front door, ``/``: what the hub is, where a citizen starts (at a service: a journey never starts
here), and where relying services and identity providers find the hub's metadata and status."""

from __future__ import annotations

from flask import Blueprint, render_template, url_for

from federation.web import current_language, gettext
from hub.context import runtime

blueprint = Blueprint("home", __name__)


@blueprint.get("/")
def index() -> str:
    federation = runtime().federation
    # The addresses the federation publishes (the hub's urls), not whatever Host this request came in on.
    base_url = federation.hub.base_url
    return render_template(
        "home.html",
        title=gettext("Prove your identity to use government services"),
        services=[
            service.in_language(current_language())
            for service in federation.file.relying_services
            if not service.suspended
        ],
        metadata_url=base_url + url_for("saml.metadata"),
        status_url=base_url + url_for("federation.status"),
    )
