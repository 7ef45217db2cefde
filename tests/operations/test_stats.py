"""The counters behind the dashboard: what each audit event adds, in which keys, for how long, at what cost."""

from __future__ import annotations

import dataclasses
import logging
import time

import pytest

from federation.store import MemoryStore, RedisStore
from hub.journey import Journey
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
    # A record cannot name the funnel steps it reached: the sink works them out from the event (and counts
    # each journey once, below).
    assert tally({"event": "idp_outcome", "idp": "x", "outcome": "matching", "reached": ["idp-answered"]}) == {
        "idp|x|matching": 1,
    }
    assert tally({"event": "idp_outcome", "idp": "x|y", "outcome": "cancelled"}) == {"idp|x%7Cy|cancelled": 1}
    assert tally({"event": "matching_outcome", "result": "match", "reached": ["matched", "Alice"]}) == {}
    assert tally({"event": "something_new", "reached": ["matched"]}) == {}


def test_the_steps_each_event_reaches() -> None:
    assert steps_reached_by("company_chosen") == (Step.CHOSE_COMPANY,)
    assert steps_reached_by("idp_outcome", outcome="matching") == (Step.IDP_ANSWERED, Step.VERIFIED)
    assert steps_reached_by("idp_outcome", outcome="cancelled") == (Step.IDP_ANSWERED,)
    assert steps_reached_by("matching_outcome", result="match") == (Step.MATCHED,)
    assert steps_reached_by("matching_outcome", result="created") == (Step.MATCHED,)
    assert steps_reached_by("matching_outcome", result="no-match") == ()
    assert steps_reached_by("response_sent") == ()


def test_a_journey_counts_once_at_each_step_however_often_it_reaches_it(store: MemoryStore | RedisStore) -> None:
    """The funnel counts journeys: a second company, a second matching try, add nothing to the steps."""
    sink = StatsSink(store, flush_seconds=0)
    events = [
        {"event": "company_chosen", "idp": "one"},
        {"event": "idp_outcome", "idp": "one", "outcome": "cancelled"},
        {"event": "company_chosen", "idp": "two"},  # a second company
        {"event": "idp_outcome", "idp": "two", "outcome": "matching"},
        {"event": "matching_outcome", "result": "no-match"},
        {"event": "matching_outcome", "result": "match"},  # after cycle 3
        {"event": "matching_outcome", "result": "match"},
    ]
    for journey in ("a", "b"):
        for event in events:
            sink.write({**event, "at": AT, "journey": journey})
    (bucket,) = read_buckets(store, MINUTE, [MINUTE.start_of(AT)])
    assert {name: n for name, n in bucket.fields.items() if name.startswith("reached|")} == {
        "reached|chose-company": 2,
        "reached|idp-answered": 2,
        "reached|verified": 2,
        "reached|matched": 2,
    }
    # The journey record knows nothing of the funnel.
    assert "reached" not in {item.name for item in dataclasses.fields(Journey)}


def test_a_journeys_funnel_steps_are_forgotten_when_its_answer_is_sent(redis_server: RedisServer) -> None:
    prefix = f"test-{free_port()}"
    sink = StatsSink(RedisStore(redis_server.url, prefix), flush_seconds=0, journey_seconds=600)
    sink.write({"event": "company_chosen", "at": AT, "journey": "a", "idp": "one"})
    funnel = f"{prefix}:funnel:a"
    assert redis_server.client.hkeys(funnel) == [b"chose-company"]
    assert 590 < redis_server.client.ttl(funnel) <= 600  # as long as a journey can live, if it is abandoned
    sink.write({"event": "response_sent", "at": AT, "journey": "a", "relying_service": "rp", "outcome": "matched"})
    assert not redis_server.client.exists(funnel)


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


def test_one_event_is_one_round_trip_and_one_more_for_a_funnel_step(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisStore(redis_server.url, f"test-{free_port()}")
    sink = StatsSink(store, flush_seconds=0)
    sent = round_trips(store, monkeypatch)
    sink.write({"event": "journey_started", "at": AT, "journey": "a", "relying_service": "rp"})
    assert len(sent) == 1
    sink.write({"event": "idp_outcome", "at": AT, "journey": "a", "idp": "one", "outcome": "matching"})
    assert len(sent) == 3


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
    assert len(sent) == 2  # two round trips for all six events: the funnel's marks, then the counts
    assert read_buckets(store, MINUTE, [start])[0].fields == {
        "started|rp": 3,
        "chosen|one": 3,
        "reached|chose-company": 3,
    }
    sink.write({"event": "journey_started", "at": now, "journey": "d", "relying_service": "rp"})
    sink.flush()  # as at interpreter exit
    assert read_buckets(store, MINUTE, [start])[0].fields["started|rp"] == 4
