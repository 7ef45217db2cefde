from __future__ import annotations

import pytest
import redis

from federation.errors import StoreUnavailableError
from federation.store import MemoryStore, RedisStore, _client, make_store, replay_key
from tests.support import RedisServer, free_port


def test_values_round_trip_and_take_is_once_only(store: MemoryStore | RedisStore) -> None:
    store.put("a", {"x": [1, "two"]}, 60)
    assert store.get("a") == {"x": [1, "two"]}
    assert store.take("a") == {"x": [1, "two"]} and store.take("a") is None and store.get("a") is None


def test_add_once_is_true_only_the_first_time(store: MemoryStore | RedisStore) -> None:
    assert store.add_once("id-1", 60) is True
    assert store.add_once("id-1", 60) is False
    assert store.add_once("id-2", 60) is True


def test_put_many_writes_every_value_and_delete_takes_several_keys(store: MemoryStore | RedisStore) -> None:
    store.put_many({"a": {"x": 1}, "b": {"y": 2}}, 60)
    assert store.get("a") == {"x": 1}
    assert store.get("b") == {"y": 2}
    store.delete("a", "b")
    assert store.get("a") is None
    assert store.get("b") is None


def test_add_once_many_says_which_were_new_and_marks_them_all(store: MemoryStore | RedisStore) -> None:
    assert store.add_once("seen", 60) is True
    assert store.add_once_many([("seen", 60), ("new", 60)]) == [False, True]
    assert store.add_once("new", 60) is False


def test_take_and_add_once_takes_the_value_once_and_marks_the_other_key(store: MemoryStore | RedisStore) -> None:
    store.put("request", {"journey": "j"}, 60)
    assert store.take_and_add_once("request", "answer", 60) == ({"journey": "j"}, True)
    assert store.take_and_add_once("request", "answer", 60) == (None, False)


def test_redis_store_down_is_a_503_error_not_a_crash() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", prefix="hub")
    with pytest.raises(StoreUnavailableError) as caught:
        store.get("anything")
    assert caught.value.http_status == 503
    assert store.ping() is False


def test_redis_store_that_may_not_run_scripts_reports_itself_not_ok(redis_server: RedisServer) -> None:
    """The matching thread writes its answer with a script: a Redis user without ``@scripting`` must show in
    /_status, not only as every matching answer failing."""
    admin = redis.Redis.from_url(redis_server.url)
    admin.acl_setuser("no-scripts", enabled=True, passwords=["+secret"], keys=["*"], commands=["+@all", "-@scripting"])
    try:
        address = redis_server.url.removeprefix("redis://")
        assert RedisStore(redis_server.url, prefix="hub").ping() is True
        assert RedisStore(f"redis://no-scripts:secret@{address}", prefix="hub").ping() is False
    finally:
        admin.acl_deluser("no-scripts")


def test_sentinel_and_cluster_urls_make_the_matching_clients() -> None:
    sentinel = _client("redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster/2")
    assert isinstance(sentinel, redis.Redis) and sentinel.connection_pool.service_name == "mymaster"  # type: ignore[attr-defined]
    assert make_store(None, "hub").kind == "in-process"


def test_put_if_writes_only_over_a_value_with_the_expected_fields(store: MemoryStore | RedisStore) -> None:
    expected = {"attempt": ["a1"], "stage": ["matching", "creating-account"]}
    assert store.put_if("j", {"attempt": "a1", "stage": "matched"}, 60, expected) is False  # nothing there
    store.put("j", {"attempt": "a1", "stage": "creating-account", "other": [1]}, 60)
    assert store.put_if("j", {"attempt": "a1", "stage": "matched"}, 60, expected) is True
    assert store.get("j") == {"attempt": "a1", "stage": "matched"}
    # Now at a stage not listed, then at another attempt: left as it is.
    assert store.put_if("j", {"attempt": "a1", "stage": "no-match"}, 60, expected) is False
    store.put("j", {"attempt": "a2", "stage": "matching"}, 60)
    assert store.put_if("j", {"attempt": "a1", "stage": "no-match"}, 60, expected) is False
    store.put("j", {"attempt": None, "stage": "matching"}, 60)
    assert store.put_if("j", {"attempt": "a1", "stage": "no-match"}, 60, expected) is False
    assert store.get("j") == {"attempt": None, "stage": "matching"}


def test_put_and_add_once_writes_the_value_and_says_whether_the_mark_was_new(store: MemoryStore | RedisStore) -> None:
    assert store.put_and_add_once("journey-1", {"x": 1}, 60, "seen", 60) is True
    assert store.put_and_add_once("journey-2", {"x": 2}, 60, "seen", 60) is False
    assert store.get("journey-1") == {"x": 1} and store.get("journey-2") == {"x": 2}


def test_replay_keys_are_fixed_length_hashes_whatever_the_ids() -> None:
    """A 64 KiB assertion ID once became a 65 KB Redis key; now every marker is ``seen:<kind>:<SHA-256>``."""
    short, huge = replay_key("assertion", "idp", "_a"), replay_key("assertion", "idp", "_" + "a" * 65536)
    assert len(short) == len(huge) == len("seen:assertion:") + 64
    assert short != huge and "idp" not in short
    assert replay_key("x", "a|b", "c") != replay_key("x", "a", "b|c")  # the parts cannot run into each other
