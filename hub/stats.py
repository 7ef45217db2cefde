"""Counters for the operators' dashboard: each audit event adds to counts in the shared store, by time bucket.

The dashboard (``hub.operations``) must show the whole federation, every hub process, over a period the
operator chooses, so counts live in the store that the hub processes share and not in one process. Events are
added up in each process and written together: one pipeline of HINCRBY on the minute's, hour's and day's keys.

Keys (the hub's store prefixes them with ``hub:``), all in UTC:

- ``stats:m202611270808``, ``stats:h2026112708``, ``stats:d20261127``: a hash of counts for that minute
  (kept 3 hours), hour (2 days) or day (35 days). Fields: ``started|<service>``, ``chosen|<idp>``,
  ``idp|<idp>|<outcome>``, ``response|<service>|<outcome>``, ``duration|<signed-in|not-signed-in>|<s>``,
  where ``<s>`` is the upper bound of the journey's duration bucket in seconds (``more`` past the last one),
  and ``reached|<step>``: journeys that reached a funnel step for the first time.

A step can happen more than once in a journey (a citizen may try a second company), so the funnel must count
journeys, not events. The journey itself remembers the steps it has reached (``Journey.reach``) and its audit
event names those it reaches for the first time (the record's ``reached``): a plain counter then counts each
journey once, exactly, with no journey IDs kept anywhere.

Nothing personal goes in: event names, entity IDs, outcomes, step names and bucketed durations only.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from federation.errors import StoreUnavailableError
from federation.store import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resolution:
    """A size of time bucket: its code in key names, its length, how long its keys live, its ID format."""

    code: str
    seconds: int
    ttl_seconds: int
    id_format: str

    def start_of(self, at: float) -> int:
        """The start (UTC epoch seconds) of the bucket ``at`` falls in."""
        return int(at // self.seconds) * self.seconds

    def key(self, start: int) -> str:
        return f"stats:{self.code}{time.strftime(self.id_format, time.gmtime(start))}"


MINUTE = Resolution("m", 60, 3 * 3600, "%Y%m%d%H%M")
HOUR = Resolution("h", 3600, 2 * 86400, "%Y%m%d%H")
DAY = Resolution("d", 86400, 35 * 86400, "%Y%m%d")
RESOLUTIONS = (MINUTE, HOUR, DAY)


class Step(StrEnum):
    """The journey's steps, as the dashboard's funnel shows them."""

    STARTED = "started"
    CHOSE_COMPANY = "chose-company"
    IDP_ANSWERED = "idp-answered"
    VERIFIED = "verified"
    MATCHED = "matched"
    SIGNED_IN = "signed-in"


# Steps that can repeat within a journey, counted once a journey from the events' ``reached``; the others
# happen once a journey and are read from the ``started|…`` and successful ``response|…`` fields.
REPEATABLE_STEPS = (Step.CHOSE_COMPANY, Step.IDP_ANSWERED, Step.VERIFIED, Step.MATCHED)
_REPEATABLE = frozenset(step.value for step in REPEATABLE_STEPS)
SIGNED_IN_OUTCOMES = frozenset({"matched", "account-created"})
MATCHED_RESULTS = frozenset({"match", "created"})
VERIFIED_OUTCOME = "matching"  # the IDP vouched for the citizen at the level needed, so matching starts
DURATION_BOUNDS = (30, 60, 120, 300, 600, 1800)  # seconds


def duration_bucket(seconds: object) -> str:
    """The upper bound, in seconds, of the bucket a journey's duration falls in; ``more`` past the last."""
    if not isinstance(seconds, int | float):
        return "more"
    return next((str(bound) for bound in DURATION_BOUNDS if seconds <= bound), "more")


def _name(value: object) -> str:
    """A label fit for a field name: entity IDs, outcomes and stages never hold '|', but make sure."""
    return "-" if value is None else str(value).replace("|", "%7C")[:256]


def _reached(record: Mapping[str, Any]) -> dict[str, int]:
    """``reached|<step>`` for each funnel step the record says its journey reached for the first time."""
    named = record.get("reached")
    steps = named if isinstance(named, list | tuple) else ()
    return {f"reached|{step}": 1 for step in steps if step in _REPEATABLE}


