"""The real topologies, started once a session and stopped at its end: a Redis Cluster and a Sentinel set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stores.topologies import Cluster, SentinelSet, start_cluster, start_for_test, start_sentinel_set


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three masters and three replicas, for the journeys; the fail-over tests start their own."""
    cluster = start_for_test(start_cluster, tmp_path_factory.mktemp("cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelSet]:
    """A master, a replica and three sentinels, for the journeys; the fail-over tests start their own."""
    sentinels = start_for_test(start_sentinel_set, tmp_path_factory.mktemp("sentinel"))
    yield sentinels
    sentinels.stop()
