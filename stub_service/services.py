"""The stub service app's services as one typed object, registered the way Flask extensions are."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from federation import web
from federation.runtime import Runtime
from stub_service.departments import Department
from stub_service.variants import Variant

EXTENSION = "ida_stub_service"


@dataclass(frozen=True)
class StubServiceServices:
    """``variants``: the relying services this app plays, by slug; ``departments``: the departments they belong
    to, by id, each with its own matching service, records and store (``stub_service.departments``)."""

    runtime: Runtime
    variants: dict[str, Variant]
    departments: dict[str, Department]

    def department_of(self, variant: Variant) -> Department:
        return self.departments[variant.department]

    def init_app(self, app: Flask) -> None:
        web.register_services(app, EXTENSION, self, self.runtime)


def services(app: Flask | None = None) -> StubServiceServices:
    """The stub service app's services: of ``app``, or of the app handling the current request."""
    return web.registered_services(EXTENSION, StubServiceServices, app)
