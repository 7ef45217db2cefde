"""The Flask side of the shared plumbing: error pages, SAML form posting, logging context, headers.

Every app calls ``init_app``. Everything else in ``federation`` stays free of Flask.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import secrets
import time
from collections import ChainMap
from collections.abc import Callable, Hashable, Iterable, KeysView, MutableMapping
from pathlib import Path
from types import CodeType
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import govuk_frontend_jinja
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    has_request_context,
    jsonify,
    render_template,
    request,
    send_from_directory,
)
from jinja2 import BaseLoader, ChainableUndefined, ChoiceLoader, Environment, PackageLoader, PrefixLoader
from jinja2.bccache import Bucket, BytecodeCache
from lxml import etree
from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from federation import metrics
from federation.errors import FederationError, InvalidSamlMessageError
from federation.metrics import ERRORS
from federation.runtime import Runtime
from federation.saml.bindings import decode_post
from federation.saml.metadata import PUBLISHED_VALIDITY
from federation.saml.xml import MAX_MESSAGE_BYTES, to_bytes
from keys.pki import days_to_expiry

logger = logging.getLogger(__name__)

blueprint = Blueprint(
    "federation", __name__, template_folder="templates", static_folder="static", static_url_path="/federation-static"
)
_Services = TypeVar("_Services")
GOVUK_ASSETS = Path(__file__).resolve().parent / "static" / "govuk"
STATUS_DETAILS = "IDA_STATUS_DETAILS"
# The largest request body any app reads: a SAML message at its cap, base64-encoded in a form, and room for the
# form's other fields.
MAX_REQUEST_BYTES = MAX_MESSAGE_BYTES * 2
SAML_PARAMETERS = ("SAMLRequest", "SAMLResponse", "RelayState", "Signature", "SigAlg")
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


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


@blueprint.get("/_status")
def status() -> tuple[Response, int]:
    """Liveness for load balancers: 200 ``ok`` or 503 ``unavailable``, and nothing more on a public port.

    The details (the store's kind, the crypto backend, every certificate's days to expiry) tell an attacker
    what the hub runs and when its keys change: only an app made with ``status_details`` (the operations app,
    on its internal port) shows them.
    """
    runtime = current_app.extensions.get("runtime")
    if not isinstance(runtime, Runtime):
        return jsonify(status="starting"), 503
    healthy, details = _health(runtime)
    if not current_app.config.get(STATUS_DETAILS):
        return jsonify(status="ok" if healthy else "unavailable"), 200 if healthy else 503
    return jsonify(status="ok" if healthy else "degraded", **details), 200 if healthy else 503


def _health(runtime: Runtime) -> tuple[bool, dict[str, Any]]:
    """Whether the app can serve journeys (its store answers, its certificates and metadata are in date), and
    the facts behind that, for operators."""
    store_ok = runtime.store.ping()
    moment = dt.datetime.now(dt.UTC)
    certificates = {
        name: days_to_expiry(certificate.cert, moment) for name, certificate in runtime.federation.certificates.items()
    }
    soonest = min(certificates.values()) if certificates else None
    # The hub re-signs its metadata (valid for 7 days) every hour, so it stays valid while its signing
    # certificate is; consumers refuse it once that has expired.
    metadata_name = runtime.federation.file.metadata_signing_certificate
    metadata_ok = runtime.federation.cert(metadata_name).is_current(moment)
    healthy = store_ok and soonest is not None and soonest >= 0 and metadata_ok
    return healthy, {
        "store": runtime.store.kind,
        "store_ok": store_ok,
        "crypto_backend": runtime.settings.crypto_backend,
        "certificate_days_to_expiry": certificates,
        "soonest_certificate_expiry_days": soonest,
        "metadata": {
            "valid": metadata_ok,
            "signing_certificate_days_to_expiry": certificates[metadata_name],
            "valid_for_days": PUBLISHED_VALIDITY.days,
        },
    }


@blueprint.get("/assets/<path:filename>")
def govuk_assets(filename: str) -> Response:
    """GOV.UK Frontend's compiled CSS, JS, fonts and images (copied by ``make assets``)."""
    return send_from_directory(GOVUK_ASSETS, filename, max_age=3600)


