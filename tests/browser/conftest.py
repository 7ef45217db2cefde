"""A real browser: Debian's Chromium driven by Playwright, with and without JavaScript, and axe-core."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.citizen import Citizen
from tests.support import LiveFederation, RedisServer, start_federation

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# As long as an action waits (the context's default below): a shared CI machine can be slow to load a page.
expect.set_options(timeout=15_000)
# werkzeug's development server, which serves the apps here (tests/support.py), leaves a static file to the
# garbage collector when a browser drops the connection mid-response, as browsers do when a page moves on while
# its assets load: in serving.py's execute(), rfile.read() raises ConnectionResetError before
# application_iter.close(). Browser test modules ignore exactly that warning (pytestmark = DROPPED_STATIC_FILE).
DROPPED_STATIC_FILE = pytest.mark.filterwarnings(
    r"ignore:unclosed file <_io\.BufferedReader name='[^']*/federation/static/:ResourceWarning"
)


@contextmanager
def federation_running(keys_dir: Path, redis_server: RedisServer, **settings: object) -> Iterator[LiveFederation]:
    """The three apps on free loopback ports, sharing the session's real Redis, with ``settings`` overridden."""
    federation, servers = start_federation(keys_dir, redis_server.url, **settings)
    try:
        yield federation
    finally:
        for server in servers:
            server.shutdown()


@pytest.fixture(scope="module")
def live(keys_dir: Path, redis_server: RedisServer) -> Iterator[LiveFederation]:
    """The federation for a module of browser tests, sharing the session's real Redis."""
    with federation_running(keys_dir, redis_server) as federation:
        yield federation


@pytest.fixture(autouse=True)
def empty_store(redis_server: RedisServer) -> None:
    """Each test starts from an empty Redis, as if on a fresh federation: a record made by account creation
    would otherwise make the next journey for the same person match."""
    redis_server.client.flushall()


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
