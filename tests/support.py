"""A citizen's browser without JavaScript: follows links, fills in and submits forms, reads pages."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urljoin

import requests
from bs4 import BeautifulSoup, Tag


@dataclass
class Page:
    response: requests.Response
    soup: BeautifulSoup

    @property
    def url(self) -> str:
        return self.response.url

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def h1(self) -> str:
        headings = self.soup.select("h1")
        assert len(headings) == 1, f"expected one h1 on {self.url}, found {len(headings)}"
        return headings[0].get_text(" ", strip=True)

    def text(self, selector: str) -> str:
        node = self.soup.select_one(selector)
        assert node is not None, f"{selector} not found on {self.url}"
        return node.get_text(" ", strip=True)

    def form(self, selector: str = "form") -> Tag:
        node = self.soup.select_one(selector)
        assert node is not None, f"no {selector} on {self.url}"
        return node

    def hidden(self, name: str, selector: str = "form") -> str:
        node = self.form(selector).select_one(f'input[name="{name}"]')
        assert node is not None, f"no hidden {name} on {self.url}"
        return str(node["value"])


def check_page(page: Page) -> None:
    """What every page we serve must be: one h1, unique ids, a title, no traceback."""
    assert len(page.soup.select("h1")) == 1, page.url
    ids = [str(node["id"]) for node in page.soup.select("[id]")]
    assert len(ids) == len(set(ids)), f"duplicate ids on {page.url}"
    assert page.soup.title is not None and page.soup.title.get_text(strip=True)
    assert "Traceback" not in page.response.text


class Citizen:
    def __init__(self) -> None:
        self.http = requests.Session()
        self.pages: list[Page] = []

    def page(self, response: requests.Response) -> Page:
        page = Page(response, BeautifulSoup(response.text, "html.parser"))
        self.pages.append(page)
        if "text/html" in response.headers.get("Content-Type", ""):
            check_page(page)
        return page

    def get(self, url: str) -> Page:
        return self.page(self.http.get(url, timeout=30))

    def submit(self, page: Page, fields: dict[str, str | list[str]] | None = None, selector: str = "form") -> Page:
        """Submit a form as a browser would: its hidden and text inputs, checked boxes, plus ``fields``."""
        form = page.form(selector)
        data: dict[str, str | list[str]] = {}
        for node in form.select("input[name]"):
            kind = node.get("type", "text")
            if kind in ("radio", "checkbox") and not node.has_attr("checked"):
                continue
            if kind not in ("submit", "button"):
                data[str(node["name"])] = str(node.get("value", ""))
        data.update(fields or {})
        action = urljoin(page.url, str(form.get("action") or page.url))
        return self.page(self.http.post(action, data=data, timeout=30))

    def wait(self, page: Page, seconds: float = 20) -> Page:
        """Follow a waiting page's refresh (the Refresh header) until it stops refreshing."""
        deadline = time.monotonic() + seconds
        while "Refresh" in page.response.headers:
            assert time.monotonic() < deadline, f"still waiting at {page.url}"
            time.sleep(0.1)
            page = self.get(page.url)
        return page
