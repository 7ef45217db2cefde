"""A real browser: Debian's Chromium driven by Playwright, with and without JavaScript, and axe-core."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.browser.citizen import Citizen
from tests.conftest import LiveFederation, start_federation

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("Debian's chromium is not installed (apt-get install chromium): the browser tests need it")
    browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def live(keys_dir: Path, redis_server: object) -> Iterator[LiveFederation]:
    """The federation for a module of browser tests, sharing the session's real Redis."""
    federation, servers = start_federation(keys_dir, getattr(redis_server, "url"))
    yield federation
    for server in servers:
        server.shutdown()


@pytest.fixture(params=["javascript", "no-javascript"])
def page(request: pytest.FixtureRequest, chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(java_script_enabled=request.param == "javascript")
    context.set_default_timeout(15_000)
    browser_page = context.new_page()
    yield browser_page
    context.close()


class AccessibilityError(AssertionError):
    pass


def check_accessibility(page: Page) -> None:
    """Run axe-core on the page as it stands: zero violations of WCAG 2.2 A and AA."""
    if not AXE.exists():
        pytest.fail("axe-core is not installed: run `npm ci` (make test does)")
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})", AXE_TAGS
    )
    violations = [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]
    if violations:
        raise AccessibilityError(f"{page.url}: {json.dumps(violations, indent=1)}")


@pytest.fixture()
def citizen(page: Page, live: LiveFederation, request: pytest.FixtureRequest) -> Citizen:
    """A citizen at ``page``'s browser, with JavaScript on or off as ``page`` was made."""
    javascript = request.node.callspec.params["page"] == "javascript"
    return Citizen(page, live, javascript=javascript, check_accessibility=check_accessibility)
