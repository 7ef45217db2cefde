"""The few HTML pages the toolkit service providers serve: a page that posts a SAML message, and errors."""

from __future__ import annotations

from html import escape

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><main><h1>{title}</h1>{body}</main></body></html>"""


def post_form(url: str, fields: dict[str, str], title: str = "Continue to sign in") -> str:
    """An HTML form with ``id="saml-form"``, as the hub's automation contract names its own SAML forms."""
    inputs = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">' for name, value in fields.items()
    )
    body = f'<form id="saml-form" method="post" action="{escape(url)}">{inputs}<button>Continue</button></form>'
    return _PAGE.format(title=escape(title), body=body)
