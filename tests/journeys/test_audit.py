"""Audit events for every step of a journey, to the log stream or a Redis stream, with nothing personal."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.journeys.drive import Journey
from tests.support import RedisServer, start_federation

pytestmark = pytest.mark.live  # its tests start the federation (or gunicorn) themselves

STEPS = ["journey_started", "company_chosen", "idp_outcome", "matching_outcome", "response_sent"]


def test_each_step_is_audited_to_the_log_stream_without_personal_data(
    keys_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    live, servers = start_federation(keys_dir, None)
    try:
        caplog.set_level(logging.INFO, logger="ida.audit")
        journey = Journey(live)
        outcome = journey.to_service(journey.sign_in("alice"))
    finally:
        for server in servers:
            server.shutdown()
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == "ida.audit"]
    assert [r["event"] for r in records] == STEPS
    assert len({r["journey"] for r in records}) == 1 and len(records[0]["journey"]) == 16
    assert records[-1]["status"] == "urn:oasis:names:tc:SAML:2.0:status:Success"
    assert records[3]["result"] == "match" and records[3]["matching_ms"] >= 0
    text = json.dumps(records)
    for personal in ("Alice", "Smith", "1980-05-14", outcome.text("#pairwise-id"), journey.idp_persistent_id()):
        assert personal not in text
    cookie = journey.citizen.http.cookies.get("hub_journey")
    assert cookie is None or cookie not in text  # the journey's bearer ID is never recorded


def test_audit_events_can_go_to_a_redis_stream(keys_dir: Path, redis_server: RedisServer) -> None:
    redis_server.client.flushall()
    live, servers = start_federation(keys_dir, redis_server.url, audit_sink="redis")
    try:
        journey = Journey(live)
        journey.return_to_service(journey.idp_outcome("cancel"))
    finally:
        for server in servers:
            server.shutdown()
    entries = redis_server.client.xrange("hub:audit")
    events = [fields[b"event"].decode() for _, fields in entries]
    assert events == ["journey_started", "company_chosen", "idp_outcome", "response_sent"]
    assert entries[2][1][b"outcome"] == b"cancelled"
    # Lists and numbers as JSON, so a reader of the stream parses them as the log sink's readers do.
    assert json.loads(entries[1][1][b"evidence"]) == ["photo_id"]
    assert isinstance(json.loads(entries[3][1][b"seconds"]), float)
