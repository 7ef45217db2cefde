"""A relying service built on python3-saml (OneLogin's toolkit), configured only by its settings dict.

It is what a department would write: ``/saml/login`` sends the hub a signed AuthnRequest, ``/saml/acs``
hands the hub's Response to the toolkit and reports, as JSON, what the toolkit made of it. Nothing in here
knows about the hub beyond what the settings say.

python3-saml's ``login()`` speaks only the HTTP-Redirect binding (query-string signature). For HTTP-POST it
offers the parts: the toolkit's own AuthnRequest, signed enveloped by ``OneLogin_Saml2_Utils.add_sign``.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from flask import Flask, Response, jsonify, redirect, request, session
from flask.typing import ResponseReturnValue
from onelogin.saml2.auth import OneLogin_Saml2_Auth  # type: ignore[import-untyped]
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request  # type: ignore[import-untyped]
from onelogin.saml2.settings import OneLogin_Saml2_Settings  # type: ignore[import-untyped]
from onelogin.saml2.utils import OneLogin_Saml2_Utils  # type: ignore[import-untyped]

from tests.interop.pages import post_form

SETTINGS = "SAML_SETTINGS"


def _request_data() -> dict[str, Any]:
    """The request as python3-saml wants it: it checks Destination and Recipient against this URL."""
    return {
        "https": "on" if request.scheme == "https" else "off",
        "http_host": request.host,  # with the port: python3-saml deprecates a separate server_port
        "script_name": request.path,
        "get_data": request.args.copy(),
        "post_data": request.form.copy(),
    }


def _auth(app: Flask) -> OneLogin_Saml2_Auth:
    return OneLogin_Saml2_Auth(_request_data(), old_settings=app.config[SETTINGS])


def create_app(settings: dict[str, Any]) -> Flask:
    """The service provider; ``app.config["SAML_SETTINGS"]`` may be replaced between requests."""
    app = Flask(__name__)
    # Every app in the tests listens on 127.0.0.1, and cookies ignore the port: keep this one's name apart.
    app.config.update(SECRET_KEY=secrets.token_hex(16), SESSION_COOKIE_NAME="python3_saml_sp")
    app.config[SETTINGS] = settings

    @app.get("/saml/login")
    def login() -> ResponseReturnValue:
        auth = _auth(app)
        relay_state = request.args.get("relay_state", "/after-sign-in")
        if request.args.get("binding", "redirect") == "redirect":
            url = auth.login(return_to=relay_state)
            session["request_id"] = auth.get_last_request_id()
            return redirect(url)
        toolkit_settings: OneLogin_Saml2_Settings = auth.get_settings()
        security = toolkit_settings.get_security_data()
        authn_request = OneLogin_Saml2_Authn_Request(toolkit_settings)
        signed = OneLogin_Saml2_Utils.add_sign(
            authn_request.get_xml(),
            toolkit_settings.get_sp_key(),
            toolkit_settings.get_sp_cert(),
            sign_algorithm=security["signatureAlgorithm"],
            digest_algorithm=security["digestAlgorithm"],
        )
        session["request_id"] = authn_request.get_id()
        fields = {"SAMLRequest": base64.b64encode(signed).decode("ascii"), "RelayState": relay_state}
        return post_form(toolkit_settings.get_idp_sso_url(), fields)

    @app.post("/saml/acs")
    def assertion_consumer_service() -> Response:
        auth = _auth(app)
        # Kept, not popped, so that a test can post one Response twice: to a changed set-up, then as it was.
        auth.process_response(request_id=session.get("request_id"))
        return jsonify(
            authenticated=auth.is_authenticated(),
            errors=auth.get_errors(),
            error_reason=auth.get_last_error_reason(),
            name_id=auth.get_nameid(),
            name_id_format=auth.get_nameid_format(),
            authn_contexts=auth.get_last_authn_contexts(),
            attributes=auth.get_attributes(),
            relay_state=request.form.get("RelayState"),
        )

    return app
