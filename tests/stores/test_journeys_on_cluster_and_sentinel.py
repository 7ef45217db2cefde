"""Complete journeys with every app on a real Redis Cluster and on a real Sentinel set (``tests/stores/topologies.py``).

The hub, both stubs and the operations app share one ``REDIS_URL``: ``redis+cluster://`` names one node of three
masters with a replica each; ``redis+sentinel://`` names three sentinels watching a master and its replica. Each
test runs on both. The hub's keys spread over the cluster's slots (nothing in them is a hash tag), so what the hub
sends several keys at once (a pipeline, the DEL that ends a journey, the dashboard's counters) crosses nodes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from redis.crc import key_slot

from federation.saml.xml import STATUS_NO_AUTHN_CONTEXT, STATUS_RESPONDER, parse, q, text_of
from federation.store import RedisStore, replay_key
from tests.journeys.drive import PAYE, REFUND, SELF_ASSESSMENT, Journey
from tests.operations.conftest import cancelled, matched, operations_for, read_dashboard
from tests.stores.topologies import Cluster, SentinelSet
from tests.support import LiveFederation, federation_file_with, free_port, start_federation, stop

pytestmark = pytest.mark.live

Topology = Cluster | SentinelSet
# The hub waits 2 s for a matching service (longer than the 1.5 s it holds the request before its waiting page);
# the stub matching service answers for sam, born in 1968, after 4.
MATCHING_WAIT_SECONDS, SLOW_MATCHING_SECONDS = 2, 4


@pytest.fixture(scope="module", params=["cluster", "sentinel"])
def on_topology(
    request: pytest.FixtureRequest, keys_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveFederation, Topology]]:
    """The three apps on loopback, all on the session's cluster or sentinel set."""
    topology: Topology = request.getfixturevalue(f"redis_{request.param}")
    federation_file = federation_file_with(
        tmp_path_factory.mktemp("federation"), matching_timeout_seconds=MATCHING_WAIT_SECONDS
    )
    live, servers = start_federation(
        keys_dir, topology.url, federation_file=federation_file, slow_matching_seconds=SLOW_MATCHING_SECONDS
    )
    yield live, topology
    stop(servers)


@pytest.fixture()
def live(on_topology: tuple[LiveFederation, Topology]) -> LiveFederation:
    """The federation with an empty store (every master flushed), as if just started."""
    federation, topology = on_topology
    with topology.client() as client:
        federation.empty_stores(client)
    return federation


@pytest.fixture()
def topology(on_topology: tuple[LiveFederation, Topology]) -> Topology:
    return on_topology[1]


def hub_keys(topology: Topology) -> list[str]:
    """Every key the hub holds, from every master."""
    with topology.client() as client:
        return sorted(key.decode() for key in client.scan_iter(match="hub:*", count=1000))


def test_matched_citizen_is_signed_in_and_the_hub_keeps_only_replay_markers(
    live: LiveFederation, topology: Topology
) -> None:
    journey = Journey(live)
    outcome = journey.to_service(journey.sign_in("alice"))
    assert outcome.text("#outcome-status") == "Matched" and outcome.text("#record-reference") == "PAYE-1001"
    # Ending the journey deleted its record and its outstanding request, two keys in two slots, in one DEL.
    kept = [key for key in hub_keys(topology) if not key.startswith("hub:stats:")]
    assert kept and all(re.fullmatch(r"hub:seen:[a-z-]+:[0-9a-f]{64}", key) for key in kept), kept


def test_cycle3_finds_erin_by_her_national_insurance_number(live: LiveFederation) -> None:
    journey = Journey(live, service=PAYE)
    question = journey.sign_in("erin")
    assert question.h1 == "What is your National Insurance number?"
    matched_page = journey.citizen.wait(journey.citizen.submit(question, {"cycle3": "SE 12 34 56 C"}))
    assert journey.to_service(matched_page).text("#record-reference") == "PAYE-1005"


def test_account_created_with_the_matching_services_own_assertion(live: LiveFederation) -> None:
    """Register for Self Assessment creates accounts and has the full profile: the assertion is the MSA's."""
    journey = Journey(live, service=SELF_ASSESSMENT)
    final_form = journey.sign_in("bob")
    assertion = journey.service_assertion(final_form)
    msa = live.federation.file.relying_services[2].matching_service
    assert text_of(assertion.find(q("saml", "Issuer"))) == msa.entity_id
    outcome = journey.to_service(final_form)
    assert outcome.text("#outcome-status") == "Account created"
    assert outcome.text("#record-reference").startswith("PAYE-9")


def test_no_match_and_a_cancelled_sign_in_reach_the_service(live: LiveFederation) -> None:
    no_match = Journey(live, service=REFUND)
    assert no_match.to_service(no_match.sign_in("bob")).text("#outcome-status") == "No match"
    cancelled_journey = Journey(live)
    exit_page = cancelled_journey.idp_outcome("cancel")
    assert exit_page.h1 == "You did not finish proving your identity"
    assert cancelled_journey.return_to_service(exit_page).text("#outcome-status") == "Not signed in"


