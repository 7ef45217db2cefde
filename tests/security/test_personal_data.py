"""No personal data in any log line or left in the hub's store, across every branch of the journey.

Runs every branch against a real Redis with DEBUG logging, then scans everything logged and every key and
value the hub holds for each test user's dataset, National Insurance numbers, the IDPs' persistent IDs and
the pairwise identifiers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from stub_idp.users import load_users
from tests.journeys.drive import PAYE, PENSION, REFUND, SELF_ASSESSMENT, Journey
from tests.support import LiveFederation, Page, RedisServer, start_federation


@pytest.fixture(scope="module")
def live(keys_dir: Path, redis_server: RedisServer) -> Iterator[LiveFederation]:
    redis_server.client.flushall()
    federation, servers = start_federation(keys_dir, redis_server.url, log_level="DEBUG")
    yield federation
    for server in servers:
        server.shutdown()


def _personal_values() -> set[str]:
    values: set[str] = set()
    for user in load_users().values():
        data = user.dataset.model_dump(mode="json")
        for field in ("first_names", "middle_names", "surnames", "dates_of_birth"):
            values |= {str(item["value"]) for item in data[field]}
        for field in ("current_addresses", "previous_addresses"):
            for address in data[field]:
                values |= set(address["lines"]) | {address["postcode"]} - {None}
    return {v for v in values if len(v) >= 4}


def _finish(journey: Journey, page: Page, nino: str = "AB 65 43 21 C") -> None:
    """Answer cycle 3 if asked, then go back to the service from wherever the journey ended."""
    if page.soup.select_one("#cycle3") is not None:
        page = journey.citizen.wait(journey.citizen.submit(page, {"cycle3": nino}))
    if page.soup.select_one("#saml-form") is not None:
        journey.to_service(page)
    else:
        journey.return_to_service(page)


def _every_branch(live: LiveFederation) -> Iterator[Journey]:
    """Matched, cycle 3 (match and no match), account creation (made and failed), levels, fraud, IDP outcomes."""
    branches = [
        (PAYE, "alice", None, "AB 65 43 21 C"),
        (PAYE, "erin", None, "SE 12 34 56 C"),
        (PAYE, "bob", None, "AB 65 43 21 C"),
        (PENSION, "bob", None, "AB 65 43 21 C"),
        (SELF_ASSESSMENT, "harry", None, ""),
        (REFUND, "carol", None, ""),
        (PAYE, "carol", None, ""),
        (PAYE, "dan", "LEVEL_X", ""),
    ]
    for service, username, level, nino in branches:
        journey = Journey(live, service=service)
        _finish(journey, journey.sign_in(username, level=level, gpg45_status="FI01"), nino)
        yield journey
    for outcome in ("cancel", "authn-failed", "pending", "requester-error"):
        journey = Journey(live)
        journey.return_to_service(journey.idp_outcome(outcome))
        yield journey


def test_every_branch_leaves_no_personal_data_in_logs_or_hub_store(
    live: LiveFederation, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets: set[str] = _personal_values() | {"SE123456C", "AB654321C", "SE 12 34 56 C", "AB 65 43 21 C"}
    branches = 0
    for journey in _every_branch(live):
        branches += 1
        if journey.idp_answer is not None and journey.idp_answer.soup.select_one("#saml-form") is not None:
            try:
                secrets.add(journey.idp_persistent_id())
            except (AssertionError, IndexError):
                pass  # a non-success answer carries no assertion, so no persistent ID
        for page in journey.citizen.pages:
            pairwise = page.soup.select_one("#pairwise-id")
            if pairwise is not None:
                secrets.add(pairwise.get_text(strip=True))
    assert branches == 12
    logged = caplog.text
    client = redis_server.client
    hub_keys = [key.decode() for key in client.keys("hub:*")]
    stored = json.dumps(
        {
            key: {k.decode(): v.decode() for k, v in client.hgetall(key).items()}
            if client.type(key) == b"hash"  # the dashboard's counters (hub.stats)
            else (client.get(key) or b"").decode("latin-1")  # replay-cache markers
            for key in hub_keys
        }
    )
    found = sorted(value for value in secrets if value in logged or value in stored or value in " ".join(hub_keys))
    assert not found, f"personal data found in logs or the hub's store: {found}"
    # Every journey was deleted when its service was answered: only replay-cache markers remain, beside the
    # dashboard's counters.
    kept = [key for key in hub_keys if not key.startswith("hub:stats:")]
    assert all(key.startswith("hub:seen:") for key in kept), [k for k in kept if not k.startswith("hub:seen:")]
