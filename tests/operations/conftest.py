"""The operations app beside a live federation, and its dashboard read as an operator would read it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bs4 import BeautifulSoup, Tag
from flask import Flask

from hub import operations
from tests.journeys.drive import PAYE, Journey, idp_entity
from tests.support import Citizen, LiveFederation, Page, serve, stop, url_of


def operations_for(live: LiveFederation, **config: object) -> Flask:
    """The operations app reading what ``live``'s hub counts: the same Redis, or the hub's own memory."""
    hub_runtime = live.apps["hub"].extensions["runtime"]
    redis_url = hub_runtime.settings.redis_url
    if redis_url is None:
        return operations.create_app(config, runtime=hub_runtime)
    return operations.create_app(
        {"keys_dir": live.keys_dir, "urls": live.urls, "redis_url": redis_url, "testing": True, **config}
    )


@dataclass
class DashboardPage:
    """The dashboard's figures by what an operator reads: card labels, table headings and row names."""

    soup: BeautifulSoup

    def card(self, label: str) -> str:
        for card in self.soup.select("#summary .app-card"):
            if _text(card.select_one(".app-card__label")) == label:
                return _text(card.select_one(".app-card__value"))
        raise AssertionError(f"no card {label!r}")

    def card_hint(self, label: str) -> str:
        for card in self.soup.select("#summary .app-card"):
            if _text(card.select_one(".app-card__label")) == label:
                return _text(card.select_one(".app-card__hint"))
        raise AssertionError(f"no card {label!r}")

    def table(self, name: str) -> dict[str, dict[str, str]]:
        """The table behind chart ``name``: {first cell: {column heading: cell}}."""
        table = self.soup.select_one(f"#{name}-figures table")
        assert table is not None, f"no table for {name}"
        headings = [_text(th) for th in table.select("thead th")]
        rows = {}
        for row in table.select("tbody tr"):
            cells = [_text(cell) for cell in row.select("th, td")]
            rows[cells[0]] = dict(zip(headings, cells, strict=True))
        return rows

    def chart_summary(self, name: str) -> str:
        return _text(self.soup.select_one(f"#{name}-chart-desc"))

    @property
    def description(self) -> str:
        return _text(self.soup.select_one("#period-description"))


def _text(node: Tag | None) -> str:
    assert node is not None
    return node.get_text(" ", strip=True)


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """``app`` over real HTTP on a free loopback port, as an operator's browser would meet it."""
    server = serve(app)
    try:
        yield url_of(server)
    finally:
        stop([server])


def read_dashboard(app: Flask, period: str = "day") -> DashboardPage:
    """The dashboard for ``period``, fetched over HTTP and given the check every page gets (one h1, ids…)."""
    with serving(app) as url:
        page: Page = Citizen().get(f"{url}/?period={period}")
    assert page.status == 200, page.status
    return DashboardPage(page.soup)


def matched(live: LiveFederation, username: str = "alice") -> Page:
    """A journey that ends signed in to the PAYE service; returns the service's page."""
    journey = Journey(live)
    return journey.to_service(journey.sign_in(username))


def cancelled(live: LiveFederation) -> None:
    """A journey the citizen cancels at the company, then goes back to the service."""
    journey = Journey(live)
    journey.return_to_service(journey.idp_outcome("cancel"))


def abandoned_at_the_hub(live: LiveFederation) -> None:
    """A journey the citizen leaves at the hub's first page, before choosing a company."""
    citizen = Citizen()
    start = citizen.get(f"{live.urls['stub_service']}/{PAYE}/")
    hub_start = citizen.submit(citizen.submit(start), selector="#saml-form")
    assert hub_start.h1 == "Prove your identity to continue"


def cancelled_then_matched_at_another_company(live: LiveFederation) -> Page:
    """One journey: cancelled at Stub IDP One, then 'Try another company', Two, and matched."""
    journey = Journey(live)
    journey.idp_outcome("cancel")
    citizen = journey.citizen
    choose = citizen.get(live.urls["hub"] + "/choose-a-certified-company")
    login = citizen.submit(citizen.submit(choose, {"company": idp_entity(live, "stub-idp-two")}), selector="#saml-form")
    consent = citizen.submit(login, {"username": "alice", "password": "password"}, selector="#sign-in-form")
    back = citizen.submit(consent, {"decision": "agree", "gpg45_status": "DF01"}, selector="#consent-form")
    return journey.to_service(citizen.wait(citizen.submit(back, selector="#saml-form")))
