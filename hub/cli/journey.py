"""A test journey through the hub as a browser without JavaScript, for relying-service teams.

From the service's start URL the driver follows redirects and forms through the hub's pages (README,
"Automation contract"), picks a stub identity provider, signs in as a seeded test user or presses a
non-success outcome, and finally posts the hub's Response to the service's ACS. It reports the SAML status the
hub sent (the Response's Status is never encrypted) and the HTTP status the service's ACS answered.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import lxml.html
import requests
from lxml import etree

from federation.errors import FederationError
from federation.saml.bindings import decode_post, decode_redirect
from federation.saml.checks import read_status
from federation.saml.xml import q, to_bytes

MAX_STEPS = 40


@dataclass(frozen=True)
class Scenario:
    """What the pretend citizen does: sign in as a seeded user (README) or press an outcome at the IDP."""

    name: str
    description: str
    username: str | None = None
    outcome: str | None = None
    decision: str = "agree"
    level: str | None = None
    cycle3: str = "AB 65 43 21 C"  # a National Insurance number no seeded record has
    cancel_cycle3: bool = False
    # Sign in as a new test person registered at the stub company for this run alone: nobody any department
    # holds, and nobody an earlier run made an account for, so the scenario ends the same however often it runs.
    new_person: bool = False


_ALL = (
    Scenario("match", "signs in as alice and agrees", username="alice"),
    Scenario(
        "no-match",
        "signs in as a new test person, answers any extra question with a number nobody has",
        new_person=True,
    ),
    Scenario("cancel", "cancels at the company", outcome="cancel"),
    Scenario("authn-failed", "cannot sign in at the company", outcome="authn-failed"),
    Scenario("pending", "pauses registration at the company", outcome="pending"),
    Scenario("requester-error", "the company refuses the request", outcome="requester-error"),
    Scenario("refuse-consent", "signs in as alice but refuses to share", username="alice", decision="refuse"),
    Scenario("fraud", "signs in as alice, and the company reports a fraud event", username="alice", level="LEVEL_X"),
    Scenario(
        "cycle3-cancel",
        "signs in as a new test person, declines any extra question",
        new_person=True,
        cancel_cycle3=True,
    ),
)
SCENARIOS = {scenario.name: scenario for scenario in _ALL}


class JourneyError(Exception):
    """The journey could not go on; the message says where and why."""


@dataclass(frozen=True)
class SamlPost:
    """A SAML message about to be posted by the browser: from which page, to where, with which fields."""

    page_url: str
    action: str
    fields: dict[str, str]

    @property
    def element(self) -> etree._Element:
        name = "SAMLResponse" if "SAMLResponse" in self.fields else "SAMLRequest"
        return decode_post(self.fields[name], name)


@dataclass
class JourneyResult:
    scenario: str
    completed: bool = False
    saml_status: str = ""
    saml_sub_status: str = ""
    acs_status: int | None = None
    problem: str = ""
    response: bytes | None = None  # the hub's Response as posted to the service
    messages: list[SamlPost] = field(default_factory=list)
    stopped_at: SamlPost | None = None

    @property
    def passed(self) -> bool:
        return self.completed and self.acs_status is not None and self.acs_status < 400


def short_status(uri: str) -> str:
    """``urn:oasis:names:tc:SAML:2.0:status:Responder`` → ``Responder``; GOV.UK's ``…:statuscode:no-match`` likewise."""
    return uri.rsplit(":", 1)[-1] if uri else ""


