"""This app's services as one typed object, registered the way Flask extensions are."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from federation import web
from federation.runtime import Runtime
from stub_idp.users import UserDirectory
from stub_idp_pysaml2.idp_server import IdentityProvider
from stub_idp_pysaml2.pending import PendingRequests

EXTENSION = "ida_stub_idp_pysaml2"


@dataclass(frozen=True)
class Pysaml2IdpServices:
    """``idp``: this company, and pysaml2's server for it; ``users``: the stub IDPs' test users; ``pending``:
    AuthnRequests waiting for a tester."""

    runtime: Runtime
    idp: IdentityProvider
    users: UserDirectory
    pending: PendingRequests

    def init_app(self, app: Flask) -> None:
        web.register_services(app, EXTENSION, self, self.runtime)


def services(app: Flask | None = None) -> Pysaml2IdpServices:
    """This app's services: of ``app``, or of the app handling the current request."""
    return web.registered_services(EXTENSION, Pysaml2IdpServices, app)
