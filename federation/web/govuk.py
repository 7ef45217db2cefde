"""GOV.UK Frontend's macros for every app: compiled once per process, loaded once per app, memoised where safe."""

from __future__ import annotations

import os
from collections import ChainMap
from collections.abc import Callable, Hashable, KeysView, MutableMapping
from types import CodeType
from typing import Any, cast

import govuk_frontend_jinja
from flask import (
    Flask,
)
from jinja2 import BaseLoader, ChainableUndefined, ChoiceLoader, Environment, PackageLoader, PrefixLoader
from jinja2.bccache import Bucket, BytecodeCache
from markupsafe import Markup

from federation.web.guards import csp_nonce
from federation.web.language import gettext
from federation.words import N_

_HEADER = """{%- from "govuk_frontend_jinja/components/header/macro.html" import govukHeader -%}
{%- from "govuk_frontend_jinja/components/service-navigation/macro.html" import govukServiceNavigation -%}
<header class="govuk-template__header">{{ govukHeader({}) }}
{{ govukServiceNavigation({"serviceName": args[0], "serviceUrl": args[1], "ariaLabel": args[2]}) }}</header>"""
_SKIP_LINK = """{%- from "govuk_frontend_jinja/components/skip-link/macro.html" import govukSkipLink -%}
{{ govukSkipLink({"href": "#main-content", "text": args[0]}) }}"""
# With support links the footer is GOV.UK's as it comes. Without them, its meta row (licence on the left, crest
# on the right, bottom-aligned) leaves a gap as tall as the crest under the crown on wide screens, so the crown
# moves to the top of the licence's column, keeping its own margin. The crown is the macro's own output: should
# a new govuk-frontend-jinja render it differently, nothing is replaced and the footer stays GOV.UK's.
# args: the support links, their heading, and the licence and copyright lines in the page's language (None: the
# macro's own English).
_FOOTER = """{%- from "govuk_frontend_jinja/components/footer/macro.html" import govukFooter -%}
{%- from "govuk_frontend_jinja/macros/logo.html" import govukLogo -%}
{%- set words = {"contentLicence": {"html": args[2]}, "copyright": {"text": args[3]}} if args[2] else {} %}
<footer class="govuk-template__footer">
{%- if args[0] %}{{ govukFooter(dict(words, meta={"items": args[0], "visuallyHiddenTitle": args[1]})) }}
{%- else %}
{%- set footer = govukFooter(words) %}
{%- set crown = govukLogo({"classes": "govuk-footer__crown", "useLogotype": false}) %}
{%- set licence_column = '<div class="govuk-footer__meta-item govuk-footer__meta-item--grow">'|safe %}
{%- if crown in footer and licence_column in footer %}
{%- set moved = govukLogo({"classes": "govuk-footer__crown govuk-!-display-block", "useLogotype": false}) %}
{{- footer|replace(crown, "")|replace(licence_column, licence_column ~ moved) }}
{%- else %}{{ footer }}{% endif %}
{%- endif %}</footer>"""
# A site that is not GOV.UK (a certified company's, say): the generic header with the site's own name, and a
# plain footer with its support links and a line of text; no crown, crest, logotype or licence.
_NEUTRAL_HEADER = """{%- from "govuk_frontend_jinja/components/generic-header/macro.html" import govukGenericHeader -%}
<header class="govuk-template__header">
{{ govukGenericHeader({"logoText": args[0], "url": args[1] or "/"}) }}
</header>"""
_NEUTRAL_FOOTER = """<footer class="govuk-template__footer">
  <div class="govuk-width-container govuk-!-padding-bottom-4">
    <hr class="govuk-section-break govuk-section-break--visible govuk-!-margin-bottom-4">
    {%- if args[0] %}
    <h2 class="govuk-visually-hidden">{{ args[2] }}</h2>
    <ul class="govuk-list govuk-body-s">
      {%- for item in args[0] %}
      <li><a class="govuk-link" href="{{ item.href }}">{{ item.text }}</a></li>
      {%- endfor %}
    </ul>
    {%- endif %}
    {%- if args[1] %}
    <p class="govuk-body-s">{{ args[1] }}</p>
    {%- endif %}
  </div>
</footer>"""


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


