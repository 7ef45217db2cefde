"""Pages in English or Welsh (Cymraeg): the citizen's choice, the catalogues, and GOV.UK Frontend's own words.

The citizen chooses with the header's "English | Cymraeg" links (``?lang=cy``); an app remembers the choice in
a cookie of its own (``<app>_language``, for the browser's session: a language is not personal data) and each
page is then in that language. Passing from one party to the next, a page posts the language with the SAML
message as a ``language`` field, as Verify's hub did to its identity providers: it says which language the
citizen reads, and nothing about the service they came from. The receiving app takes the hint up as if the
citizen had chosen it there.

The catalogues are gettext ``.po`` files, one per app (``<app>/translations/cy/LC_MESSAGES/messages.po``) over
the shared one (``federation/translations``), compiled in memory the first time a process needs them, so
there is no build step and no compiled file to keep in step. ``make translations`` extracts the messages and
updates every catalogue; ``tests/federation/test_catalogues.py`` keeps them complete.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import flask_babel
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, Response, current_app, g, has_request_context, request
from flask_babel import Babel, Domain, get_locale
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

ENGLISH, WELSH = "en", "cy"
# In each language's own words: the toggle names the other language as its readers would.
LANGUAGES = {ENGLISH: "English", WELSH: "Cymraeg"}
# What a screen reader says for the link to each language, in that language (HMRC's language toggle's words).
_SWITCH_TO = {ENGLISH: "Change the language to English", WELSH: "Newid yr iaith i’r Gymraeg"}
QUERY_PARAMETER = "lang"
# The form field that carries the citizen's language to the next party, beside SAMLRequest or SAMLResponse.
HINT_FIELD = "language"
FEDERATION_TRANSLATIONS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "translations")
_COOKIE = "LANGUAGE_COOKIE"


def catalogue_path(translations_dir: str, language: str = WELSH) -> str:
    return os.path.join(translations_dir, language, "LC_MESSAGES", "messages.po")


_loaded: dict[tuple[tuple[str, ...], str], NullTranslations] = {}
_loading = threading.Lock()


def translations_for(directories: Sequence[str], language: str) -> NullTranslations:
    """The messages of ``directories``' catalogues for ``language``, merged (the first wins), compiled once a process.

    Fuzzy entries are left out, as ``msgfmt`` leaves them out: a guess is not a translation.
    """
    key = (tuple(directories), language)
    found = _loaded.get(key)
    if found is not None:
        return found
    with _loading:
        if key not in _loaded:
            merged: NullTranslations = NullTranslations()
            if language != ENGLISH:
                merged = Translations()
                for directory in reversed(directories):  # merge() lets later catalogues win
                    path = catalogue_path(directory, language)
                    if os.path.exists(path):
                        compiled = _compiled(path)
                        merged.merge(compiled)
                        merged.plural = compiled.plural  # merge() copies the messages, not the plural rule
            _loaded[key] = merged
        return _loaded[key]


def _compiled(path: str) -> Translations:
    with open(path, "rb") as po:
        catalogue = read_po(po, locale=os.path.basename(os.path.dirname(os.path.dirname(path))))
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer)


class _CatalogueDomain(Domain):  # type: ignore[misc]
    """Flask-Babel's domain, with catalogues compiled in memory from their ``.po`` files (see the module's note)."""

    def __init__(self, directories: Sequence[str]) -> None:
        super().__init__(translation_directories=list(directories))
        self._directories = tuple(directories)

    def get_translations(self) -> NullTranslations:
        locale = get_locale()
        return translations_for(self._directories, str(locale) if locale else ENGLISH)


class _AppBabel(Babel):  # type: ignore[misc]
    def __init__(self, app: Flask, directories: Sequence[str]) -> None:
        self._domain = _CatalogueDomain(directories)
        super().__init__(app, locale_selector=current_language)

    @property
    def domain_instance(self) -> Domain:
        return self._domain


def gettext(message: str, **variables: Any) -> str:
    """``message`` in the page's language, with ``%(name)s`` placeholders filled from ``variables``."""
    return str(flask_babel.gettext(message, **variables))


def ngettext(singular: str, plural: str, count: int, **variables: Any) -> str:
    """The form of the message for ``count`` in the page's language (Welsh has six); ``%(num)d`` is ``count``."""
    return str(flask_babel.ngettext(singular, plural, count, **variables))


def current_language() -> str:
    """The language of the page being built: chosen in this request, else remembered, else English."""
    if not has_request_context():
        return ENGLISH
    chosen = g.get("language")
    if chosen is None:
        chosen = _asked_for() or request.cookies.get(current_app.config.get(_COOKIE, ""), ENGLISH)
        if chosen not in LANGUAGES or not current_app.config.get(_COOKIE):
            chosen = ENGLISH
        g.language = chosen
    return str(chosen)


def _asked_for() -> str | None:
    """A language this request asks for: the toggle's ``?lang=``, or the hint sent with a SAML message (posted
    beside it, or in the query string of the Redirect binding)."""
    asked = request.args.get(QUERY_PARAMETER) or request.args.get(HINT_FIELD)  # the hint beside a Redirect binding
    if asked is None and request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        try:
            asked = request.form.get(HINT_FIELD)
        except HTTPException:  # a body the app refused (too large, say): its error page is in the remembered one
            return None
    return asked if asked in LANGUAGES else None


def _remember(response: Response) -> Response:
    """Keep a language the request asked for in the app's cookie, for the rest of the browser's session."""
    asked = _asked_for()
    cookie = current_app.config[_COOKIE]
    if asked is not None and request.cookies.get(cookie) != asked:
        response.set_cookie(cookie, asked, httponly=True, secure=request.is_secure, samesite="Lax")
    return response


def language_hint() -> dict[str, str]:
    """The field to post with a SAML message so that the next party shows the citizen's language: none for English."""
    language = current_language()  # English in an app without Welsh
    return {HINT_FIELD: language} if language != ENGLISH else {}


def toggle_links() -> list[dict[str, Any]]:
    """GOV.UK's language toggle: each language, the current one marked, the others as links to this page in them.

    None on a page the browser cannot ask for again with GET (the answer to a posted SAML message, say): such a
    page moves on by itself, and a link to it would lead to "You cannot use this page in that way".
    """
    if not current_app.config.get(_COOKIE):
        return []
    rule = request.url_rule
    if rule is not None and "GET" not in (rule.methods or ()):
        return []
    current = current_language()
    links = []
    for code, name in LANGUAGES.items():
        args = MultiDict(request.args)
        args[QUERY_PARAMETER] = code
        query = urlencode(list(args.items(multi=True)))
        links.append(
            {
                "code": code,
                "name": name,
                "sentence": _SWITCH_TO[code],
                "current": code == current,
                "href": f"{request.path}?{query}",
            }
        )
    return links


def init_language(app: Flask, translations: str | Sequence[str] | None) -> None:
    """English and Welsh pages for ``app``, from its catalogues (a folder, or several, the first winning) over the
    federation's; ``None``: English only (the operators' dashboard, which no citizen sees)."""
    own = [translations] if isinstance(translations, str) else list(translations or ())
    _AppBabel(app, [*own, FEDERATION_TRANSLATIONS])
    if own:
        app.config[_COOKIE] = f"{app.name.split('.')[0]}_language"
        app.after_request(_remember)
    app.jinja_env.globals.update(current_language=current_language, language_toggle=toggle_links)