class JourneyDriver:
    """One citizen's browser. ``stop_before`` may halt before any SAML post, so a test can alter the message."""

    def __init__(
        self,
        start_url: str,
        *,
        idp: str | None = None,
        evidence: tuple[str, ...] = ("photo_id",),
        timeout: float = 30,
        wait_seconds: float = 60,
        stop_before: Callable[[SamlPost], bool] | None = None,
    ) -> None:
        self.start_url, self.idp, self.evidence = start_url, idp, evidence
        self.timeout, self.wait_seconds, self.stop_before = timeout, wait_seconds, stop_before
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "ida-hub self-check"
        self._service_request_id: str | None = None
        self._hub_origin: str | None = None
        self._new_person: dict[str, str] | None = None  # the registration form of this run's new test person

    def run(self, scenario: Scenario) -> JourneyResult:
        result = JourneyResult(scenario.name)
        self._new_person = None
        try:
            self._drive(scenario, result)
        except JourneyError as exc:
            result.problem = str(exc)
        except requests.RequestException as exc:
            result.problem = f"could not reach {getattr(exc.request, 'url', None) or 'a page'}: {type(exc).__name__}"
        return result

    def _drive(self, scenario: Scenario, result: JourneyResult) -> None:
        response = self._get(self.start_url)
        deadline, steps = time.monotonic() + self.wait_seconds, 0
        while steps < MAX_STEPS:
            self._note_redirected_request(response)
            refresh = _refresh_url(response)
            if refresh is not None:  # the hub's waiting page while matching runs: not a step
                if time.monotonic() > deadline:
                    raise JourneyError(f"still waiting at {response.url} after {self.wait_seconds:.0f} seconds")
                time.sleep(0.25)
                response = self._get(refresh)
                continue
            steps += 1
            page = _html(response)
            saml = _saml_form(page, response.url)
            if saml is not None:
                next_response = self._saml_step(saml, result)
                if next_response is None:
                    return
                response = next_response
                continue
            response = self._page_step(page, response, scenario)
        raise JourneyError(f"gave up after {MAX_STEPS} pages, at {response.url}")

    def _saml_step(self, saml: SamlPost, result: JourneyResult) -> requests.Response | None:
        try:
            element = saml.element
        except FederationError as exc:
            raise JourneyError(f"unreadable SAML message on {saml.page_url}: {exc.detail}") from exc
        result.messages.append(saml)
        final = "SAMLResponse" in saml.fields and self._is_hubs_answer(element, saml)
        if "SAMLRequest" in saml.fields and self._service_request_id is None:
            self._service_request_id, self._hub_origin = element.get("ID"), _origin(saml.action)
        if final:
            try:
                status = read_status(element)
            except FederationError as exc:
                raise JourneyError(f"the hub's Response has no status we can read: {exc.detail}") from exc
            result.saml_status, result.saml_sub_status = status.code, status.sub_code or ""
            result.response = to_bytes(element)
        if self.stop_before is not None and self.stop_before(saml):
            result.stopped_at = saml
            return None
        if not final:
            return self.session.post(saml.action, data=saml.fields, timeout=self.timeout)
        answer = self.session.post(saml.action, data=saml.fields, timeout=self.timeout, allow_redirects=False)
        result.completed, result.acs_status = True, answer.status_code
        if answer.status_code >= 400:
            result.problem = f"the service's ACS answered HTTP {answer.status_code} to the hub's Response"
        return None

    def _is_hubs_answer(self, element: etree._Element, saml: SamlPost) -> bool:
        if element.tag != q("samlp", "Response"):
            return False
        if self._service_request_id is not None:
            return element.get("InResponseTo") == self._service_request_id
        return self._hub_origin is not None and _origin(saml.page_url) == self._hub_origin

    def _note_redirected_request(self, response: requests.Response) -> None:
        """A service using the HTTP-Redirect binding sends its AuthnRequest in a redirect's query string."""
        if self._service_request_id is not None:
            return
        for hop in [*response.history, response]:
            query = urlsplit(hop.url).query
            if "SAMLRequest=" in query:
                try:
                    element = decode_redirect(query.encode()).element
                except FederationError:
                    continue
                self._service_request_id, self._hub_origin = element.get("ID"), _origin(hop.url)
                return

    def _page_step(
        self, page: lxml.html.HtmlElement, response: requests.Response, scenario: Scenario
    ) -> requests.Response:
        url = response.url
        answer = self._idp_step(page, url, scenario) or self._hub_step(page, url, scenario)
        if answer is not None:
            return answer
        if response.status_code >= 400:
            raise JourneyError(f"HTTP {response.status_code} at {url}: {_heading(page)}")
        forms = _main_forms(page)
        if forms:  # the service's start page: a "Start now" form
            return self._post_form(forms[0], url, {})
        for link in page.xpath("//main//a[contains(concat(' ', @class, ' '), ' govuk-button ')]"):
            return self._get(urljoin(url, str(link.get("href"))))  # the hub's start page: "Start now"
        raise JourneyError(f"did not know what to do at {url} ({_heading(page)})")

    def _idp_step(self, page: lxml.html.HtmlElement, url: str, scenario: Scenario) -> requests.Response | None:
        """The stub IDP's sign-in page (or one of its outcome buttons), its registration page, then consent."""
        if page.get_element_by_id("register-form", None) is not None and self._new_person is not None:
            return self._submit(page, url, "register-form", self._new_person)
        if page.get_element_by_id("sign-in-form", None) is not None:
            if scenario.outcome:
                return self._submit(page, url, "outcome-form", {"outcome": scenario.outcome})
            if scenario.new_person and self._new_person is None:
                self._new_person = _new_person()
                link = page.get_element_by_id("register-link", None)
                if link is None:
                    raise JourneyError(f"no way to register a new test person at {url}")
                return self._get(urljoin(url, str(link.get("href"))))
            if self._new_person is not None:
                credentials = {key: self._new_person[key] for key in ("username", "password")}
                return self._submit(page, url, "sign-in-form", credentials)
            if not scenario.username:
                raise JourneyError(f"scenario {scenario.name} has nobody to sign in as")
            return self._submit(page, url, "sign-in-form", {"username": scenario.username, "password": "password"})
        if page.get_element_by_id("consent-form", None) is not None:
            fields = {"decision": scenario.decision}
            if scenario.level:
                fields["level"] = scenario.level
            return self._submit(page, url, "consent-form", fields)
        return None

    def _hub_step(self, page: lxml.html.HtmlElement, url: str, scenario: Scenario) -> requests.Response | None:
        """The hub's pages: an exit page's way back, the extra question, the evidence question, the companies."""
        forms = _main_forms(page)
        back = next((f for f in forms if str(f.get("action", "")).endswith("/return-to-service")), None)
        if back is not None:
            return self._post_form(back, url, {})
        if scenario.cancel_cycle3 and _form_with(forms, "cycle3") is not None:
            cancel = next((f for f in forms if str(f.get("action", "")).endswith("/cancel")), None)
            if cancel is None:
                raise JourneyError(f"no way to decline the extra question on {url}")
            return self._post_form(cancel, url, {})
        cycle3 = _new_national_insurance_number() if scenario.new_person else scenario.cycle3
        answers: dict[str, str | list[str]] = {"cycle3": cycle3, "evidence": list(self.evidence)}
        for name, value in answers.items():
            form = _form_with(forms, name)
            if form is not None:
                return self._post_form(form, url, {name: value})
        form = _form_with(forms, "company")
        if form is not None:
            return self._post_form(form, url, {"company": self._company(form, url)})
        return None

    def _company(self, form: lxml.html.HtmlElement, url: str) -> str:
        options = [node for node in form.xpath(".//input[@name='company']") if node.get("disabled") is None]
        for node in options:
            value = str(node.get("value", ""))
            label = " ".join(node.xpath("string(following-sibling::label[1])").split())
            if self.idp is None or self.idp in (value, label) or value.rstrip("/").split("/")[-3:-2] == [self.idp]:
                return value
        raise JourneyError(f"identity provider {self.idp or '(any)'} is not offered on {url}")

    def _submit(
        self, page: lxml.html.HtmlElement, url: str, form_id: str, fields: Mapping[str, str | list[str]]
    ) -> requests.Response:
        return self._post_form(page.get_element_by_id(form_id), url, fields)

    def _post_form(
        self, form: lxml.html.HtmlElement, url: str, fields: Mapping[str, str | list[str]]
    ) -> requests.Response:
        data = {**_form_values(form), **fields}
        action = urljoin(url, str(form.get("action") or url))
        if str(form.get("method", "get")).lower() != "post":
            return self._get(action, data)
        return self.session.post(action, data=data, timeout=self.timeout)

    def _get(self, url: str, params: dict[str, str | list[str]] | None = None) -> requests.Response:
        return self.session.get(url, params=params, timeout=self.timeout)


