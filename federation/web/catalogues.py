"""The Welsh catalogues: the messages each app's pages use, and how far its catalogue covers them.

``python -m federation.web.catalogues`` (``make translations``) extracts every message from the code and the
templates and updates each app's ``translations/cy/LC_MESSAGES/messages.po``: new messages come in with no
translation, messages no page uses any more go. It then says what is left to translate. The tests read the same
extraction (``tests/federation/test_catalogues.py``), so a message added without its Welsh fails them.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from federation.web.language import FEDERATION_TRANSLATIONS, WELSH, catalogue_path

ROOT = os.path.dirname(os.path.dirname(FEDERATION_TRANSLATIONS))
# Where no citizen or tester reads: the operators' dashboard and command-line tool stay in English.
_METHODS = [
    ("**/operations/**", "ignore"),
    ("**/cli/**", "ignore"),
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2"),
]
_KEYWORDS = dict(DEFAULT_KEYWORDS)
_COMMENT_TAGS = ("Translators:",)


@dataclass(frozen=True)
class AppCatalogue:
    """One app's package folder and its catalogue's folder; ``reads``: the packages whose catalogues the app reads
    too (code it shares with them), whose messages its own catalogue leaves out."""

    package: str
    reads: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return os.path.join(ROOT, self.package)

    @property
    def translations(self) -> str:
        return os.path.join(self.source, "translations")

    @property
    def path(self) -> str:
        return catalogue_path(self.translations, WELSH)


# The shared layout, error pages and forms first: the apps' catalogues leave out what it already has.
APPS = (
    AppCatalogue("federation"),
    AppCatalogue("hub"),
    AppCatalogue("stub_idp"),
    AppCatalogue("stub_idp_pysaml2", reads=("stub_idp",)),
    AppCatalogue("stub_service"),
)


def _extract(package: str) -> Iterator[tuple[str, int, str | tuple[str, ...], list[str], str | None]]:
    """(file, line, message, comments, context) for each message ``package``'s code and templates mark."""
    return extract_from_dir(
        os.path.join(ROOT, package), _METHODS, keywords=_KEYWORDS, comment_tags=_COMMENT_TAGS, strip_comment_tags=True
    )


def _key(message: str | tuple[str, ...], context: str | None) -> object:
    """A message as a catalogue keys it: its (singular) text, with its context if it has one."""
    text = message if isinstance(message, str) else message[0]
    return text if context is None else (text, context)


@functools.cache
def _marked_in(package: str) -> frozenset[object]:
    """The keys of every message ``package`` marks (read once a process: the apps' catalogues leave them out)."""
    return frozenset(_key(message, context) for _, _, message, _, context in _extract(package))


def extracted(app: AppCatalogue) -> Catalog:
    """Every message ``app``'s code and templates mark, as a template catalogue, without the shared ones."""
    shared = set().union(*(_marked_in(package) for package in ("federation", *app.reads) if package != app.package))
    template = Catalog(locale=None, project="ida-hub", creation_date=datetime(2026, 1, 1))
    for filename, lineno, message, comments, context in _extract(app.package):
        if _key(message, context) in shared:
            continue
        where = [(os.path.join(app.package, filename), lineno)]
        template.add(message, None, where, auto_comments=comments, context=context)
    return template


def read(app: AppCatalogue) -> Catalog:
    with open(app.path, "rb") as po:
        return read_po(po, locale=WELSH)


def update(app: AppCatalogue) -> Catalog:
    """Bring ``app``'s Welsh catalogue into line with its code: add new messages, drop unused ones."""
    template = extracted(app)
    if os.path.exists(app.path):
        catalogue = read(app)
        catalogue.update(template, no_fuzzy_matching=True)
        catalogue.obsolete.clear()
    else:
        catalogue = Catalog(locale=WELSH, project="ida-hub", fuzzy=False)
        catalogue.update(template, no_fuzzy_matching=True)
    os.makedirs(os.path.dirname(app.path), exist_ok=True)
    with open(app.path, "wb") as po:
        write_po(po, catalogue, width=120, omit_header=False, sort_output=False, include_previous=False)
    return catalogue


def untranslated(catalogue: Catalog) -> Iterator[Message]:
    for message in catalogue:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        if message.fuzzy or not all(strings):
            yield message


def main() -> int:
    left = 0
    for app in APPS:
        catalogue = update(app)
        missing = list(untranslated(catalogue))
        left += len(missing)
        total = sum(1 for message in catalogue if message.id)
        print(f"{os.path.relpath(app.path, ROOT)}: {total} messages, {len(missing)} to translate")
        for message in missing[:20]:
            print(f"  {message.id!r}")
    print("Translate what is new in the .po files, then run the tests." if left else "Every message has its Welsh.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
