"""The benchmark's citizen: one complete PAYE journey over plain HTTP, as cheap on the CPU as it can be.

The tests' citizen (``tests/support.py``) parses every page with BeautifulSoup and checks it; on the 2 cores
the benchmark shares with the hub, that cost about 70 ms of CPU a journey, almost three times the hub's own,
and slowed the hub's answers for everyone. Here pages are parsed with lxml (C) and only what the next step
needs is read. What the journey proves is the same: the service's page shows the matched record.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from urllib.parse import urljoin

import requests
from lxml import html

PAYE = "check-your-paye-tax"
MATCHED_RECORD = "PAYE-1001"  # alice's record at the stub PAYE service

Hook = Callable[..., object]
_parsers = threading.local()


def _page(content: bytes) -> html.HtmlElement:
    """A page parsed with this thread's own parser: lxml.html's module parser, shared by the client threads,
    would have them share one libxml2 dictionary (see federation.saml.xml._parser)."""
    parser: html.HTMLParser | None = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = html.HTMLParser()
    return html.fromstring(content, parser=parser)


class JourneyFailedError(AssertionError):
    """The journey did not reach the page it should have."""


class LeanCitizen:
    """A browser without JavaScript: cookies, redirects, forms and the waiting page's meta refresh."""

    def __init__(self, on_response: Hook | None = None) -> None:
        self.http = requests.Session()
        if on_response is not None:
            self.http.hooks["response"].append(on_response)

    def get(self, url: str) -> requests.Response:
        return self._checked(self.http.get(url, timeout=30))

    def submit(
        self, page: requests.Response, fields: dict[str, str | list[str]] | None = None, form_id: str = ""
    ) -> requests.Response:
        """Post a form of ``page`` (the first, or the one with ``form_id``) with its values plus ``fields``."""
        document = _page(page.content)
        forms = document.xpath(f'//form[@id="{form_id}"]' if form_id else "//form")
        if not forms:
            raise JourneyFailedError(f"no form {form_id or ''} on {page.url}")
        form = forms[0]
        data: dict[str, str | list[str]] = dict(form.form_values())
        data.update(fields or {})
        action = urljoin(page.url, form.get("action") or page.url)
        return self._checked(self.http.post(action, data=data, timeout=30))

    def wait(self, page: requests.Response, seconds: float = 20) -> requests.Response:
        """Follow a waiting page's refresh until it stops refreshing (the hub's waiting page has a meta refresh
        in ``<noscript>``, which a browser without JavaScript follows)."""
        deadline = time.monotonic() + seconds
        while refreshes := _page(page.content).xpath('//meta[@http-equiv="refresh"]/@content'):
            if time.monotonic() > deadline:
                raise JourneyFailedError(f"still waiting at {page.url}")
            time.sleep(0.1)
            _, _, target = str(refreshes[0]).partition("url=")
            page = self.get(urljoin(page.url, target.strip()))
        return page

    @staticmethod
    def _checked(response: requests.Response) -> requests.Response:
        if response.status_code != 200:
            raise JourneyFailedError(f"HTTP {response.status_code} from {response.url}")
        return response


def reading(mean_seconds: float) -> Callable[[], None]:
    """A person's pause on a page before acting: random, ``mean_seconds`` on average (none when 0).

    Exponentially distributed, as arrivals at a server are: most pauses short, a few long.
    """
    if mean_seconds <= 0:
        return lambda: None
    return lambda: time.sleep(random.expovariate(1 / mean_seconds))


def matched_journey(urls: dict[str, str], on_response: Hook | None = None, think_seconds: float = 0.0) -> bool:
    """alice signs in to Check your PAYE tax through stub IDP one; whether the service found her record.

    ``think_seconds``: the mean pause on each of the six pages a person reads and acts on (the service's
    start page, the hub's three and the identity provider's two); the pages a browser posts on by itself
    are passed at once.
    """
    citizen, think = LeanCitizen(on_response), reading(think_seconds)
    start = citizen.get(f"{urls['stub_service']}/{PAYE}/")
    think()
    hub_start = citizen.submit(citizen.submit(start), form_id="saml-form")
    continue_links = _page(hub_start.content).xpath('//main//a[contains(@class, "govuk-button")]/@href')
    if not continue_links:
        raise JourneyFailedError(f"no Continue on {hub_start.url}")
    think()
    question = citizen.get(urljoin(hub_start.url, continue_links[0]))
    think()
    choose = citizen.submit(question, {"evidence": ["photo_id"]})
    think()
    to_idp = citizen.submit(choose, {"company": f"{urls['stub_idp']}/stub-idp-one/SAML2/metadata"})
    login = citizen.submit(to_idp, form_id="saml-form")
    think()
    consent = citizen.submit(login, {"username": "alice", "password": "password"}, form_id="sign-in-form")
    think()
    back = citizen.submit(consent, {"decision": "agree", "gpg45_status": "DF01"}, form_id="consent-form")
    answered = citizen.wait(citizen.submit(back, form_id="saml-form"))
    outcome = citizen.submit(answered, form_id="saml-form")
    return bool(_page(outcome.content).xpath(f'//*[@id="record-reference"][normalize-space()="{MATCHED_RECORD}"]'))
