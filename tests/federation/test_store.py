from __future__ import annotations

import pytest
import redis

from federation.errors import StoreUnavailableError
from federation.store import MemoryStore, RedisStore, _client, make_store
from tests.conftest import RedisServer, free_port


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> MemoryStore | RedisStore:
    if request.param == "memory":
        return MemoryStore()
    server: RedisServer = request.getfixturevalue("redis_server")
    return RedisStore(server.url, prefix=f"test-{free_port()}")


def test_values_round_trip_and_take_is_once_only(store: MemoryStore | RedisStore) -> None:
    store.put("a", {"x": [1, "two"]}, 60)
    assert store.get("a") == {"x": [1, "two"]}
    assert store.take("a") == {"x": [1, "two"]} and store.take("a") is None and store.get("a") is None


def test_add_once_is_true_only_the_first_time(store: MemoryStore | RedisStore) -> None:
    assert store.add_once("id-1", 60) is True
    assert store.add_once("id-1", 60) is False
    assert store.add_once("id-2", 60) is True


def test_redis_store_down_is_a_503_error_not_a_crash() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", prefix="hub")
    with pytest.raises(StoreUnavailableError) as caught:
        store.get("anything")
    assert caught.value.http_status == 503
    assert store.ping() is False


def test_sentinel_and_cluster_urls_make_the_matching_clients() -> None:
    sentinel = _client("redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster/2")
    assert isinstance(sentinel, redis.Redis) and sentinel.connection_pool.service_name == "mymaster"  # type: ignore[attr-defined]
    assert make_store(None, "hub").kind == "in-process"
