"""Nothing personal in the dashboard's counters, in the dashboard for any period, or in /metrics.

Runs journeys that carry every kind of personal data the hub sees (matched, cycle 3, no match, account
creation, a fraud event, IDP outcomes) against a real Redis, then scans every stats key, field and value, the
dashboard's HTML and /metrics for the test users' names, dates of birth, addresses and postcodes, National
Insurance numbers, the IDPs' persistent IDs, the pairwise identifiers and the journeys' cookies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.journeys.drive import PAYE, PENSION, SELF_ASSESSMENT, Journey
from tests.operations.conftest import operations_for, serving
from tests.security.test_personal_data import _finish, _personal_values
from tests.support import Citizen, RedisServer, start_federation

pytestmark = pytest.mark.live  # its tests start the federation (or gunicorn) themselves

NINOS = {"SE123456C", "AB654321C", "SE 12 34 56 C", "AB 65 43 21 C"}


def _text(value: bytes | str) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def test_stats_keys_dashboard_and_metrics_hold_no_personal_data(keys_dir: Path, redis_server: RedisServer) -> None:
    redis_server.client.flushall()
    live, servers = start_federation(keys_dir, redis_server.url)
    secrets = _personal_values() | NINOS
    try:
        for service, username, level, nino in [
            (PAYE, "alice", None, ""),
            (PAYE, "erin", None, "SE 12 34 56 C"),
            (PENSION, "bob", None, "AB 65 43 21 C"),
            (SELF_ASSESSMENT, "harry", None, ""),
            (PAYE, "dan", "LEVEL_X", ""),
        ]:
            journey = Journey(live, service=service)
            _finish(journey, journey.sign_in(username, level=level, gpg45_status="FI01"), nino)
            secrets.add(journey.idp_persistent_id())
            secrets |= {
                page.text("#pairwise-id") for page in journey.citizen.pages if page.soup.select_one("#pairwise-id")
            }
            secrets |= {c.value for c in journey.citizen.http.cookies if c.name == "hub_journey" and c.value}
        journey = Journey(live)
        journey.return_to_service(journey.idp_outcome("cancel"))
        app = operations_for(live)
        with serving(app) as url:
            citizen = Citizen()
            pages = [
                citizen.get(f"{url}/?period={period}").response.text for period in ("hour", "day", "week", "month")
            ]
            metrics = citizen.http.get(f"{url}/metrics", timeout=10).text
    finally:
        for server in servers:
            server.shutdown()

    assert any(len(s) == 64 for s in secrets), "the scan must include a pairwise identifier"
    client = redis_server.client
    stored: list[str] = []
    for key in client.scan_iter("hub:stats:*"):
        stored.append(_text(key))
        assert client.type(key) == b"hash", key  # the counters are hashes of counts, nothing else
        stored += [f"{_text(name)}={_text(value)}" for name, value in client.hgetall(key).items()]
    assert any("|matched" in item for item in stored), "the scan must see the counters"
    assert "Journeys started" in pages[1] and "ida_journeys_total" in metrics
    for secret in secrets:
        for where, text in [("stats keys", "\n".join(stored)), ("dashboard", "\n".join(pages)), ("/metrics", metrics)]:
            assert secret not in text, f"{secret!r} found in {where}"
