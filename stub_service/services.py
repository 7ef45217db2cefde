"""The stub department's services as one typed object, registered the way Flask extensions are."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from federation import web
from federation.config import MatchingServiceEntry
from federation.runtime import Runtime
from stub_service.matcher import Matcher
from stub_service.records import RecordBook
from stub_service.variants import Variant

EXTENSION = "ida_stub_service"


@dataclass(frozen=True)
class StubServiceServices:
    """``variants``: the relying services this app plays, by slug; ``matching_service``: the department's
    matching service; ``records``: its records; ``matcher``: how it matches them."""

    runtime: Runtime
    variants: dict[str, Variant]
    matching_service: MatchingServiceEntry
    records: RecordBook
    matcher: Matcher

    def init_app(self, app: Flask) -> None:
        web.register_services(app, EXTENSION, self, self.runtime)


def services(app: Flask | None = None) -> StubServiceServices:
    """The stub department's services: of ``app``, or of the app handling the current request."""
    return web.registered_services(EXTENSION, StubServiceServices, app)
