"""The hub and the operations app in one process, each answering on its own port: for the in-process store.

Without ``REDIS_URL`` the hub keeps its state, dashboard counters included, in its own memory, which an
operations app in another process cannot read. ``make run`` then binds one gunicorn process to both ports
and this app sends each request to the hub or to the operations app by the port it arrived on. The port
comes from the listening socket (gunicorn's and werkzeug's ``SERVER_PORT``), not from the Host header, so a
request to the public port cannot reach the dashboard by naming the other one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import hub
from hub import operations

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class ByPort:
    """A WSGI app that serves ``internal`` on ``internal_port`` and ``public`` on every other port."""

    def __init__(self, public: WSGIApplication, internal: WSGIApplication, internal_port: int) -> None:
        self.public, self.internal, self.internal_port = public, internal, str(internal_port)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        app = self.internal if environ.get("SERVER_PORT") == self.internal_port else self.public
        return app(environ, start_response)


def create_app(operations_port: int, config: Mapping[str, Any] | None = None) -> ByPort:
    """The hub, with the operations app sharing its runtime (and store) on ``operations_port``."""
    public = hub.create_app(config)
    internal = operations.create_app(config, runtime=public.extensions["runtime"])
    return ByPort(public, internal, operations_port)