def tally(record: Mapping[str, Any]) -> dict[str, int]:
    """The hash fields an audit record adds to. Only named fields are read, so nothing else can leak in."""
    event = record.get("event")
    service, idp = _name(record.get("relying_service")), _name(record.get("idp"))
    if event == "journey_started":
        return {f"started|{service}": 1}
    if event == "company_chosen":
        return {f"chosen|{idp}": 1, **_reached(record)}
    if event == "idp_outcome":
        return {f"idp|{idp}|{_name(record.get('outcome'))}": 1, **_reached(record)}
    if event == "matching_outcome":
        return _reached(record)
    if event == "response_sent":
        outcome = _name(record.get("outcome"))
        signed_in = "signed-in" if outcome in SIGNED_IN_OUTCOMES else "not-signed-in"
        return {f"response|{service}|{outcome}": 1, f"duration|{signed_in}|{duration_bucket(record.get('seconds'))}": 1}
    return {}


def steps_reached_by(event: str, *, outcome: str | None = None, result: str | None = None) -> tuple[Step, ...]:
    """The funnel steps a journey reaches with ``event``: what the hub marks on the journey before auditing it."""
    if event == "company_chosen":
        return (Step.CHOSE_COMPANY,)
    if event == "idp_outcome":
        return (Step.IDP_ANSWERED, Step.VERIFIED) if outcome == VERIFIED_OUTCOME else (Step.IDP_ANSWERED,)
    if event == "matching_outcome" and result in MATCHED_RESULTS:
        return (Step.MATCHED,)
    return ()


class StatsSink:
    """An audit sink that adds each event to the dashboard's counters; a failed write is logged, never raised.

    With ``flush_seconds`` above 0 (the default, 1 s) events are added up in the process and written together
    at most that often, by a background thread: one round trip a second per process instead of five a journey
    (about 1 ms of hub CPU per journey under load). The dashboard lags by that second; a process that dies
    loses at most that second's counts, and ``flush`` runs at interpreter exit. With 0 every event is written
    at once.

    Each flush sets the time to live of every key it writes, so a key outlives its last write by its
    resolution's lifetime even when a flush before it failed.
    """

    def __init__(self, store: Store, flush_seconds: float = 1.0) -> None:
        self._store = store
        self._flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._counters: dict[str, tuple[Resolution, dict[str, int]]] = {}  # by key: its resolution, its counts
        self._flusher: threading.Thread | None = None

    def write(self, record: dict[str, Any]) -> None:
        counted = tally(record)
        if not counted:
            return
        at = float(record.get("at") or time.time())
        with self._lock:
            for resolution in RESOLUTIONS:
                key = resolution.key(resolution.start_of(at))
                _, pending = self._counters.setdefault(key, (resolution, {}))
                for name, amount in counted.items():
                    pending[name] = pending.get(name, 0) + amount
            if self._flush_seconds > 0 and self._flusher is None:
                self._start_flusher()
        if self._flush_seconds <= 0:
            self.flush()

    def _start_flusher(self) -> None:
        """Started on first use, so in the worker process itself, never in a parent that forks."""
        self._flusher = threading.Thread(target=self._flush_forever, name="stats-flush", daemon=True)
        self._flusher.start()
        atexit.register(self.flush)

    def _flush_forever(self) -> None:
        while True:
            time.sleep(self._flush_seconds)
            self.flush()

    def flush(self) -> None:
        """Write what has been added up since the last flush, in one round trip."""
        with self._lock:
            counters, self._counters = self._counters, {}
            increments = [(key, fields, resolution.ttl_seconds) for key, (resolution, fields) in counters.items()]
        if not increments:
            return
        try:
            self._store.increment_counters(increments)
        except StoreUnavailableError as exc:
            logger.warning("Dashboard counters not written: %s", type(exc).__name__)


@dataclass(frozen=True)
class BucketCounts:
    """The counts of one time bucket, and its start."""

    start: int
    fields: dict[str, int]


def read_buckets(store: Store, resolution: Resolution, starts: Sequence[int]) -> list[BucketCounts]:
    """The counts of each bucket starting at ``starts``, in one round trip."""
    found = store.read_counters([resolution.key(start) for start in starts])
    return [BucketCounts(start, fields) for start, fields in zip(starts, found, strict=True)]
