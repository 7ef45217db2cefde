"""The counters behind the dashboard: what each audit event adds, in which keys, for how long, at what cost."""

from __future__ import annotations

import logging
import time

import pytest

from federation.store import MemoryStore, RedisStore
from federation.verify.loa import LevelOfAssurance
from hub.journey import Journey, JourneyRepository
from hub.stats import DAY, HOUR, MINUTE, StatsSink, Step, read_buckets, steps_reached_by, tally
from tests.support import RedisServer, free_port

AT = 1_794_999_960.0  # 2026-11-18 11:06:00 UTC, the start of a minute


def test_each_event_adds_only_named_fields_and_nothing_else_from_the_record() -> None:
    counted = tally(
        {
            "event": "response_sent",
            "relying_service": "https://rp.example/SAML2/metadata",
            "idp": "https://idp.example/SAML2/metadata",
            "outcome": "matched",
            "seconds": 95.2,
            "journey": "0123456789abcdef",
            "anything": "Alice Smith",
        }
    )
    assert counted == {
        "response|https://rp.example/SAML2/metadata|matched": 1,
        "duration|signed-in|120": 1,
    }
    assert tally({"event": "idp_outcome", "idp": "x", "outcome": "matching", "reached": ["idp-answered"]}) == {
        "idp|x|matching": 1,
        "reached|idp-answered": 1,
    }
    assert tally({"event": "idp_outcome", "idp": "x|y", "outcome": "cancelled"}) == {"idp|x%7Cy|cancelled": 1}
    # Only the funnel's repeatable steps, and only as a list: a stray value or name adds nothing.
    assert tally({"event": "matching_outcome", "reached": ["matched", "started", "Alice"]}) == {"reached|matched": 1}
    assert tally({"event": "matching_outcome", "reached": "matched"}) == {}
    assert tally({"event": "something_new", "reached": ["matched"]}) == {}


def test_the_steps_each_event_reaches() -> None:
    assert steps_reached_by("company_chosen") == (Step.CHOSE_COMPANY,)
    assert steps_reached_by("idp_outcome", outcome="matching") == (Step.IDP_ANSWERED, Step.VERIFIED)
    assert steps_reached_by("idp_outcome", outcome="cancelled") == (Step.IDP_ANSWERED,)
    assert steps_reached_by("matching_outcome", result="match") == (Step.MATCHED,)
    assert steps_reached_by("matching_outcome", result="created") == (Step.MATCHED,)
    assert steps_reached_by("matching_outcome", result="no-match") == ()
    assert steps_reached_by("response_sent") == ()


def test_a_journey_names_a_step_only_the_first_time_it_reaches_it() -> None:
    journey = Journey.start(
        rp_entity_id="rp",
        rp_request_id="_r",
        acs_url="https://rp/acs",
        relay_state=None,
        level=LevelOfAssurance.LEVEL_2,
    )
    assert journey.reach("company_chosen") == ["chose-company"]
    repository = JourneyRepository(MemoryStore(), 60)
    repository.save(journey)
    journey = repository.load(journey.id)  # what it has reached is kept with the journey
    assert journey.reach("company_chosen") == []  # a second company
    assert journey.reach("idp_outcome", outcome="cancelled") == ["idp-answered"]
    assert journey.reach("idp_outcome", outcome="matching") == ["verified"]
    assert journey.reach("matching_outcome", result="no-match") == []
    assert journey.reach("matching_outcome", result="match") == ["matched"]
    assert journey.reached == ["chose-company", "idp-answered", "verified", "matched"]


def test_events_are_counted_per_minute_hour_and_day(store: MemoryStore | RedisStore) -> None:
    sink = StatsSink(store, flush_seconds=0)
    for journey in ("a", "b"):
        sink.write({"event": "journey_started", "at": AT, "journey": journey, "relying_service": "rp"})
        sink.write(
            {"event": "company_chosen", "at": AT, "journey": journey, "idp": "one", "reached": ["chose-company"]}
        )
        sink.write({"event": "company_chosen", "at": AT + 30, "journey": journey, "idp": "two", "reached": []})

    for resolution in (MINUTE, HOUR, DAY):
        (bucket,) = read_buckets(store, resolution, [resolution.start_of(AT)])
        assert bucket.fields == {
            "started|rp": 2,
            "chosen|one": 2,
            "chosen|two": 2,
            "reached|chose-company": 2,
        }, resolution
    assert read_buckets(store, MINUTE, [MINUTE.start_of(AT) + 60])[0].fields == {}