def test_matching_service_too_slow_runs_out_of_time(live: LiveFederation) -> None:
    journey = Journey(live)
    waiting = journey.citizen.submit(journey.sign_in_without_waiting("sam"), selector="#saml-form")
    assert waiting.h1 == "We are checking your details"
    exit_page = journey.citizen.wait(waiting)
    assert exit_page.h1 == "Sorry, there is a problem with the service"
    outcome = journey.return_to_service(exit_page)
    assert outcome.text("#saml-status") == STATUS_RESPONDER
    assert outcome.text("#saml-sub-status") == STATUS_NO_AUTHN_CONTEXT


def test_the_same_idp_response_posted_twice_is_refused(live: LiveFederation, topology: Topology) -> None:
    journey = Journey(live)
    idp_answer = journey.sign_in_without_waiting("alice")
    saml_response = idp_answer.hidden("SAMLResponse", "#saml-form")
    first = journey.citizen.wait(journey.citizen.submit(idp_answer, selector="#saml-form"))
    assert first.h1 == "Your identity has been confirmed"
    replayed = journey.citizen.http.post(
        f"{live.urls['hub']}/SAML2/SSO/Response/POST", data={"SAMLResponse": saml_response}, timeout=30
    )
    assert replayed.status_code == 400
    # The replay cache holds the Response's ID on the master of its slot (its value: the writing call's token).
    response = parse(base64.b64decode(saml_response))
    marker = "hub:" + replay_key("idp-response", f"{text_of(response.find(q('saml', 'Issuer')))}|{response.get('ID')}")
    with topology.client() as client:
        assert re.fullmatch(rb"[0-9a-f]{16}", client.get(marker) or b"")


def test_dashboard_counts_the_journeys_from_counters_in_several_slots(live: LiveFederation, topology: Topology) -> None:
    matched(live)
    matched(live)
    cancelled(live)

    page = read_dashboard(operations_for(live), "hour")

    assert page.card("Journeys started") == "3" and page.card("Journeys completed") == "3"
    assert page.card_hint("Signed in") == "2 of 3 completed journeys"
    assert [row["Journeys"] for row in page.table("funnel").values()] == ["3", "3", "3", "2", "2", "2"]
    assert page.table("companies")["Stub Identity Provider One"]["Cancelled"] == "1"
    # The minute's, hour's and day's counters were written in one pipeline, each to its own slot.
    counters = [key for key in hub_keys(topology) if key.startswith("hub:stats:")]
    assert len(counters) >= 3 and len({key_slot(key.encode()) for key in counters}) == len(counters)
    assert not [key for key in hub_keys(topology) if key.startswith("hub:funnel:")]  # forgotten as journeys end


def test_concurrent_journeys_share_each_apps_client_across_threads(live: LiveFederation) -> None:
    """Eight citizens at once: the werkzeug threads, and the hub's matching threads, share one cluster client
    (or one Sentinel connection pool) in each app, as a gunicorn worker's threads do."""

    def sign_in(_: int) -> str:
        journey = Journey(live)
        return journey.to_service(journey.sign_in("alice")).text("#record-reference")

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(sign_in, range(16))) == ["PAYE-1001"] * 16


def test_operations_status_reports_the_deployment_and_the_public_one_stays_minimal(
    live: LiveFederation, topology: Topology
) -> None:
    assert live.apps["hub"].test_client().get("/_status").get_json() == {"status": "ok"}
    status = operations_for(live).test_client().get("/_status")
    assert status.status_code == 200
    body = status.get_json()
    assert body["store"] == "redis" and body["store_ok"] is True
    details = body["store_details"]
    assert details["ok"] is True and details["role"] == "master" and details["master_change_noticed_at"] is None
    if isinstance(topology, Cluster):
        assert details["topology"] == "cluster" and details["cluster_state"] == "ok"
        assert (details["masters"], details["replicas"], details["failed_nodes"]) == (3, 3, [])
        assert details["node"] in {node.address for node in topology.nodes}
    else:
        assert details["topology"] == "sentinel" and details["master"] == topology.master_address()
        assert details["replicas"] == 1 and details["sentinel_flags"] == "master"


@pytest.mark.parametrize("scheme", ["redis+sentinel://127.0.0.1:{port}/mymaster/0", "redis+cluster://127.0.0.1:{port}"])
def test_a_store_with_nothing_answering_is_made_and_says_so(scheme: str) -> None:
    """No sentinel, or no cluster node, answers: the store is still made (so the app stops with its plain
    "did not answer a PING" message, not redis-py's exception) and ``describe`` says what is wrong."""
    store = RedisStore(scheme.format(port=free_port()), prefix="hub")
    assert store.ping() is False
    details = store.describe()
    assert details["ok"] is False and details["error"] in {
        "no sentinel answered",
        "no cluster node answered at start-up",
    }
