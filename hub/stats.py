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
journeys, not events. The counters remember, for each journey in flight, the steps it has reached: a hash
``funnel:<journey log ID>`` whose fields are step names, set with HSETNX, so that only a journey's first time
at a step adds to ``reached|<step>``. The hash lives as long as a journey can and goes when the journey's
answer is sent. The journey record itself knows nothing of the dashboard.

Nothing personal goes in: event names, entity IDs, outcomes, step names and bucketed durations only.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol
from weakref import WeakKeyDictionary

import redis

from federation.errors import StoreUnavailableError
from federation.store import MemoryStore, RedisStore, Store, execute_pipeline

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


# Steps that can repeat within a journey, counted once a journey (the ``funnel:`` hashes); the others
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


def tally(record: Mapping[str, Any]) -> dict[str, int]:
    """The hash fields an audit record adds to. Only named fields are read, so nothing else can leak in."""
    event = record.get("event")
    service, idp = _name(record.get("relying_service")), _name(record.get("idp"))
    if event == "journey_started":
        return {f"started|{service}": 1}
    if event == "company_chosen":
        return {f"chosen|{idp}": 1}
    if event == "idp_outcome":
        return {f"idp|{idp}|{_name(record.get('outcome'))}": 1}
    if event == "response_sent":
        outcome = _name(record.get("outcome"))
        signed_in = "signed-in" if outcome in SIGNED_IN_OUTCOMES else "not-signed-in"
        return {f"response|{service}|{outcome}": 1, f"duration|{signed_in}|{duration_bucket(record.get('seconds'))}": 1}
    return {}


def steps_reached_by(event: str, *, outcome: str | None = None, result: str | None = None) -> tuple[Step, ...]:
    """The funnel steps that can repeat which a journey reaches with ``event`` (counted on its first time)."""
    if event == "company_chosen":
        return (Step.CHOSE_COMPANY,)
    if event == "idp_outcome":
        return (Step.IDP_ANSWERED, Step.VERIFIED) if outcome == VERIFIED_OUTCOME else (Step.IDP_ANSWERED,)
    if event == "matching_outcome" and result in MATCHED_RESULTS:
        return (Step.MATCHED,)
    return ()


class Counters(Protocol):
    """Where the dashboard's counts live: hashes of counts by time bucket, and each journey's funnel steps."""

    def increment(self, counters: Sequence[tuple[str, Mapping[str, int], int]]) -> None:
        """Add to hash fields; ``counters`` are (key, {field: amount}, ttl): each key lives ``ttl`` s from now."""

    def read(self, keys: Sequence[str]) -> list[dict[str, int]]:
        """Every field of each hash in ``keys`` (empty for a missing key)."""

    def first_times(self, marks: Sequence[tuple[str, str]], ttl_seconds: int) -> list[bool]:
        """Set each (key, field) if it is not set (HSETNX), the key to live ``ttl_seconds``; which were new."""

    def forget(self, keys: Iterable[str]) -> None:
        """Delete ``keys``."""