# GOV.UK Frontend's own words in its components, set through the components' parameters in the page's language
# when a page leaves them out (GOV.UK Frontend's i18n options): English is the macros' own default.
COMPONENT_WORDS: dict[str, dict[str, str]] = {
    "back-link": {"text": N_("Back")},
    "error-summary": {"titleText": N_("There is a problem")},
    "warning-text": {"iconFallbackText": N_("Warning")},
}
# Components whose error message starts with a hidden "Error:" for screen readers.
FIELD_COMPONENTS = frozenset({"checkboxes", "date-input", "input", "radios", "select", "textarea"})
_BANNER_TITLES = {"success": N_("Success")}
_BANNER_TITLE = N_("Important")
_DATE_PARTS = {"day": N_("Day"), "month": N_("Month"), "year": N_("Year")}


def _in_page_language(component: str, params: Any) -> Any:
    """``params`` with the component's own words in the page's language, where the page did not give its own."""
    if not isinstance(params, dict):
        return params
    words: dict[str, Any] = {
        key: gettext(text) for key, text in COMPONENT_WORDS.get(component, {}).items() if not params.get(key)
    }
    if component == "notification-banner" and not params.get("titleText") and not params.get("titleHtml"):
        words["titleText"] = gettext(_BANNER_TITLES.get(params.get("type") or "", _BANNER_TITLE))
    error = params.get("errorMessage")
    if component in FIELD_COMPONENTS and isinstance(error, dict) and not error.get("visuallyHiddenText"):
        words["errorMessage"] = dict(error, visuallyHiddenText=gettext("Error"))
    items = params.get("items")
    if component == "date-input" and isinstance(items, list):
        words["items"] = [
            dict(item, label=gettext(_DATE_PARTS[item["name"]]))
            if isinstance(item, dict) and not item.get("label") and item.get("name") in _DATE_PARTS
            else item
            for item in items
        ]
    return dict(params, **words) if words else params


def _speaking_the_page_language(component: str, macro: Any) -> Any:
    if component not in COMPONENT_WORDS and component not in FIELD_COMPONENTS and component != "notification-banner":
        return macro

    def render(params: Any = None, **kwargs: Any) -> Any:
        return macro(_in_page_language(component, params), **kwargs)

    return render


def _install_macros(app: Flask) -> None:
    """Make the GOV.UK macros globals, loaded once.

    A ``{% from … import %}`` in a template re-executes the macro file on every render when the context has
    request globals (Flask's always does): it was most of the cost of a page. The words a component adds of its
    own are set in the page's language before the memo sees the parameters, so each language has its own entry.
    """
    for component in GOVUK_MACROS:
        name = _macro_name(component)
        template = app.jinja_env.get_template(f"govuk_frontend_jinja/components/{component}/macro.html")
        macro = getattr(template.module, name)
        macro = _memoised(macro) if component in MEMOISED_MACROS else macro
        app.jinja_env.globals[name] = _speaking_the_page_language(component, macro)


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
    """The skip link, header and footer, rendered once per set of arguments: the same on every page, and the
    macros behind them cost more than the rest of a page together."""
    cache: dict[str, Markup] = {}

    def render(*args: Any) -> Markup:
        key = repr(args)
        if key not in cache:
            cache[key] = Markup(app.jinja_env.from_string(source).render(args=args))
        return cache[key]

    return render


def install_govuk(app: Flask) -> None:
    """GOV.UK Frontend's templates and macros as globals of ``app``'s pages, with its skip link, header and footer
    (GOV.UK's, or the neutral ones for a site that is not GOV.UK)."""
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
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.jinja_env.globals["govuk_skip_link"] = _fragment(app, _SKIP_LINK)
    app.jinja_env.globals["govuk_header"] = _fragment(app, _HEADER)
    app.jinja_env.globals["govuk_footer"] = _fragment(app, _FOOTER)
    app.jinja_env.globals["neutral_header"] = _fragment(app, _NEUTRAL_HEADER)
    app.jinja_env.globals["neutral_footer"] = _fragment(app, _NEUTRAL_FOOTER)
