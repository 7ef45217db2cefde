"""Fail-overs on a real Sentinel set and a real Redis Cluster, with the federation running on them.

Each test starts a topology of its own, since it kills part of it, and stops it at the end. Waits are bounded:
a fail-over must be over within FAILOVER_SECONDS (both are set to judge a node down after 1 s).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import hub
from federation.errors import StoreUnavailableError
from federation.runtime import StoreUnreachableError
from federation.store import MASTER_CHECK_SECONDS, REPLICA_WAIT_MS, RedisStore, replay_key
from tests.journeys.drive import Journey
from tests.operations.conftest import operations_for
from tests.stores.topologies import (
    Cluster,
    Node,
    SentinelSet,
    start_cluster,
    start_for_test,
    start_sentinel_set,
    wait_until,
)
from tests.support import TEST_SETTINGS, LiveFederation, Page, start_federation, stop

pytestmark = pytest.mark.live

FAILOVER_SECONDS = 15


@pytest.fixture()
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    topology = start_for_test(start_sentinel_set, tmp_path)
    yield topology
    topology.stop()


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    topology = start_for_test(start_cluster, tmp_path)
    yield topology
    topology.stop()


def signed_in(live: LiveFederation) -> str:
    """A new journey to the service; its record reference."""
    journey = Journey(live)
    return journey.to_service(journey.sign_in("alice")).text("#record-reference")


def finish(journey: Journey, login: Page) -> str:
    """A journey at the identity provider's sign-in page (``login``) carried on to the service; its record."""
    citizen = journey.citizen
    consent = citizen.submit(login, {"username": "alice", "password": "password"}, selector="#sign-in-form")
    back = citizen.submit(consent, {"decision": "agree"}, selector="#consent-form")
    return journey.to_service(citizen.wait(citizen.submit(back, selector="#saml-form"))).text("#record-reference")


def in_flight_on(live: LiveFederation, node: Node) -> tuple[Journey, Page]:
    """A journey at the identity provider's sign-in page whose record lies on ``node``: journeys are started
    until one's key falls in that node's slots (a third do, with three masters)."""

    def journeys() -> set[bytes]:
        with node.client() as client:
            return set(client.scan_iter(match="hub:journey:*"))

    for _ in range(30):
        before = journeys()
        journey = Journey(live)
        login = journey.to_idp()
        if journeys() - before:
            return journey, login
    raise AssertionError(f"30 journeys and none on {node.address}")


def hub_store(live: LiveFederation) -> RedisStore:
    store = live.apps["hub"].extensions["runtime"].store
    assert isinstance(store, RedisStore)
    return store


def test_sentinel_promotes_the_replica_and_journeys_carry_on(keys_dir: Path, sentinels: SentinelSet) -> None:
    """``kill -9`` of the master: within seconds the sentinels promote the replica; a journey in flight across
    the fail-over and a new one complete, and the operations port's ``/_status`` names the new master and when
    the master changed.

    A replay marker written just before the fail-over: Redis replicates asynchronously, so the master confirms
    ``SET NX`` before its replica has the marker, and a master that dies in that gap takes the marker with it;
    the promoted replica would then accept the same message once more, while the message is still fresh. With
    replicas, the hub's store follows each marker with ``WAIT 1 100`` in the same round trip: its answer comes
    once a replica holds the marker (or after 100 ms, with a warning). So a marker the hub was told is stored
    is on the replica too, and survives the promotion, as below. ``test_a_marker_no_replica_acknowledged_…``
    shows the case WAIT cannot cover.
    """
    live, servers = start_federation(keys_dir, sentinels.url)
    try:
        operations = operations_for(live).test_client()
        assert operations.get("/_status").get_json()["store_details"]["master"] == sentinels.master.address
        assert signed_in(live) == "PAYE-1001"
        in_flight = Journey(live)
        login = in_flight.to_idp()  # in flight: the hub's journey and the IDP's sign-in wait in Redis
        marker = replay_key("idp-response", "written just before the fail-over")
        assert hub_store(live).add_once(marker, 600) is True

        sentinels.master.kill()
        # Until the sentinels agree it is down (1 s here), they still name the dead master.
        during = operations.get("/_status")
        assert during.status_code == 503 and during.get_json()["store_ok"] is False
        seen = during.get_json()["store_details"]
        assert (seen["ok"], seen["master"], seen["role"]) == (False, sentinels.master.address, None)
        assert seen["error"] in {"ConnectionError", "MasterNotFoundError"}  # redis-py says either, by timing
        took = sentinels.wait_for_master_other_than(sentinels.master, FAILOVER_SECONDS)

        assert sentinels.current_master() is sentinels.replica, f"promoted after {took:.1f} s"
        assert hub_store(live).add_once(marker, 600) is False  # the promoted replica had the marker
        assert finish(in_flight, login) == "PAYE-1001"
        assert signed_in(live) == "PAYE-1001"
        details = operations.get("/_status").get_json()["store_details"]
        assert (details["ok"], details["master"], details["role"]) == (True, sentinels.replica.address, "master")
        assert details["master_change_noticed_at"] is not None
    finally:
        stop(servers)