def _new_person() -> dict[str, str]:
    """A test person nobody has seen: a random surname and date of birth, registered at level 2."""
    tag = secrets.token_hex(4)
    # Born 1970 to 1999: never in 1968, the year the stub matching service answers late for (README, sam).
    born = dt.date(1970, 1, 1) + dt.timedelta(days=secrets.randbelow(365 * 30))
    return {
        "first_name": "Pat",
        "surname": f"Selfcheck{tag}",
        "date_of_birth-day": str(born.day),
        "date_of_birth-month": str(born.month),
        "date_of_birth-year": str(born.year),
        "gender": "NOT_SPECIFIED",
        "address_line_1": "1 Test Street",
        "address_town": "Testtown",
        "postcode": "ZZ99 9ZZ",
        "username": f"selfcheck-{tag}",
        "password": secrets.token_urlsafe(12),
        "level": "LEVEL_2",
    }


def _new_national_insurance_number() -> str:
    """A well-formed National Insurance number, different each run, so no earlier run's account has it."""
    return f"AB{secrets.randbelow(1_000_000):06d}C"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _refresh_url(response: requests.Response) -> str | None:
    """Where a page's meta refresh sends a browser without JavaScript (the hub's waiting page has one in
    ``<noscript>``), or None for a page without one."""
    if "html" not in response.headers.get("Content-Type", "") or not response.content:
        return None
    for meta in _html(response).xpath('//meta[@http-equiv="refresh"]'):
        _, _, target = str(meta.get("content", "")).partition("url=")
        return urljoin(response.url, target.strip()) if target.strip() else response.url
    return None


