"""The Welsh catalogues are whole, and the page's language is chosen, kept and passed on as designed.

Every message the code and templates mark (``federation.web.catalogues.extracted``) has its Welsh in its app's
catalogue, none fuzzy, none left over, with the same placeholders; the toggle, the cookie and the ``language``
hint are checked on the apps themselves.
"""

from __future__ import annotations

import re

import pytest
from babel.messages.catalog import Catalog, Message
from bs4 import BeautifulSoup
from flask import Flask

import hub
import stub_idp
import stub_service
from federation.web.catalogues import APPS, AppCatalogue, extracted, read, untranslated
from federation.web.language import HINT_FIELD, WELSH, translations_for

_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _ids(catalogue: Catalog) -> set[object]:
    return {
        message.id if message.context is None else (message.id, message.context) for message in catalogue if message.id
    }


def _strings(message: Message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple | list) else [str(message.string)]


@pytest.fixture(scope="module", params=APPS, ids=lambda app: app.package)
def app_catalogue(request: pytest.FixtureRequest) -> tuple[AppCatalogue, Catalog, Catalog]:
    app: AppCatalogue = request.param
    return app, extracted(app), read(app)


def test_every_marked_message_has_a_catalogue_entry_and_none_is_left_over(
    app_catalogue: tuple[AppCatalogue, Catalog, Catalog],
) -> None:
    app, template, catalogue = app_catalogue
    missing, unused = _ids(template) - _ids(catalogue), _ids(catalogue) - _ids(template)
    assert not missing, f"{app.package}: run `make translations` and translate {sorted(map(str, missing))[:10]}"
    assert not unused, f"{app.package}: run `make translations` to drop {sorted(map(str, unused))[:10]}"


def test_every_entry_is_translated_and_none_is_fuzzy(app_catalogue: tuple[AppCatalogue, Catalog, Catalog]) -> None:
    app, _, catalogue = app_catalogue
    left = [message.id for message in untranslated(catalogue)]
    assert not left, f"{app.package}: {len(left)} messages have no Welsh or are fuzzy: {left[:10]}"


def test_every_translation_keeps_the_placeholders_of_its_message(
    app_catalogue: tuple[AppCatalogue, Catalog, Catalog],
) -> None:
    app, _, catalogue = app_catalogue
    wrong = []
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
        expected = {name for text in ids for name in _PLACEHOLDER.findall(text)}
        for string in _strings(message):
            if set(_PLACEHOLDER.findall(string)) - expected or (
                not message.pluralizable and set(_PLACEHOLDER.findall(string)) != expected
            ):
                wrong.append(message.id)
    assert not wrong, f"{app.package}: placeholders differ from the English in {wrong[:10]}"


def test_welsh_plurals_have_all_six_forms(app_catalogue: tuple[AppCatalogue, Catalog, Catalog]) -> None:
    _, _, catalogue = app_catalogue
    assert catalogue.num_plurals == 6
    for message in catalogue:
        if message.id and message.pluralizable:
            assert len(_strings(message)) == 6 and all(_strings(message)), message.id


def test_a_message_in_several_catalogues_has_the_same_welsh_in_each() -> None:
    """The same English on two apps' pages (a hub exit page and the service's answer page, say) reads the same."""
    welsh: dict[object, set[object]] = {}
    for app in APPS:
        for message in read(app):
            if message.id and not message.pluralizable:
                welsh.setdefault(message.id, set()).add(message.string)
    differing = {english: strings for english, strings in welsh.items() if len(strings) > 1}
    assert not differing


def test_the_catalogues_compile_and_the_app_catalogue_wins_over_the_shared_one() -> None:
    directories = [APPS[1].translations, APPS[0].translations]
    welsh = translations_for(directories, WELSH)
    assert welsh.gettext("Back") == "Yn ôl"  # the shared catalogue's
    assert welsh.gettext("Start now") == "Dechrau nawr"  # the hub's
    assert translations_for(directories, "en").gettext("Back") == "Back"


def _page(app: Flask, path: str, **kwargs: object) -> tuple[BeautifulSoup, object]:
    response = app.test_client().get(path, **kwargs)  # type: ignore[arg-type]
    return BeautifulSoup(response.get_data(as_text=True), "html.parser"), response


@pytest.mark.parametrize("factory", [hub.create_app, stub_idp.create_app, stub_service.create_app])
def test_the_toggle_switches_the_page_to_welsh_and_a_cookie_keeps_it(factory, app_config: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    app = factory(app_config)
    client = app.test_client()
    english = BeautifulSoup(client.get("/").get_data(as_text=True), "html.parser")
    assert english.html["lang"] == "en"
    toggle = english.select_one("nav[aria-label='Choose a language']")
    assert toggle is not None and toggle.select_one("[aria-current=true]").get_text() == "English"
    link = toggle.select_one("a[hreflang=cy]")
    assert link["href"] == "/?lang=cy" and link.get_text(" ", strip=True) == "Newid yr iaith i’r Gymraeg Cymraeg"

    response = client.get(link["href"])
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{app.name}_language=cy;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    welsh = BeautifulSoup(client.get("/").get_data(as_text=True), "html.parser")  # the cookie, no ?lang
    assert welsh.html["lang"] == "cy"
    assert welsh.select_one(".govuk-skip-link").get_text() == "Neidio i’r prif gynnwys"
    assert welsh.select_one("nav[aria-label='Dewis iaith'] [aria-current=true]").get_text() == "Cymraeg"
    if app.jinja_env.globals.get("brand") != "neutral":  # a company's site has no Crown copyright line
        assert "Hawlfraint y Goron" in welsh.select_one("footer").get_text()

    back = client.get("/?lang=en")
    assert BeautifulSoup(back.get_data(as_text=True), "html.parser").html["lang"] == "en"


def test_a_language_that_is_not_offered_is_ignored(app_config: dict[str, object]) -> None:
    app = hub.create_app(app_config)
    page, response = _page(app, "/?lang=fr")
    assert page.html["lang"] == "en" and "Set-Cookie" not in response.headers  # type: ignore[attr-defined]


def test_the_language_hint_posted_with_a_saml_message_sets_the_language(app_config: dict[str, object]) -> None:
    """What a page posts to the next party: the receiving app shows its pages in that language from then on."""
    app = hub.create_app(app_config)
    client = app.test_client()
    response = client.post("/SAML2/SSO", data={"SAMLRequest": "not a message", HINT_FIELD: WELSH})
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert response.status_code == 400 and page.html["lang"] == "cy"
    assert response.headers["Set-Cookie"].startswith("hub_language=cy;")


def test_an_error_page_is_in_the_remembered_language(app_config: dict[str, object]) -> None:
    app = hub.create_app(app_config)
    client = app.test_client()
    client.get("/?lang=cy")
    page, response = _page(app, "/no-such-page")
    welsh = BeautifulSoup(client.get("/no-such-page").get_data(as_text=True), "html.parser")
    assert welsh.html["lang"] == "cy" and welsh.h1.get_text() == "Tudalen heb ei darganfod"
    assert page.h1.get_text() == "Page not found"  # a browser without the cookie: English


def test_the_operators_dashboard_app_has_no_toggle(app_config: dict[str, object]) -> None:
    from hub import operations

    app = operations.create_app(app_config)
    page, _ = _page(app, "/no-such-page")
    assert page.html["lang"] == "en" and page.select_one("nav[aria-label='Choose a language']") is None