def test_counter_keys_are_named_by_bucket_and_expire(redis_server: RedisServer) -> None:
    prefix, at = f"test-{free_port()}", time.time()
    sink = StatsSink(RedisStore(redis_server.url, prefix), flush_seconds=0)
    sink.write({"event": "company_chosen", "at": at, "journey": "a", "idp": "one"})
    client = redis_server.client
    # A key left without a time to live (say, a flush whose EXPIRE never arrived) gets one at the next write.
    for key in client.scan_iter(f"{prefix}:stats:*"):
        client.persist(key)
    sink.write({"event": "company_chosen", "at": at, "journey": "b", "idp": "one"})
    keys = sorted(key.decode() for key in client.scan_iter(f"{prefix}:stats:*"))
    stamp = time.strftime("%Y%m%d%H%M", time.gmtime(at))
    assert keys == sorted(f"{prefix}:stats:{bucket}" for bucket in (f"m{stamp}", f"h{stamp[:10]}", f"d{stamp[:8]}"))
    ttls = {key.split(":")[2][0]: client.ttl(key) for key in keys}
    assert 3 * 3600 - 10 < ttls["m"] <= 3 * 3600 and 2 * 86400 - 10 < ttls["h"] <= 2 * 86400
    assert 35 * 86400 - 10 < ttls["d"] <= 35 * 86400


def round_trips(store: RedisStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one each time ``store`` takes a connection for a command or a pipeline."""
    sent: list[int] = []
    real = store.client.connection_pool.get_connection

    def counting(*args: object, **kwargs: object) -> object:
        sent.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(store.client.connection_pool, "get_connection", counting)
    return sent


def test_one_event_is_one_round_trip(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RedisStore(redis_server.url, f"test-{free_port()}")
    sink = StatsSink(store, flush_seconds=0)
    sent = round_trips(store, monkeypatch)
    sink.write({"event": "idp_outcome", "at": AT, "journey": "a", "idp": "one", "outcome": "matching"})
    assert len(sent) == 1


def test_a_store_that_is_down_loses_the_count_not_the_journey(caplog: pytest.LogCaptureFixture) -> None:
    sink = StatsSink(RedisStore(f"redis://127.0.0.1:{free_port()}/0", "hub"), flush_seconds=0)
    with caplog.at_level(logging.WARNING, logger="hub.stats"):
        sink.write({"event": "journey_started", "at": AT, "journey": "a", "relying_service": "rp"})
    assert "Dashboard counters not written" in caplog.text


def test_batched_events_are_written_together_within_the_flush_interval(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub's default: events add up in the process and reach the store in one round trip a flush."""
    prefix = f"test-{free_port()}"
    store = RedisStore(redis_server.url, prefix)
    sink = StatsSink(store, flush_seconds=0.3)
    sent = round_trips(store, monkeypatch)
    now = time.time()
    for journey in ("a", "b", "c"):
        sink.write({"event": "journey_started", "at": now, "journey": journey, "relying_service": "rp"})
        sink.write(
            {"event": "company_chosen", "at": now, "journey": journey, "idp": "one", "reached": ["chose-company"]}
        )
    assert sent == []  # nothing written yet
    start = MINUTE.start_of(now)
    written = f"{prefix}:{MINUTE.key(start)}"
    deadline = time.monotonic() + 5
    while not redis_server.client.exists(written) and time.monotonic() < deadline:  # watched on another client
        time.sleep(0.05)
    time.sleep(0.1)  # the rest of the same pipeline
    assert len(sent) == 1  # one round trip for all six events
    assert read_buckets(store, MINUTE, [start])[0].fields == {
        "started|rp": 3,
        "chosen|one": 3,
        "reached|chose-company": 3,
    }
    sink.write({"event": "journey_started", "at": now, "journey": "d", "relying_service": "rp"})
    sink.flush()  # as at interpreter exit
    assert read_buckets(store, MINUTE, [start])[0].fields["started|rp"] == 4