def _html(response: requests.Response) -> lxml.html.HtmlElement:
    if "html" not in response.headers.get("Content-Type", "") or not response.content:
        raise JourneyError(f"HTTP {response.status_code} at {response.url} is not a web page")
    return lxml.html.document_fromstring(response.content, base_url=response.url)


def _heading(page: lxml.html.HtmlElement) -> str:
    headings = page.xpath("//h1")
    return " ".join(headings[0].text_content().split()) if headings else "no heading"


def _main_forms(page: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    return list(page.xpath("//main//form") or page.xpath("//form"))


def _form_with(forms: list[lxml.html.HtmlElement], name: str) -> lxml.html.HtmlElement | None:
    return next((form for form in forms if form.xpath(f".//input[@name='{name}']")), None)


def _saml_form(page: lxml.html.HtmlElement, url: str) -> SamlPost | None:
    for form in page.xpath("//form"):
        values = _form_values(form)
        if "SAMLRequest" in values or "SAMLResponse" in values:
            action = urljoin(url, str(form.get("action") or url))
            return SamlPost(url, action, {k: v for k, v in values.items() if isinstance(v, str)})
    return None


def _form_values(form: lxml.html.HtmlElement) -> dict[str, str | list[str]]:
    """What a browser would send before anything is typed: hidden and text inputs, checked boxes, selections."""
    values: dict[str, str | list[str]] = {}
    for node in form.xpath(".//input[@name] | .//select[@name] | .//textarea[@name]"):
        name, kind = str(node.get("name")), str(node.get("type", "text")).lower()
        if node.tag == "select":
            chosen = node.xpath(".//option[@selected]") or node.xpath(".//option")
            values[name] = str(chosen[0].get("value", chosen[0].text_content())) if chosen else ""
        elif node.tag == "textarea":
            values[name] = node.text_content()
        elif kind in ("submit", "button", "image", "reset", "file"):
            continue
        elif kind in ("checkbox", "radio") and node.get("checked") is None:
            continue
        else:
            values[name] = str(node.get("value", ""))
    return values
