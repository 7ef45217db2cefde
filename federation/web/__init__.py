"""The Flask side of the shared plumbing; everything else in ``federation`` stays free of Flask.

Every app calls ``init_app`` (and ``init_metrics``), and registers its typed services with
``register_services``. The parts, one concern each:

- ``status``: ``/_status`` and GOV.UK Frontend's assets;
- ``errors``: error pages in plain words;
- ``guards``: body cap, repeated SAML parameters, CSP nonce and security headers;
- ``govuk``: GOV.UK Frontend's macros, compiled once per process;
- ``language``: pages in English or Welsh, and the citizen's language passed on to the next party;
- ``saml_forms``: reading a posted SAML message, and posting one on;
- ``logs``: logging with the journey's opaque ID;
- ``timing``: request timings for the metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from flask import Flask, current_app

from federation.config import Federation
from federation.runtime import Runtime
from federation.web.errors import error_page, note_refusal, register_error_pages
from federation.web.govuk import install_govuk
from federation.web.guards import install_guards, origins
from federation.web.language import current_language, gettext, init_language, language_hint, ngettext
from federation.web.logs import JourneyLogFilter, configure_logging
from federation.web.saml_forms import encode_message, post_form, read_posted_message
from federation.web.status import STATUS_DETAILS, blueprint
from federation.web.timing import init_metrics, metrics_exposition

__all__ = [
    "JourneyLogFilter",
    "app_runtime",
    "configure_logging",
    "encode_message",
    "error_page",
    "init_app",
    "init_metrics",
    "current_language",
    "gettext",
    "language_hint",
    "ngettext",
    "note_refusal",
    "metrics_exposition",
    "post_form",
    "read_posted_message",
    "register_services",
    "registered_services",
]

_Services = TypeVar("_Services")


def register_services(app: Flask, name: str, services: object, runtime: Runtime) -> None:
    """An app's typed services object under ``name``, and its runtime where the shared parts read it."""
    app.extensions[name] = services
    app.extensions["runtime"] = runtime


def registered_services(name: str, kind: type[_Services], app: Flask | None = None) -> _Services:
    """The services object ``register_services`` put under ``name``, checked to be a ``kind``: of ``app``, or of
    the app handling the current request."""
    found = (app or current_app).extensions.get(name)
    if not isinstance(found, kind):
        raise RuntimeError(f"{kind.__name__} is not registered on this app")
    return found


def app_runtime() -> Runtime:
    """The current app's federation runtime (every app registers one as ``extensions["runtime"]``)."""
    runtime = current_app.extensions.get("runtime")
    if not isinstance(runtime, Runtime):
        raise RuntimeError("this app has no federation runtime")
    return runtime


FormTargets = Callable[[Federation], Iterable[str]]


def init_app(
    app: Flask,
    form_targets: FormTargets | None = None,
    *,
    status_details: bool = False,
    translations: str | Sequence[str] | None = None,
) -> None:
    """Shared templates, GOV.UK Frontend, error pages in plain words, request-size cap and security headers, and
    the federation file taken up again when it changes (``Runtime.reload_if_changed``, before each request).

    ``translations``: the app's folder of gettext catalogues (or folders, its own first), for pages in Welsh as
    well as English (``language``); ``None`` for an app in English only.

    ``form_targets`` gives the URLs this app's pages post SAML forms to, from the federation in use; their
    origins go in the CSP (worked out again only after a reload).
    ``status_details``: whether ``/_status`` tells what the app runs on (only on an internal port).
    """
    app.config[STATUS_DETAILS] = status_details
    app.register_blueprint(blueprint)
    init_language(app, translations)
    install_govuk(app)
    install_guards(app, _csp_form_targets(app, form_targets))
    register_error_pages(app)
    app.before_request(_reload_federation)


def _reload_federation() -> None:
    runtime = current_app.extensions.get("runtime")
    if isinstance(runtime, Runtime):
        runtime.reload_if_changed()


def _csp_form_targets(app: Flask, form_targets: FormTargets | None) -> Callable[[], str]:
    """The CSP's form-action origins for the federation the app runs now, kept until the next reload."""
    held: list[tuple[Federation, str]] = []  # the federation they were worked out for, and the origins

    def current() -> str:
        runtime = app.extensions.get("runtime")
        if form_targets is None or not isinstance(runtime, Runtime):
            return ""
        federation = runtime.federation
        if not held or held[0][0] is not federation:
            held[:] = [(federation, origins(form_targets(federation)))]
        return held[0][1]

    return current
