"""A relying service built on pysaml2's ``Saml2Client``, configured only by a dict (``SPConfig().load``).

``/saml/login`` sends the hub a signed AuthnRequest with either binding; ``/saml/acs`` (and a second ACS,
for requests that name it by index) hands the Response to the toolkit and reports, as JSON, what it made
of it. The toolkit's own errors are reported by class name and message, as a service would log them.
"""

from __future__ import annotations

import base64
import copy
import secrets
from typing import Any

from flask import Flask, Response, jsonify, redirect, request, session
from flask.typing import ResponseReturnValue
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.response import StatusError

from tests.interop.pages import post_form

CONFIG = "SAML_CONFIG"
ACS_PATHS = ("/saml/acs", "/saml/acs-second")


def configure(app: Flask, config: dict[str, Any]) -> None:
    """Load ``config`` into a new client (pysaml2 fetches and checks remote metadata here, once)."""
    sp_config = SPConfig()
    sp_config.load(copy.deepcopy(config))
    app.config[CONFIG] = config
    app.extensions["saml2_client"] = Saml2Client(config=sp_config)


def _client(app: Flask) -> Saml2Client:
    client: Saml2Client = app.extensions["saml2_client"]
    return client


def _sso_location(client: Saml2Client, entity_id: str, binding: str) -> str:
    """The hub's SSO URL for ``binding``, from its signed metadata (which lists both bindings)."""
    services = client.metadata.single_sign_on_service(entity_id, binding)
    if not services:
        raise LookupError("the hub's metadata lists no single sign-on service for this binding")
    return str(services[0]["location"])


def create_app(config: dict[str, Any], hub_entity_id: str) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secrets.token_hex(16), SESSION_COOKIE_NAME="pysaml2_sp")
    configure(app, config)

    @app.get("/saml/login")
    def login() -> ResponseReturnValue:
        """What ``Saml2Client.prepare_for_authenticate`` does, with the destination taken from the metadata."""
        client = _client(app)
        binding = BINDING_HTTP_POST if request.args.get("binding") == "post" else BINDING_HTTP_REDIRECT
        relay_state = request.args.get("relay_state", "/after-sign-in")
        destination = _sso_location(client, hub_entity_id, binding)
        extra: dict[str, Any] = {}
        if "acs_index" in request.args:
            extra["assertion_consumer_service_index"] = request.args["acs_index"]
        request_id, authn_request = client.create_authn_request(
            destination,
            binding=BINDING_HTTP_POST,  # the binding the Response comes back with
            sign=binding == BINDING_HTTP_POST,  # enveloped signature for POST; Redirect signs the query string
            **extra,
        )
        session["request_id"] = request_id
        info = client.apply_binding(
            binding, str(authn_request), destination, relay_state, sign=binding == BINDING_HTTP_REDIRECT
        )
        if binding == BINDING_HTTP_REDIRECT:
            return redirect(dict(info["headers"])["Location"])
        # The fields pysaml2's own ``http_form_post_message`` posts, on a page the test citizen can read.
        encoded = base64.b64encode(str(authn_request).encode("utf-8")).decode("ascii")
        return post_form(destination, {"SAMLRequest": encoded, "RelayState": relay_state})

    def assertion_consumer_service() -> Response:
        client = _client(app)
        # Kept, not popped, so that a test can post one Response twice: to a changed set-up, then as it was.
        outstanding = {session.get("request_id", ""): "/"}
        try:
            response = client.parse_authn_request_response(
                request.form.get("SAMLResponse", ""), BINDING_HTTP_POST, outstanding=outstanding
            )
        except StatusError as exc:  # a non-success status: StatusNoAuthnContext, StatusAuthnFailed, …
            return jsonify(authenticated=False, error=type(exc).__name__, message=str(exc))
        except Exception as exc:  # pysaml2 has no single error root: report whatever it raised, by name
            return jsonify(authenticated=False, error=type(exc).__name__, message=str(exc))
        if response is None:
            return jsonify(authenticated=False, error="NoResponse", message="the toolkit returned nothing")
        name_id = response.name_id
        return jsonify(
            authenticated=True,
            name_id=name_id.text,
            name_id_format=name_id.format,
            authn_contexts=[info[0] for info in response.authn_info()],
            attributes=response.get_identity(),
            issuer=response.issuer(),
            acs_path=request.path,
            relay_state=request.form.get("RelayState"),
        )

    for path in ACS_PATHS:
        app.add_url_rule(path, f"acs{path.replace('/', '_')}", assertion_consumer_service, methods=["POST"])
    return app
