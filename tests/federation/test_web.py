"""The GOV.UK macros: compiled once per process, yet each app's own, seeing that app's globals."""

from __future__ import annotations

import re
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask, render_template_string
from jinja2 import Environment

import hub
import stub_idp
from federation.web.govuk import GOVUK_MACROS, _macro_name


def _compiled_govuk_templates(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the GOV.UK templates Jinja compiles from here on."""
    compiled: list[str] = []
    compile_ = Environment.compile

    def spy(self: Environment, source: Any, name: str | None = None, filename: str | None = None, **kw: Any) -> Any:
        if filename is not None and "govuk_frontend_jinja" in filename:
            compiled.append(str(name))
        return compile_(self, source, name, filename, **kw)

    monkeypatch.setattr(Environment, "compile", spy)
    return compiled


def _render_some_macros(app: Flask) -> None:
    """Macros that import helper macros when called (the error message, the hint, the attributes)."""
    with app.test_request_context("/"):
        render_template_string(
            '{{ govukButton({"text": "Continue"}) }}'
            '{{ govukInput({"name": "x", "hint": {"text": "h"}, "errorMessage": {"text": "e"}, '
            '"attributes": {"a": 1}}) }}'
        )


def test_a_second_app_in_the_process_compiles_no_govuk_macro(
    app_config: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    _render_some_macros(hub.create_app(app_config))  # compiles whatever this process has not compiled yet
    compiled = _compiled_govuk_templates(monkeypatch)
    for app in (hub.create_app(app_config), stub_idp.create_app(app_config)):
        _render_some_macros(app)
    assert compiled == []


def test_each_app_has_its_own_macros_bound_to_its_own_environment(app_config: dict[str, object]) -> None:
    apps: list[Flask] = [hub.create_app(app_config), stub_idp.create_app(app_config)]
    name = "govuk_frontend_jinja/components/radios/macro.html"
    first, second = (app.jinja_env.get_template(name) for app in apps)
    assert first is not second
    assert first.environment is apps[0].jinja_env and second.environment is apps[1].jinja_env
    for component in GOVUK_MACROS:
        macro = _macro_name(component)
        assert apps[0].jinja_env.globals[macro] is not apps[1].jinja_env.globals[macro]


def test_macros_from_shared_code_render_with_each_apps_nonce(app_config: dict[str, object]) -> None:
    for app in (hub.create_app(app_config), stub_idp.create_app(app_config)):
        app.add_url_rule(
            "/_probe",
            "probe",
            lambda: render_template_string('{{ govukButton({"text": "Go"}) }}<script nonce="{{ csp_nonce() }}">'),
        )
        response = app.test_client().get("/_probe")
        nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
        soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
        script = soup.select_one("script")
        assert nonce is not None and script is not None and script["nonce"] == nonce.group(1)
        assert soup.select_one("button.govuk-button") is not None
