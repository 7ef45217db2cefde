"""One Redis for the hub and both stubs, a user each under the ACL in federation/redis_acl.py: the federation
works as before, and the hub's user can reach nothing but the hub's keys.

The apps run with a Redis user each, as docs/redis.md says to deploy them; the ACL LOG, which records every
command Redis refused, must stay empty through a whole journey, so no command the apps send is missing from
the rules (not even one whose failure an app would swallow)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from federation.redis_acl import USERS, acl_file_line, redis_cli_command, rules
from hub import operations
from tests.journeys.drive import Journey
from tests.support import TEST_SETTINGS, LiveFederation, RedisServer, start_federation, stop

DOCS = Path(__file__).parents[2] / "docs" / "redis.md"


@dataclass
class SharedRedis:
    admin: redis.Redis
    urls: dict[str, str]  # each app's REDIS_URL, by key prefix, with its user's credentials


@pytest.fixture()
def shared_redis(redis_server: RedisServer) -> Iterator[SharedRedis]:
    """The test Redis emptied (scripts too, so that the apps must load theirs), with the documented users."""
    admin = redis_server.client
    admin.flushall()
    admin.script_flush()
    version = tuple(int(part) for part in str(admin.info("server")["redis_version"]).split(".")[:2])
    address = redis_server.url.removeprefix("redis://")
    urls = {}
    for user, prefix in USERS.items():
        password = f"{prefix}-test-password"
        admin.execute_command("ACL", "SETUSER", user, *rules(prefix, redis_version=version), f">{password}")
        urls[prefix] = f"redis://{user}:{password}@{address}"
    admin.acl_log_reset()
    yield SharedRedis(admin, urls)
    for user in USERS:
        admin.acl_deluser(user)
    admin.flushall()


@pytest.fixture()
def federation_under_acl(keys_dir: Path, shared_redis: SharedRedis) -> Iterator[LiveFederation]:
    """The three apps on loopback, as ``start_federation`` starts them but each with its own Redis user, and the
    hub's audit trail in its Redis stream."""
    live, servers = start_federation(
        keys_dir,
        None,
        per_app={
            "hub": {"redis_url": shared_redis.urls["hub"], "audit_sink": "redis"},
            "stub_idp": {"redis_url": shared_redis.urls["stub-idp"]},
            "stub_service": {"redis_url": shared_redis.urls["stub-service"]},
        },
    )
    yield live
    stop(servers)


def test_whole_journey_runs_with_each_app_under_its_own_user(
    federation_under_acl: LiveFederation, shared_redis: SharedRedis
) -> None:
    journey = Journey(federation_under_acl)
    outcome = journey.to_service(journey.sign_in("alice"))
    assert outcome.text("#outcome-status") == "Matched"
    assert shared_redis.admin.acl_log() == []  # nothing refused, not even a command an app ignores the failure of
    admin = shared_redis.admin
    keys = {key.decode() for key in admin.scan_iter(count=1000)}
    assert keys and all(key.split(":")[0] in USERS.values() for key in keys)
    assert admin.xlen("hub:audit") > 0 and any(key.startswith("hub:stats:") for key in keys)
    assert set(USERS) <= {client["user"] for client in admin.client_list()}  # each app connected as its own user


def test_hub_is_healthy_and_its_dashboard_reads_its_counters_under_its_user(
    federation_under_acl: LiveFederation, shared_redis: SharedRedis, keys_dir: Path
) -> None:
    hub_app = federation_under_acl.apps["hub"].test_client()
    assert (hub_app.get("/_status").status_code, hub_app.get("/_status").get_json()) == (200, {"status": "ok"})
    config = {"keys_dir": keys_dir, "urls": federation_under_acl.urls, "testing": True, **TEST_SETTINGS}
    internal = operations.create_app({**config, "redis_url": shared_redis.urls["hub"]}).test_client()
    status = internal.get("/_status")
    assert status.status_code == 200 and status.get_json()["store_ok"] is True
    assert internal.get("/").status_code == 200
    assert shared_redis.admin.acl_log() == []


@pytest.mark.parametrize(
    "command",
    [
        ("GET", "stub-service:record:PAYE-1001"),
        ("SET", "stub-idp:user:alice", "{}"),
        ("DEL", "stub-service:seen-query:_1"),
        ("FLUSHALL",),
        ("FLUSHDB",),
        ("KEYS", "*"),
        ("SCAN", "0"),
        ("CONFIG", "GET", "*"),
        ("ACL", "LIST"),
        ("SCRIPT", "FLUSH"),
        ("EVAL", "return 1", "0"),
        ("EVALSHA", "0" * 40, "1", "stub-idp:user:alice"),
        ("SUBSCRIBE", "anything"),
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_hub_user_is_refused_other_apps_keys_and_commands_it_does_not_use(
    shared_redis: SharedRedis, command: tuple[str, ...]
) -> None:
    client = redis.Redis.from_url(shared_redis.urls["hub"])
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.execute_command(*command)


def test_hub_script_cannot_reach_another_apps_key(shared_redis: SharedRedis) -> None:
    """The script's own commands are checked too: naming a hub key in KEYS does not open another app's."""
    client = redis.Redis.from_url(shared_redis.urls["hub"])
    shared_redis.admin.set("stub-service:record:PAYE-1001", "{}")
    script = client.register_script("return redis.call('GET', 'stub-service:record:PAYE-1001')")
    with pytest.raises(redis.exceptions.ResponseError, match="can't access"):
        script(keys=["hub:anything"])


def test_stub_users_are_refused_the_hubs_keys(shared_redis: SharedRedis) -> None:
    for prefix in ("stub-idp", "stub-service"):
        client = redis.Redis.from_url(shared_redis.urls[prefix])
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.get("hub:journey:anything")


def test_docs_quote_the_acl_the_tests_run() -> None:
    """docs/redis.md shows each user as a redis-cli command and as an ACL file line, exactly as made here."""
    text = DOCS.read_text(encoding="utf-8")
    for user in USERS:
        assert redis_cli_command(user) in text
        assert acl_file_line(user) in text
    assert "REDIS_URL=redis://ida-hub:" in text


def test_make_run_gives_each_app_its_own_redis_url_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """``HUB_REDIS_URL`` and the stubs' own URLs reach the right processes; the operations app signs in as the
    hub, whose keys it reads."""
    from launcher import localrun

    urls = {name: f"redis://ida-{name}:pw@127.0.0.1:6379/0" for name in ("hub", "stub_idp", "stub_service")}
    for name, url in urls.items():
        monkeypatch.setenv(f"{name.upper()}_REDIS_URL", url)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    apps = (("hub", 1), ("stub_idp", 2), ("stub_idp_pysaml2", 5), ("stub_service", 3))
    binds = {name: f"127.0.0.1:{port}" for name, port in apps}
    processes = localrun._processes({**binds, "operations": "127.0.0.1:4"}, True, None, ())
    targets = {command[-1]: env.get("REDIS_URL") for command, env in processes}
    assert targets == {
        "hub:create_app()": urls["hub"],
        "stub_idp:create_app()": urls["stub_idp"],
        "stub_idp_pysaml2:create_app()": urls["stub_idp"],  # the stub IDPs' ACL user: their keys and users
        "stub_service:create_app()": urls["stub_service"],
        "hub.operations:create_app()": urls["hub"],
    }
