"""SAML's HTTP-POST binding in a page: reading a posted message, and a form that posts one on."""

from __future__ import annotations

import base64
from typing import Any

from flask import (
    g,
    render_template,
    request,
)
from lxml import etree

from federation.saml.bindings import decode_post
from federation.saml.xml import to_bytes
from federation.web.language import gettext, language_hint


def read_posted_message(field: str) -> etree._Element:
    """Decode and parse a base64 SAML message from a POST form field (the HTTP-POST binding)."""
    return decode_post(request.form.get(field, ""), field)


def post_form(
    url: str,
    fields: dict[str, str],
    *,
    title: str,
    button: str | None = None,
    lead: str | None = None,
    next_step: str | None = None,
    **context: Any,
) -> str:
    """An HTML form that posts ``fields`` to ``url``: submits itself with JavaScript, shows a button without.

    Without JavaScript the citizen reads the page, so say where the button goes (``button``: "Continue to …"),
    what has happened (``lead``) and what happens there (``next_step``). ``context`` goes to the template too
    (``service_name``, say, for the header). The citizen's language goes with the message when it is not English
    (``language.language_hint``), so that the next party's pages are in it too.
    """
    g.no_store = True
    return render_template(
        "federation/post_form.html",
        url=url,
        fields=fields | language_hint(),
        title=title,
        button=button or gettext("Continue"),
        lead=lead,
        next_step=next_step,
        **context,
    )


def encode_message(element: etree._Element) -> str:
    return base64.b64encode(to_bytes(element)).decode("ascii")