_PLAIN_WORDS = {
    400: ("There is a problem with the request", "The page could not use what your browser sent."),
    403: ("You cannot do that", "Your browser sent something we could not accept. Go back and try again."),
    404: ("Page not found", "If you typed the web address, check it is correct."),
    405: ("You cannot use this page in that way", "Go back to the page you were on and try again."),
    413: ("The request was too large", "Your browser sent more than this service accepts."),
    500: ("Sorry, there is a problem with the service", "Try again later."),
    503: ("Sorry, the service is unavailable", "You will be able to use the service later."),
}


class JourneyLogFilter(logging.Filter):
    """Adds ``journey_id`` (opaque, not personal) to every record logged during a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        journey = g.get("journey_id") if has_request_context() else None
        record.journey_id = journey or "-"
        return True


def configure_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if not any(isinstance(f, JourneyLogFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.addFilter(JourneyLogFilter())
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [journey=%(journey_id)s] %(message)s")
        )
        root.addHandler(handler)
    root.setLevel(level)


def error_page(status: int, title: str, description: str, **context: Any) -> tuple[str, int]:
    return render_template(
        "federation/error.html", title=title, description=description, status=status, **context
    ), status


def _handle_federation_error(error: FederationError) -> tuple[str, int]:
    ERRORS.labels(current_app.name, type(error).__name__).inc()
    logger.warning("Refused: %s (%s)", type(error).__name__, error.detail, extra={"http_status": error.http_status})
    return error_page(error.http_status, error.title, error.description)


def _handle_http_error(error: HTTPException) -> Response | HTTPException:
    status = error.code or 500
    if status < 400:
        return error
    logger.info("HTTP %s: %s", status, type(error).__name__)  # which kind of 400 (a body cut short, say)
    title, description = _PLAIN_WORDS.get(status, _PLAIN_WORDS[400 if status < 500 else 500])
    body, _ = error_page(status, title, description)
    # The exception's own headers: a 405's Allow, say (RFC 9110 §15.5.6 requires it).
    headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
    return Response(body, status, headers=headers, mimetype="text/html")


def _handle_unexpected(error: Exception) -> tuple[str, int]:
    ERRORS.labels(current_app.name, "unexpected").inc()
    logger.error("Unexpected error: %s", type(error).__name__, exc_info=error)
    title, description = _PLAIN_WORDS[500]
    return error_page(500, title, description)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _new_nonce() -> None:
    g.csp_nonce = secrets.token_urlsafe(16)


def _csp_nonce() -> str:
    nonce: str = g.get("csp_nonce") or ""
    return nonce


def _security_headers_for(form_targets: str) -> Any:
    def add_headers(response: Response) -> Response:
        nonce = _csp_nonce()
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; "
            f"font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
            f"form-action 'self' {form_targets}",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.scheme == "https":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if g.get("no_store"):
            response.headers["Cache-Control"] = "no-store"
        return response

    return add_headers


_HEADER = """{%- from "govuk_frontend_jinja/components/header/macro.html" import govukHeader -%}
{%- from "govuk_frontend_jinja/components/service-navigation/macro.html" import govukServiceNavigation -%}
<header class="govuk-template__header">{{ govukHeader({}) }}
{{ govukServiceNavigation({"serviceName": args[0], "serviceUrl": args[1]}) }}</header>"""
_SKIP_LINK = """{%- from "govuk_frontend_jinja/components/skip-link/macro.html" import govukSkipLink -%}
{{ govukSkipLink({"href": "#main-content", "text": "Skip to main content"}) }}"""
_FOOTER = """{%- from "govuk_frontend_jinja/components/footer/macro.html" import govukFooter -%}
<footer class="govuk-template__footer">{{ govukFooter({"meta": {"items": args[0]}}) }}</footer>"""


GOVUK_MACROS = (
    "back-link",
    "button",
    "checkboxes",
    "date-input",
    "details",
    "error-summary",
    "fieldset",
    "input",
    "inset-text",
    "notification-banner",
    "panel",
    "radios",
    "select",
    "summary-list",
    "table",
    "tag",
    "textarea",
    "warning-text",
)


def _macro_name(component: str) -> str:
    return "govuk" + "".join(part.capitalize() for part in component.split("-"))


# Components whose output depends on nothing but their parameters, which on our pages are our own words,
# entity IDs and choices from fixed lists, never text a citizen typed: each is rendered once per set of
# parameters (see ``_memoised``). Inputs, text areas and the like are left out, so no personal data is kept.
MEMOISED_MACROS = frozenset({"back-link", "button", "checkboxes", "details", "radios"})
MEMO_SIZE = 512
_PLAIN_SCALARS = (str, int, float, bool, type(None))


def _plain(value: object) -> bool:
    """Whether ``repr(value)`` says everything about it: strings (Markup too), numbers, and lists and dicts of them."""
    if isinstance(value, _PLAIN_SCALARS):
        return True
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(item) for item in value)
    return False


def _memoised(macro: Any) -> Any:
    """``macro``, remembering its output for each set of plain parameters it is called with.

    A GOV.UK macro costs about 0.1–0.6 ms a call (it imports its helper macros again each time and indents
    its output line by line), and a page calls the same ones with the same parameters for every citizen.
    The memo holds at most ``MEMO_SIZE`` outputs and starts again when full; a call with a ``caller`` or with
    parameters whose ``repr`` might not describe them goes straight to the macro.
    """
    memo: dict[str, Markup] = {}

    def render(params: Any = None, **kwargs: Any) -> Markup:
        if kwargs or not _plain(params):
            return cast(Markup, macro(params, **kwargs))
        key = repr(params)
        output = memo.get(key)
        if output is None:
            output = cast(Markup, macro(params))
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[key] = output
        return output

    return render


# Where govuk-frontend-jinja's templates are (Jinja names a template loaded through a PrefixLoader without its prefix).
GOVUK_TEMPLATES = os.path.normpath(os.path.dirname(govuk_frontend_jinja.__file__))


def _compile_options(environment: Environment, name: str) -> Hashable:
    """Everything in ``environment`` that the code Jinja compiles for template ``name`` depends on.

    The lexer's syntax, the options the code generator reads, and the filters and tests (the optimiser may call
    one on constant arguments while compiling). Templates a Flask app loads autoescape by their name's ending.
    """
    autoescape = environment.autoescape(name) if callable(environment.autoescape) else environment.autoescape
    return (
        environment.block_start_string,
        environment.block_end_string,
        environment.variable_start_string,
        environment.variable_end_string,
        environment.comment_start_string,
        environment.comment_end_string,
        environment.line_statement_prefix,
        environment.line_comment_prefix,
        environment.trim_blocks,
        environment.lstrip_blocks,
        environment.newline_sequence,
        environment.keep_trailing_newline,
        autoescape,
        environment.optimized,
        environment.is_async,
        environment.sandboxed,
        environment.finalize,
        environment.undefined,
        environment.concat,
        environment.code_generator_class,
        tuple(sorted(environment.extensions)),
        tuple(sorted(environment.filters.items())),
        tuple(sorted(environment.tests.items())),
    )


class _CompiledMacros(BytecodeCache):
    """The GOV.UK macro templates as compiled Python code, shared by every app this process builds.

    Compiling them (parsing, generating Python, compiling that) was about 0.5–0.8 s of every ``create_app``,
    which the tests call hundreds of times; a process that builds one app compiles them once, as before. Only
    the code is shared: each app still makes its own ``Template`` from it, whose macros see that app's globals
    (its ``_memoised`` wrappers, ``csp_nonce``) and import their helper macros through that app's loader. The
    code depends on nothing but the template's name, file and source and the compile options, which key it.
    Other templates (each app's pages) are compiled as Jinja always does.
    """

    def __init__(self) -> None:
        self._code: dict[Hashable, CodeType] = {}

    def get_bucket(self, environment: Environment, name: str, filename: str | None, source: str) -> Bucket:
        bucket = _Bucket(environment, name, filename, self.get_source_checksum(source))
        if bucket.shared:
            bucket.code = self._code.get(bucket.full_key)
        return bucket

    def set_bucket(self, bucket: Bucket) -> None:
        if isinstance(bucket, _Bucket) and bucket.shared and bucket.code is not None:
            self._code[bucket.full_key] = bucket.code  # a race only compiles the same code twice


class _Bucket(Bucket):
    def __init__(self, environment: Environment, name: str, filename: str | None, checksum: str) -> None:
        super().__init__(environment, name, checksum)
        self.shared = filename is not None and filename.startswith(GOVUK_TEMPLATES + os.sep)
        self.full_key = (name, filename, checksum, _compile_options(environment, name)) if self.shared else None


COMPILED_MACROS = _CompiledMacros()


def _install_macros(app: Flask) -> None:
    """Make the GOV.UK macros globals, loaded once.

    A ``{% from … import %}`` in a template re-executes the macro file on every render when the context has
    request globals (Flask's always does): it was most of the cost of a page.
    """
    for component in GOVUK_MACROS:
        name = _macro_name(component)
        template = app.jinja_env.get_template(f"govuk_frontend_jinja/components/{component}/macro.html")
        macro = getattr(template.module, name)
        app.jinja_env.globals[name] = _memoised(macro) if component in MEMOISED_MACROS else macro


class _TemplateGlobals(ChainMap[str, Any]):
    """A template's globals over the environment's, as Jinja makes them, with keys a dict view can compare.

    Every ``{% from … import %}`` (the GOV.UK macros make several on each call) subtracts the template's
    global names from the context's (``Template._get_default_module``); a ChainMap's keys view answers that
    one name at a time in Python, which was about a quarter of the cost of rendering a page.
    """

    def keys(self) -> KeysView[str]:
        return dict.fromkeys(self).keys()


def _make_globals(environment: Environment) -> Callable[[MutableMapping[str, Any] | None], MutableMapping[str, Any]]:
    """``Environment.make_globals`` with ``_TemplateGlobals``: the same mapping, faster to compare."""

    def make_globals(d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return _TemplateGlobals({} if d is None else d, environment.globals)

    return make_globals


def _fragment(app: Flask, source: str) -> Any:
    """The GOV.UK skip link, header and footer, rendered once per set of arguments: the same on every page,
    and the macros behind them cost more than the rest of a page together."""
    cache: dict[str, Markup] = {}

    def render(*args: Any) -> Markup:
        key = repr(args)
        if key not in cache:
            cache[key] = Markup(app.jinja_env.from_string(source).render(args=args))
        return cache[key]

    return render


def init_app(app: Flask, form_targets: Iterable[str] = (), *, status_details: bool = False) -> None:
    """Shared templates, GOV.UK Frontend, error pages in plain words, request-size cap and security headers.

    ``form_targets`` are the URLs this app's pages post SAML forms to; their origins go in the CSP.
    ``status_details``: whether ``/_status`` tells what the app runs on (only on an internal port).
    """
    app.config[STATUS_DETAILS] = status_details
    app.register_blueprint(blueprint)
    app.jinja_env.undefined = ChainableUndefined
    app.jinja_env.loader = ChoiceLoader(
        [
            cast(BaseLoader, app.jinja_env.loader),
            PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
        ]
    )
    # Set before any template loads: templates keep the globals mapping they were made with.
    app.jinja_env.make_globals = _make_globals(app.jinja_env)  # type: ignore[method-assign,assignment]
    app.jinja_env.bytecode_cache = COMPILED_MACROS
    _install_macros(app)
    app.jinja_env.globals["csp_nonce"] = _csp_nonce
    app.jinja_env.globals["govuk_skip_link"] = _fragment(app, _SKIP_LINK)
    app.jinja_env.globals["govuk_header"] = _fragment(app, _HEADER)
    app.jinja_env.globals["govuk_footer"] = _fragment(app, _FOOTER)
    app.before_request(_new_nonce)
    # Flask defines the key as None, so setdefault would never cap anything. Werkzeug refuses a larger declared
    # Content-Length before reading a byte, and stops reading a chunked body at the cap: 413 either way.
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_REQUEST_BYTES
    app.before_request(_cap_streamed_body)
    app.before_request(_refuse_repeated_saml_parameters)
    app.register_error_handler(FederationError, _handle_federation_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(Exception, _handle_unexpected)
    app.after_request(_security_headers_for(" ".join(sorted({_origin(url) for url in form_targets}))))


def _cap_streamed_body() -> None:
    """A body with no Content-Length (chunked) over the cap gets a 413 too.

    Werkzeug caps such a stream at ``MAX_CONTENT_LENGTH`` but stops there quietly, so the form would be read from
    the first half megabyte as if it were all. Read it once (at most the cap), keep it for the form parser, and
    refuse it if it filled the cap.
    """
    if request.content_length is None and request.environ.get("wsgi.input_terminated"):
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        if len(request.get_data(cache=True)) >= limit:
            raise RequestEntityTooLarge


def _refuse_repeated_saml_parameters() -> None:
    """A SAML parameter sent twice, in the query, the form or both, is refused (400): which copy a reader takes
    is a guess, and the guess is an attack (a second SAMLResponse behind the first)."""
    for name in SAML_PARAMETERS:
        copies = len(request.args.getlist(name))
        if request.method == "POST" and request.mimetype in _FORM_TYPES:
            copies += len(request.form.getlist(name))
        if copies > 1:
            raise InvalidSamlMessageError(f"{name} sent more than once")


def read_posted_message(field: str) -> etree._Element:
    """Decode and parse a base64 SAML message from a POST form field (the HTTP-POST binding)."""
    return decode_post(request.form.get(field, ""), field)


def post_form(
    url: str,
    fields: dict[str, str],
    *,
    title: str,
    button: str = "Continue",
    lead: str | None = None,
    **context: Any,
) -> str:
    """An HTML form that posts ``fields`` to ``url``: submits itself with JavaScript, shows a button without.

    ``context`` goes to the template too (``service_name``, say, for the header).
    """
    g.no_store = True
    return render_template(
        "federation/post_form.html", url=url, fields=fields, title=title, button=button, lead=lead, **context
    )


def encode_message(element: etree._Element) -> str:
    return base64.b64encode(to_bytes(element)).decode("ascii")


# ---- metrics: each request timed; /metrics served by the operations app ------------------------------------


def _start_metrics_timer() -> None:
    g.metrics_started = time.perf_counter()


def _metrics_observer(app_name: str) -> Callable[[Response], Response]:
    def observe(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
            metrics.REQUEST_SECONDS.labels(app_name, endpoint, str(response.status_code)).observe(
                time.perf_counter() - started
            )
        return response

    return observe


def metrics_exposition() -> Response:
    """Every metric in Prometheus's text format: all processes' when ``PROMETHEUS_MULTIPROC_DIR`` is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


def init_metrics(app: Flask, app_name: str) -> None:
    """Time every request. /metrics is not served here: ``hub.operations`` serves it, on an internal port."""
    app.before_request(_start_metrics_timer)
    app.after_request(_metrics_observer(app_name))
