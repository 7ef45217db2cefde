"""The stub IDPs' services as one typed object, registered the way Flask extensions are."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from federation import web
from federation.runtime import Runtime
from stub_idp.idps import StubIdp
from stub_idp.pending import PendingRequests
from stub_idp.users import UserDirectory

EXTENSION = "ida_stub_idp"


@dataclass(frozen=True)
class StubIdpServices:
    """``idps``: each company this app plays, by slug; ``users``: the test users; ``pending``: AuthnRequests
    waiting for a tester to sign in."""

    runtime: Runtime
    idps: dict[str, StubIdp]
    users: UserDirectory
    pending: PendingRequests

    def init_app(self, app: Flask) -> None:
        web.register_services(app, EXTENSION, self, self.runtime)


def services(app: Flask | None = None) -> StubIdpServices:
    """The stub IDPs' services: of ``app``, or of the app handling the current request."""
    return web.registered_services(EXTENSION, StubIdpServices, app)