class RedisCounters:
    """Counters in the hub's Redis, under its prefix; each method is one round trip (a pipeline)."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store

    def _pipeline(self) -> redis.client.Pipeline:
        return self._store.client.pipeline(transaction=False)

    def increment(self, counters: Sequence[tuple[str, Mapping[str, int], int]]) -> None:
        pipe = self._pipeline()
        for key, fields, ttl in counters:
            for name, amount in fields.items():
                pipe.hincrby(self._store.key(key), name, amount)
            pipe.expire(self._store.key(key), ttl)
        execute_pipeline(pipe)

    def read(self, keys: Sequence[str]) -> list[dict[str, int]]:
        pipe = self._pipeline()
        for key in keys:
            pipe.hgetall(self._store.key(key))
        found = execute_pipeline(pipe)
        return [{name.decode(): int(value) for name, value in fields.items()} for fields in found]

    def first_times(self, marks: Sequence[tuple[str, str]], ttl_seconds: int) -> list[bool]:
        pipe = self._pipeline()
        for key, name in marks:
            pipe.hsetnx(self._store.key(key), name, 1)
            pipe.expire(self._store.key(key), ttl_seconds)
        return [bool(added) for added in execute_pipeline(pipe)[::2]]

    def forget(self, keys: Iterable[str]) -> None:
        names = [self._store.key(key) for key in keys]
        if names:
            pipe = self._pipeline()
            for name in names:  # one DEL each: on a cluster the keys may lie in different slots
                pipe.delete(name)
            execute_pipeline(pipe)


class MemoryCounters:
    """Counters in this process, for a hub with the in-process store (tests, one process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hashes: dict[str, tuple[float, dict[str, int]]] = {}  # by key: (expires at, fields)

    def _live(self, key: str, ttl: int | None = None) -> dict[str, int]:
        expires, fields = self._hashes.get(key, (0.0, {}))
        if expires <= time.monotonic():
            fields = {}
        if ttl is not None:
            self._hashes[key] = (time.monotonic() + ttl, fields)
        return fields

    def increment(self, counters: Sequence[tuple[str, Mapping[str, int], int]]) -> None:
        with self._lock:
            for key, fields, ttl in counters:
                held = self._live(key, ttl)
                for name, amount in fields.items():
                    held[name] = held.get(name, 0) + amount

    def read(self, keys: Sequence[str]) -> list[dict[str, int]]:
        with self._lock:
            return [dict(self._live(key)) for key in keys]

    def first_times(self, marks: Sequence[tuple[str, str]], ttl_seconds: int) -> list[bool]:
        with self._lock:
            added = []
            for key, name in marks:
                held = self._live(key, ttl_seconds)
                added.append(name not in held)
                held.setdefault(name, 1)
            return added

    def forget(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._hashes.pop(key, None)

    def clear(self) -> None:
        """Forget every count, as a store that has just started."""
        with self._lock:
            self._hashes.clear()


_IN_PROCESS: WeakKeyDictionary[MemoryStore, MemoryCounters] = WeakKeyDictionary()


def in_process_counters(store: MemoryStore) -> MemoryCounters:
    """The counters held beside ``store``, one set per store."""
    return _IN_PROCESS.setdefault(store, MemoryCounters())


def counters_for(store: Store) -> Counters:
    """The counters that go with ``store``: in its Redis, or held beside an in-process store (one per store, so
    the dashboard reads what the auditor wrote)."""
    if isinstance(store, RedisStore):
        return RedisCounters(store)
    if isinstance(store, MemoryStore):
        return in_process_counters(store)
    raise TypeError(f"no dashboard counters for a {type(store).__name__}")


def _funnel_key(journey: str) -> str:
    return f"funnel:{journey}"


@dataclass(frozen=True)
class _Mark:
    """A journey reaching a funnel step that can repeat, at ``at``: counted if it is the journey's first time."""

    journey: str
    step: Step
    at: float


class StatsSink:
    """An audit sink that adds each event to the dashboard's counters; a failed write is logged, never raised.

    With ``flush_seconds`` above 0 (the default, 1 s) events are added up in the process and written together
    at most that often, by a background thread: two round trips a second per process (the funnel marks, then
    the counts) instead of several a journey (about 1 ms of hub CPU per journey under load). The dashboard lags
    by that second; a process that dies loses at most that second's counts, and ``flush`` runs at interpreter
    exit. With 0 every event is written at once.

    Each flush sets the time to live of every key it writes, so a key outlives its last write by its
    resolution's lifetime even when a flush before it failed. A journey's funnel hash lives ``journey_seconds``
    from its last mark, and goes when its answer is sent.
    """

    def __init__(self, store: Store, flush_seconds: float = 1.0, journey_seconds: int = 2 * 3600) -> None:
        self._counters = counters_for(store)
        self._flush_seconds = flush_seconds
        self._journey_seconds = journey_seconds
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[Resolution, dict[str, int]]] = {}  # by key: its resolution, its counts
        self._marks: list[_Mark] = []
        self._ended: list[str] = []  # journeys whose answer was sent: their funnel hashes go after the marks
        self._flusher: threading.Thread | None = None

    def write(self, record: dict[str, Any]) -> None:
        event = str(record.get("event"))
        counted = tally(record)
        steps = steps_reached_by(event, outcome=_text(record.get("outcome")), result=_text(record.get("result")))
        journey = _text(record.get("journey"))
        if not counted and not steps:
            return
        at = float(record.get("at") or time.time())
        with self._lock:
            self._add(counted, at)
            if journey is None:  # nothing to remember steps by: each is counted
                self._add({f"reached|{step}": 1 for step in steps}, at)
            else:
                self._marks.extend(_Mark(journey, step, at) for step in steps)
                if event == "response_sent":
                    self._ended.append(journey)
            if self._flush_seconds > 0 and self._flusher is None:
                self._start_flusher()
        if self._flush_seconds <= 0:
            self.flush()

    def _add(self, counted: Mapping[str, int], at: float) -> None:
        """Add ``counted`` to the pending counts of the buckets ``at`` falls in (the lock held)."""
        if not counted:
            return
        for resolution in RESOLUTIONS:
            key = resolution.key(resolution.start_of(at))
            _, pending = self._pending.setdefault(key, (resolution, {}))
            for name, amount in counted.items():
                pending[name] = pending.get(name, 0) + amount

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
        """Write what has been added up since the last flush: the funnel marks (one round trip, if any), then
        the counts with the journeys' first times among them (one more)."""
        with self._lock:
            marks, self._marks = self._marks, []
            ended, self._ended = self._ended, []
        try:
            if marks:
                marked = [(_funnel_key(mark.journey), mark.step.value) for mark in marks]
                firsts = self._counters.first_times(marked, self._journey_seconds)
                with self._lock:
                    for mark, first in zip(marks, firsts, strict=True):
                        if first:
                            self._add({f"reached|{mark.step}": 1}, mark.at)
            if ended:
                self._counters.forget(_funnel_key(journey) for journey in ended)
        except StoreUnavailableError as exc:
            logger.warning("Dashboard funnel not written: %s", type(exc).__name__)
        with self._lock:
            pending, self._pending = self._pending, {}
            increments = [(key, fields, resolution.ttl_seconds) for key, (resolution, fields) in pending.items()]
        if not increments:
            return
        try:
            self._counters.increment(increments)
        except StoreUnavailableError as exc:
            logger.warning("Dashboard counters not written: %s", type(exc).__name__)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class BucketCounts:
    """The counts of one time bucket, and its start."""

    start: int
    fields: dict[str, int]


def read_buckets(store: Store, resolution: Resolution, starts: Sequence[int]) -> list[BucketCounts]:
    """The counts of each bucket starting at ``starts``, in one round trip."""
    found = counters_for(store).read([resolution.key(start) for start in starts])
    return [BucketCounts(start, fields) for start, fields in zip(starts, found, strict=True)]
