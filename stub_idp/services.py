"""The stub IDPs' services as one typed object, registered the way Flask extensions are."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

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
        app.extensions[EXTENSION] = self
        app.extensions["runtime"] = self.runtime  # what the shared parts read (federation.web's /_status)


def services(app: Flask | None = None) -> StubIdpServices:
    """The stub IDPs' services: of ``app``, or of the app handling the current request."""
    found = (app or current_app).extensions.get(EXTENSION)
    if not isinstance(found, StubIdpServices):
        raise RuntimeError("the stub IDPs' services are not registered on this app")
    return found
