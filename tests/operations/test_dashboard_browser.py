"""The dashboard in a real browser, with JavaScript on and off: it renders and the period form and the
figures' details work. With JavaScript on (axe needs it) axe finds nothing (WCAG 2.2 A and AA) and a
screenshot is saved to /tmp/dashboard.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import DROPPED_STATIC_FILE, check_accessibility
from tests.operations.conftest import cancelled, matched, operations_for, serving
from tests.support import RedisServer, start_federation

pytestmark = [
    DROPPED_STATIC_FILE,
    pytest.mark.filterwarnings(
        r"ignore:unclosed file <_io\.BufferedReader name='[^']*/hub/operations/static/:ResourceWarning"
    ),
]
SCREENSHOT = Path("/tmp/dashboard.png")
CHARTS = (
    "Journeys started and completed, per 5 minutes",
    "Journeys reaching each step",
    "Identity verified, by certified company",
    "Matching outcome, by service",
)


@pytest.fixture(scope="module")
def dashboard(keys_dir: Path, redis_server: RedisServer) -> Iterator[str]:
    """The operations app's URL, after 3 matched journeys and 1 cancelled one through the live federation."""
    redis_server.client.flushall()
    live, servers = start_federation(keys_dir, redis_server.url)
    try:
        for _ in range(3):
            matched(live)
        cancelled(live)
        with serving(operations_for(live)) as url:
            yield url
    finally:
        for server in servers:
            server.shutdown()


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_dashboard_renders_its_figures_and_charts_and_passes_axe(
    chromium: Browser,  # noqa: F811
    dashboard: str,
    javascript: bool,
) -> None:
    context = chromium.new_context(java_script_enabled=javascript, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto(f"{dashboard}/?period=hour")
        expect(page).to_have_title("Hub performance – Hub operations – GOV.UK")
        expect(page.get_by_role("heading", level=1)).to_have_text("Hub performance")
        summary = page.locator("#summary")
        expect(summary.locator(".app-card").first).to_contain_text("Journeys started 4")
        expect(summary).to_contain_text("Signed in 75% 3 of 4 completed journeys")
        expect(summary).to_contain_text("Median time to sign in 30 s or less")
        for name in CHARTS:
            expect(page.get_by_role("img", name=name)).to_be_visible()
        if javascript:
            check_accessibility(page)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

        page.get_by_text("Journey steps, as a table").click()
        steps = page.get_by_role("table", name="Journeys reaching each step")
        expect(steps).to_be_visible()
        expect(steps.get_by_role("row", name=re.compile(r"^Identity verified 3 75% 1 25%"))).to_be_visible()
        if javascript:
            check_accessibility(page)

        page.get_by_label("Period").select_option(label="Last 7 days")
        page.get_by_role("button", name="Show").click()
        expect(page).to_have_url(re.compile(r"/\?period=week$"))
        expect(page.locator("#period-description")).to_contain_text("Last 7 days: from ")
        expect(page.get_by_role("img", name="Journeys started and completed, per day")).to_be_visible()
        if javascript:
            check_accessibility(page)
    finally:
        context.close()
