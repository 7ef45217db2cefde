"""Stub identity providers for testers: several certified companies from the federation file in one app.

Each IDP whose SSO URL lies under this app's base URL is served at ``/<slug>/...``. It accepts the hub's
signed AuthnRequest, signs in a seeded test user and returns a signed Response with two signed
assertions encrypted to the hub: authentication (level of assurance) and the matching dataset.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from flask import Blueprint, Flask, abort, current_app, redirect, render_template, request, url_for
from lxml import etree
from werkzeug.wrappers import Response

from federation import web
from federation.config import IdentityProviderEntry
from federation.crypto import encrypt_assertion, sign, verify
from federation.errors import ProtocolError, UnknownEntityError
from federation.mds import to_attributes
from federation.messages import Subject, assertion, check_message, response
from federation.runtime import Runtime, load_runtime
from federation.settings import AppSettings
from federation.web import encode_message, post_form, read_posted_message
from federation.xml import now
from stub_idp.users import TestUser, check_password, load_users, persistent_id

logger = logging.getLogger(__name__)
blueprint = Blueprint("stub_idp", __name__, template_folder="templates")
ASSERTION_LIFETIME = dt.timedelta(minutes=5)
PENDING_SECONDS = 60 * 60


@dataclass(frozen=True)
class StubIdp:
    slug: str
    entry: IdentityProviderEntry
    secret: bytes


def _runtime() -> Runtime:
    return cast(Runtime, current_app.extensions["runtime"])


def _idp(slug: str) -> StubIdp:
    idps = cast(dict[str, StubIdp], current_app.extensions["stub_idps"])
    if slug not in idps:
        abort(404)
    return idps[slug]


def _users() -> dict[str, TestUser]:
    return cast(dict[str, TestUser], current_app.extensions["users"])


@blueprint.get("/")
def index() -> str:
    return render_template("index.html", idps=current_app.extensions["stub_idps"].values(), users=_users().values())


@blueprint.post("/<slug>/SAML2/SSO")
def single_sign_on(slug: str) -> Response:
    """The hub's AuthnRequest: check it came from the hub, then ask the tester to sign in."""
    idp = _idp(slug)
    runtime = _runtime()
    hub = runtime.federation.hub
    element = read_posted_message("SAMLRequest")
    issuer = check_message(element, tag="AuthnRequest", destination=idp.entry.sso_url, now=now(), skew=runtime.skew)
    if issuer != hub.entity_id:
        raise UnknownEntityError("AuthnRequest not from the hub")
    verify(element, runtime.federation.certs(hub.signing_certificates))
    if element.get("AssertionConsumerServiceURL") not in (None, hub.acs_url):
        raise ProtocolError("AuthnRequest names an assertion consumer that is not the hub's")
    token = secrets.token_urlsafe(24)
    runtime.store.put(f"pending:{token}", {"slug": slug, "request_id": element.get("ID")}, PENDING_SECONDS)
    return redirect(url_for("stub_idp.login", slug=slug, request_token=token), code=303)


@blueprint.route("/<slug>/login", methods=["GET", "POST"])
def login(slug: str) -> str | tuple[str, int]:
    idp = _idp(slug)
    token = request.values.get("request_token", "")
    pending = _runtime().store.get(f"pending:{token}") if token else None
    if pending is None or pending.get("slug") != slug:
        return web.error_page(400, "You need to start again",
                              "This sign-in has no request from GOV.UK Sign in, or it has expired.")
    error = None
    if request.method == "POST":
        user = _users().get(request.form.get("username", ""))
        if user is not None and check_password(user, request.form.get("password", "")):
            _runtime().store.delete(f"pending:{token}")
            return _respond(idp, user, pending["request_id"])
        error = "Enter a correct username and password"
    page = render_template("login.html", idp=idp.entry, token=token, error=error, error_prefix=bool(error),
                           service_name=idp.entry.display_name)
    return (page, 400) if error else page


def _respond(idp: StubIdp, user: TestUser, request_id: str) -> str:
    runtime = _runtime()
    federation = runtime.federation
    hub = federation.hub
    moment = now()
    signing_key = runtime.key_pair(idp.entry.signing_certificates[0])
    hub_encryption = federation.cert(hub.encryption_certificate)
    subject = Subject(
        name_id=persistent_id(idp.secret, idp.entry.entity_id, user.username),
        in_response_to=request_id,
        recipient=hub.acs_url,
        name_qualifier=hub.entity_id,
    )
    message = response(issuer=idp.entry.entity_id, destination=hub.acs_url, in_response_to=request_id, moment=moment)
    common: dict[str, Any] = dict(
        issuer=idp.entry.entity_id, subject=subject, audience=hub.entity_id, moment=moment, lifetime=ASSERTION_LIFETIME
    )
    for statement in (assertion(level=user.level, **common), assertion(attributes=to_attributes(user.dataset), **common)):
        sign(statement, signing_key)
        message.append(encrypt_assertion(statement, hub_encryption))
    sign(message, signing_key)
    return _post_to_hub(message, idp)


def _post_to_hub(message: etree._Element, idp: StubIdp) -> str:
    return post_form(
        _runtime().federation.hub.acs_url,
        {"SAMLResponse": encode_message(message)},
        title="Returning you to GOV.UK Sign in",
        lead=f"{idp.entry.display_name} has finished.",
    )


def _stub_idps(runtime: Runtime, base_url: str) -> dict[str, StubIdp]:
    idps = {}
    for entry in runtime.federation.file.identity_providers:
        if not entry.sso_url.startswith(base_url + "/"):
            continue
        slug = entry.sso_url[len(base_url) + 1 :].split("/", 1)[0]
        key_bytes = runtime.federation.private_key_path(entry.signing_certificates[0]).read_bytes()
        idps[slug] = StubIdp(slug=slug, entry=entry, secret=hashlib.sha256(b"stub-idp-pid\n" + key_bytes).digest())
    return idps


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    settings = AppSettings.build(config)
    web.configure_logging(logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO))
    runtime = load_runtime(settings, store_prefix="stub-idp")
    base_url = runtime.federation.file.urls.get("stub_idp", "").rstrip("/")
    app = Flask(__name__)
    app.config.update(TESTING=settings.testing)
    app.extensions["runtime"] = runtime
    app.extensions["stub_idps"] = _stub_idps(runtime, base_url)
    app.extensions["users"] = load_users()
    web.init_app(app)
    app.register_blueprint(blueprint)
    logger.info("Stub IDPs ready at %s: %s", base_url, ", ".join(app.extensions["stub_idps"]))
    return app
