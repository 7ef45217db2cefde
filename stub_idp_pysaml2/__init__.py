"""A stub identity provider on another SAML stack: a certified company whose SAML is pysaml2's, not ours.

It plays the identity provider under ``urls.stub_idp_pysaml2`` in the federation file. It reads the hub's
AuthnRequest, and answers with the Verify-profile Response the hub expects, with pysaml2's IdP
(``saml2.server.Server``); it takes the hub's keys and endpoints from the hub's signed metadata, as any company
would, and builds, signs and encrypts nothing with ``federation.saml``. Testers sign in as the stub IDPs' test
users, choose the level (or a fraud event) to return, refuse, or return a non-success outcome without signing in.

Signing and encryption run in process (python-xmlsec) unless ``CRYPTO_BACKEND=xmlsec1`` asks for pysaml2's
default, which forks the ``xmlsec1`` command for every operation (``xmlsec_backend``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from federation import web
from federation.config import Federation, FederationConfigError
from federation.runtime import load_runtime
from stub_idp.users import UserDirectory, load_users
from stub_idp_pysaml2.idp_server import IdentityProvider
from stub_idp_pysaml2.pending import PendingRequests
from stub_idp_pysaml2.services import Pysaml2IdpServices
from stub_idp_pysaml2.settings import STORE_PREFIX, Pysaml2IdpSettings, idp_setup, own_entry
from stub_idp_pysaml2.views import blueprint

logger = logging.getLogger(__name__)
STUB_IDP_TRANSLATIONS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "stub_idp", "translations")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from defaults, the environment and ``config`` (tests pass theirs in)."""
    settings = Pysaml2IdpSettings.build(config)
    web.configure_logging(logging.getLevelNamesMapping().get(settings.shared.log_level.upper(), logging.INFO))
    # pysaml2 logs whole messages, assertions and all, at DEBUG and INFO: its warnings and errors only, at any level.
    logging.getLogger("saml2").setLevel(max(logging.WARNING, logging.getLogger().level))
    runtime = load_runtime(settings.shared, store_prefix=STORE_PREFIX)
    entry = own_entry(runtime.federation)
    idp = IdentityProvider(entry, idp_setup(settings, runtime.federation, entry))

    def follow(federation: Federation) -> None:
        """A changed federation file (a new signing key first in the list, say) is taken up at the next request."""
        try:
            changed = own_entry(federation)
        except FederationConfigError as exc:
            logger.error("Federation file reloaded without this company in it; keeping the old entry: %s", exc)
            return
        idp.reconfigure(changed, idp_setup(settings, federation, changed))

    runtime.listeners.append(follow)
    app = Flask(__name__)
    app.config.update(TESTING=settings.shared.testing)
    Pysaml2IdpServices(
        runtime=runtime,
        idp=idp,
        users=UserDirectory(load_users(), runtime.store),
        pending=PendingRequests(runtime.store),
    ).init_app(app)
    # The pages post the Response to the hub: the CSP's form-action must allow the hub's origin.
    web.init_app(
        app,
        form_targets=lambda federation: [federation.hub.acs_url],
        # The details page's words come from stub_idp.presentation, and with them stub_idp's catalogue.
        translations=[os.path.join(app.root_path, "translations"), STUB_IDP_TRANSLATIONS],
    )
    app.jinja_env.globals["brand"] = "neutral"  # a certified company's site, not GOV.UK's
    app.register_blueprint(blueprint)
    logger.info("%s ready at %s (pysaml2; crypto: %s)", entry.display_name, entry.sso_url, idp.setup.crypto_backend)
    return app
