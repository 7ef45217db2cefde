"""Audit events: one structured record for each step of a journey, with no personal data in it.

Records carry the journey's log ID (a hash of its ID, never the ID itself), the relying service, the
identity provider, the level, the outcome and timings. They go to a log stream (the ``ida.audit`` logger, as
JSON) by default, or to a Redis stream that operators can read and trim; the hub also adds each one to the
counters behind the operators' dashboard (``hub.stats``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Protocol

from federation.errors import StoreUnavailableError
from federation.runtime import Runtime
from federation.store import RedisStore
from hub.stats import StatsSink

logger = logging.getLogger("ida.audit")
STREAM_MAX_LENGTH = 100_000


class AuditSink(Protocol):
    def write(self, record: dict[str, Any]) -> None: ...


class LogSink:
    def write(self, record: dict[str, Any]) -> None:
        if logger.isEnabledFor(logging.INFO):  # no JSON built for a logger that is off
            logger.info("%s", json.dumps(record, separators=(",", ":"), sort_keys=True))


def _stream_value(value: object) -> str:
    """A record's field as a stream entry holds it: text as it is, nothing as empty, anything else as JSON
    (numbers, ``true``/``false``, and lists such as ``evidence`` as ``["photo_id"]``)."""
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, separators=(",", ":"))


class RedisStreamSink:
    """Appends to a capped Redis stream; an audit write that fails is logged, never shown to the citizen."""

    def __init__(self, store: RedisStore, key: str = "audit") -> None:
        self._store, self._key = store, key

    def write(self, record: dict[str, Any]) -> None:
        fields = {name: _stream_value(value) for name, value in record.items()}
        try:
            self._store.append_to_stream(self._key, fields, STREAM_MAX_LENGTH)
        except StoreUnavailableError as exc:
            logger.warning("Audit record not written to Redis: %s", type(exc).__name__)


class Sinks:
    """Several sinks written in turn: the audit trail, then the dashboard's counters (``hub.stats``)."""

    def __init__(self, *sinks: AuditSink) -> None:
        self._sinks = sinks

    def write(self, record: dict[str, Any]) -> None:
        for sink in self._sinks:
            sink.write(record)


class Auditor:
    def __init__(self, sink: AuditSink, service: str) -> None:
        self._sink, self._service = sink, service

    def event(self, event: str, **fields: Any) -> None:
        """Record ``event``. Callers pass only entity IDs, levels, outcomes and timings: nothing personal."""
        self._sink.write({"event": event, "at": round(time.time(), 3), "component": self._service, **fields})


def make_auditor(runtime: Runtime, component: str) -> Auditor:
    """Audit events to the configured trail, and to the dashboard's counters in the app's store."""
    store = runtime.store
    trail: AuditSink = LogSink()
    if runtime.settings.audit_sink == "redis":
        if not isinstance(store, RedisStore):
            raise ValueError("AUDIT_SINK=redis needs REDIS_URL")
        trail = RedisStreamSink(store)
    journey_seconds = runtime.federation.hub.journey_minutes * 60
    return Auditor(Sinks(trail, StatsSink(store, runtime.settings.stats_flush_seconds, journey_seconds)), component)
