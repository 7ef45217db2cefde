"""The hub's services as one typed object, registered the way Flask extensions are.

Views read them through ``services()``; code that runs outside a request (the matching thread) is handed the
object itself, never the Flask app.
"""

from __future__ import annotations

from dataclasses import dataclass

import urllib3
from flask import Flask

from federation import web
from federation.runtime import Runtime
from federation.sealing import Sealer
from hub.audit import Auditor
from hub.journey import JourneyRepository

EXTENSION = "ida_hub"


@dataclass(frozen=True)
class HubServices:
    """Everything a hub request needs beyond the request itself.

    ``runtime``: settings, the federation and the store; ``sealer``: the data keys; ``journeys``: the journey
    repository; ``http``: the back channel's connection pool; ``audit``: the audit trail.
    """

    runtime: Runtime
    sealer: Sealer
    journeys: JourneyRepository
    http: urllib3.PoolManager
    audit: Auditor

    def init_app(self, app: Flask) -> None:
        web.register_services(app, EXTENSION, self, self.runtime)


def services(app: Flask | None = None) -> HubServices:
    """The hub's services: of ``app``, or of the app handling the current request."""
    return web.registered_services(EXTENSION, HubServices, app)