def test_a_marker_no_replica_acknowledged_is_lost_if_the_master_then_fails(
    sentinels: SentinelSet, caplog: pytest.LogCaptureFixture
) -> None:
    """What WAIT cannot cover: the replica hangs and loses its link to the master, the marker's WAIT runs out
    (100 ms), the hub carries on with the marker on the master alone and says so in its log; then the master
    dies and the replica, back, is promoted without it. The same message would then be accepted once more while
    it is fresh. Refusing every journey while no replica answers would turn a replica's fault into an outage,
    so the hub does not."""
    store = RedisStore(sentinels.url, prefix="hub")
    assert store.add_once("warm-up", 60) is True  # acknowledged by the replica
    sentinels.replica.pause()
    try:
        with sentinels.master.client() as admin:  # a paused replica would still find the marker in its socket
            admin.client_kill_filter(_type="replica")
        with caplog.at_level(logging.WARNING, logger="federation.store"):
            started = time.monotonic()
            assert store.add_once("seen:idp-response:unprotected", 600) is True
            waited = time.monotonic() - started
        sentinels.master.kill()
    finally:
        sentinels.replica.resume()
    assert REPLICA_WAIT_MS / 1000 <= waited < 1.0
    assert any("No Redis replica held a replay marker" in record.getMessage() for record in caplog.records)

    sentinels.wait_for_master_other_than(sentinels.master, FAILOVER_SECONDS)

    # Lost: a second use of the same message would be let through.
    wait_until("the store to reach the new master", lambda: store.ping(), FAILOVER_SECONDS)
    assert store.add_once("seen:idp-response:unprotected", 600) is True
    assert store.add_once("warm-up", 60) is False  # written before the replica hung: replicated, kept


def test_an_idle_connection_to_a_master_frozen_and_back_is_dropped_for_the_promoted_one(sentinels: SentinelSet) -> None:
    """A master frozen long enough for the sentinels to promote its replica, then back: until the sentinels make
    it a replica (seconds later) it still takes writes, which its demotion then throws away. The store's pooled
    connection to it, idle across the fail-over, must not be used for them: within MASTER_CHECK_SECONDS the store
    asks the sentinels and opens a connection to the promoted master."""
    store = RedisStore(sentinels.url, prefix="hub")
    store.put("before", {"n": 1}, 60)  # leaves a connection to the master in the pool
    old = sentinels.master
    old.pause()
    try:
        sentinels.wait_for_master_other_than(old, FAILOVER_SECONDS)
    finally:
        old.resume()
    time.sleep(MASTER_CHECK_SECONDS)
    store.put("after", {"n": 2}, 60)
    new = sentinels.current_master()
    assert new is not old
    with new.client() as client:
        assert client.get("hub:after") is not None


def test_cluster_replica_takes_over_a_killed_master_and_journeys_carry_on(keys_dir: Path, cluster: Cluster) -> None:
    """``kill -9`` of the master the apps' URL names, which holds a journey in flight: its replica takes over its
    slots (``cluster_state:ok`` on every node again), the running apps carry on (they learnt every node at
    start) and so does the journey, and ``/_status`` shows the new masters and the failed node. A new process
    with that one-node URL cannot start; one that names two nodes can."""
    victim = cluster.nodes[0]
    assert victim in cluster.masters()
    live, servers = start_federation(keys_dir, Cluster.url_naming(victim))
    try:
        operations = operations_for(live).test_client()
        assert operations.get("/_status").get_json()["store_details"]["failed_nodes"] == []
        assert signed_in(live) == "PAYE-1001"
        in_flight, login = in_flight_on(live, victim)

        victim.kill()
        took = wait_until(
            "a replica to take over the killed master's slots", lambda: len(cluster.masters()) == 3, FAILOVER_SECONDS
        )
        took += cluster.wait_until_ok("after the fail-over", FAILOVER_SECONDS)

        assert finish(in_flight, login) == "PAYE-1001", f"fail-over took {took:.1f} s"
        assert signed_in(live) == "PAYE-1001"
        details = operations.get("/_status").get_json()["store_details"]
        assert (details["ok"], details["cluster_state"], details["masters"]) == (True, "ok", 3)
        assert details["failed_nodes"] == [victim.address] and details["master_change_noticed_at"] is not None

        config = {"keys_dir": keys_dir, "urls": live.urls, "testing": True, **TEST_SETTINGS}
        with pytest.raises(StoreUnreachableError, match="did not answer a PING"):
            hub.create_app({**config, "redis_url": Cluster.url_naming(victim)})
        assert hub.create_app({**config, "redis_url": Cluster.url_naming(victim, cluster.nodes[1])})

        # The whole cluster gone: redis-py raises RedisClusterException, not a RedisError; still a 503.
        for node in cluster.running():
            node.kill()
        with pytest.raises(StoreUnavailableError):
            hub_store(live).get("journey:anything")
        assert live.apps["hub"].test_client().get("/_status").status_code == 503
        down = operations.get("/_status")
        assert down.status_code == 503 and down.get_json()["store_details"]["ok"] is False
    finally:
        stop(servers)
