"""Short-lived server-side state: journeys, outstanding request IDs and the replay cache.

Redis when a URL is given, so that any worker or process can continue any journey; otherwise an
in-process store for a single process. Values are small JSON documents with a time to live.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import redis
import redis.cluster
import redis.sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry

from federation.errors import StoreUnavailableError

logger = logging.getLogger(__name__)


def replay_key(kind: str, *parts: str) -> str:
    """The replay cache's key for a message: ``seen:<kind>:`` and the SHA-256 of its identifying parts.

    Fixed length whatever a sender put in its IDs (the review wrote a 65 KB key with a 64 KiB assertion ID), and
    no message ID or entity ID in the store's key space.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"seen:{kind}:{digest}"


# For ``put_if``: the fields a stored value must have, each with one of the values listed for it.
Expected = Mapping[str, Sequence[str]]


class Store(Protocol):
    kind: str

    def get(self, key: str) -> dict[str, Any] | None: ...
    def put(self, key: str, value: dict[str, Any], ttl_seconds: int) -> None: ...
    def take(self, key: str) -> dict[str, Any] | None: ...
    def delete(self, *keys: str) -> None: ...
    def add_once(self, key: str, ttl_seconds: int) -> bool: ...
    def put_many(self, values: Mapping[str, dict[str, Any]], ttl_seconds: int) -> None: ...
    def add_once_many(self, entries: Sequence[tuple[str, int]]) -> list[bool]: ...
    def take_and_add_once(self, key: str, once_key: str, ttl_seconds: int) -> tuple[dict[str, Any] | None, bool]: ...
    def put_if(self, key: str, value: dict[str, Any], ttl_seconds: int, expected: Expected) -> bool: ...
    def put_and_add_once(
        self, key: str, value: dict[str, Any], ttl_seconds: int, once_key: str, once_ttl: int
    ) -> bool: ...
    def ping(self) -> bool: ...
    def describe(self) -> dict[str, Any]: ...


def _client(url: str) -> redis.Redis:
    """A Redis client for ``url``: a single server, or when one machine is not enough, Sentinel or Cluster.

    - ``redis://host:6379/0`` (or ``rediss://`` for TLS): one server.
    - ``redis+sentinel://host1:26379,host2:26379/mymaster/0``: the master that Sentinel names, followed
      through fail-overs.
    - ``redis+cluster://host1:6379,host2:6379``: a Redis Cluster, found from any node listed that answers;
      every key the hub uses is a single-key operation, so keys may live on any shard.
    """
    options = {"socket_timeout": 2, "socket_connect_timeout": 2}
    if url.startswith("redis+sentinel://"):
        hosts, _, rest = url.removeprefix("redis+sentinel://").partition("/")
        service, _, db = rest.partition("/")
        sentinels = [(host, int(port)) for host, _, port in (item.rpartition(":") for item in hosts.split(","))]
        # Each sentinel asked once: Sentinel already tries them in turn, and redis-py's default retries (ten, with
        # back-off) made every store call wait 12 s when three sentinels were unreachable.
        # A sentinel answers in a millisecond: one that does not within half a second is asked no longer.
        once = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5, "retry": Retry(NoBackoff(), 0)}
        sentinel = redis.sentinel.Sentinel(sentinels, sentinel_kwargs=once, **options)  # type: ignore[no-untyped-call]
        master: redis.Redis = sentinel.master_for(service, db=int(db or 0), **options)  # type: ignore[no-untyped-call]
        return master
    if url.startswith("redis+cluster://"):
        return _cluster_client(url.removeprefix("redis+cluster://"), options)
    # One immediate retry on a new connection, as the cluster client retries: a pooled connection that Redis or
    # something between closed while idle would otherwise fail the citizen's request with a 503. Every write
    # the hub makes is safe to send twice (use-once markers included: see ``RedisStore.add_once``).
    return redis.Redis.from_url(url, retry=Retry(NoBackoff(), 1), **options)


def _cluster_client(location: str, options: dict[str, Any]) -> redis.Redis:
    """A cluster client from ``[user:password@]host:port[,host:port…][/…]``: redis-py reads the first node's URL
    (credentials and options included) and takes the others as more nodes to start from, so that a process
    starts while any one of them answers.

    When none answers, a plain client of the first: its ``ping`` is False, so the app stops at start-up with
    the plain message it gives for a single Redis that is down, not redis-py's RedisClusterException.
    """
    credentials, at, rest = location.rpartition("@")
    hosts, slash, tail = rest.partition("/")
    first, *others = hosts.split(",")
    url = f"redis://{credentials}{at}{first}{slash}{tail}"
    nodes = [
        redis.cluster.ClusterNode(host, int(port))  # type: ignore[no-untyped-call]
        for host, _, port in (item.rpartition(":") for item in others)
    ]
    try:
        return redis.cluster.RedisCluster.from_url(url, startup_nodes=nodes, **options)  # type: ignore[return-value]
    except redis.exceptions.RedisClusterException:
        logger.warning("No Redis Cluster node answered at %s", ",".join([first, *others]))
        return redis.Redis.from_url(url, **options)


def _topology(url: str) -> str:
    """``single``, ``sentinel`` or ``cluster``: which kind of Redis deployment ``url`` names."""
    if url.startswith("redis+sentinel://"):
        return "sentinel"
    return "cluster" if url.startswith("redis+cluster://") else "single"


# A write of a use-once marker (the replay cache) waits this long at most for a replica to hold it too, where
# there are replicas (Sentinel, Cluster): replication is asynchronous, and a master that fails before its replica
# has a marker would let the promoted replica accept the same message again. Measured on loopback, each round trip
# that writes markers (three a journey) takes 0.02 ms (Sentinel) to 0.15 ms (Cluster) longer.
REPLICA_WAIT_MS = 100
# How long a taken value's marker stays (``RedisStore._take``): the value itself is deleted at once; the marker
# only matters should that delete not happen.
TAKEN_MARKER_SECONDS = 3600
# How often a process on Sentinel asks which server is master (RedisStore._follow_master).
MASTER_CHECK_SECONDS = 1.0
# When no replica acknowledged in time (none is up, or there are none), waiting stops for this long: each
# marker would otherwise wait the whole REPLICA_WAIT_MS, for a protection there is no replica to give.
REPLICA_WAIT_PAUSE_SECONDS = 30


# KEYS[1]: the key; ARGV: the new JSON value, its time to live, and {field: [allowed values]} as JSON.
_PUT_IF = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
current = cjson.decode(current)
for field, allowed in pairs(cjson.decode(ARGV[3])) do
  local found = false
  for _, value in ipairs(allowed) do
    if current[field] == value then found = true break end
  end
  if not found then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


def _token() -> bytes:
    return secrets.token_hex(8).encode()


def _first(previous: bytes | None, token: bytes) -> bool:
    """Whether a use-once marker written with ``token`` by SET NX GET was first: nothing was there before it, or
    the marker is this call's own (a retry of a write that had been applied)."""
    return previous is None or previous == token


def _encode(value: dict[str, Any]) -> str:
    """A value as the store keeps it: compact JSON."""
    return json.dumps(value, separators=(",", ":"))


# What a failing Redis raises. redis-py's cluster client raises RedisClusterException, which is not a RedisError,
# when no node answers at all: without it here, a cluster that was wholly down gave 500s and a /_status that raised.
REDIS_FAILURES = (redis.RedisError, redis.exceptions.RedisClusterException)


def execute_pipeline(pipe: Any) -> list[Any]:
    """Send a pipeline; a Redis failure becomes StoreUnavailableError, as for every store call."""
    try:
        return list(pipe.execute())
    except REDIS_FAILURES as exc:
        raise StoreUnavailableError(f"session store unavailable: {type(exc).__name__}") from exc


class RedisStore:
    kind = "redis"

    def __init__(self, url: str, prefix: str) -> None:
        self._redis = _client(url)
        self._prefix = prefix
        self._put_if = self._redis.register_script(_PUT_IF)
        self.topology = _topology(url)
        self._cluster = self._redis if isinstance(self._redis, redis.cluster.RedisCluster) else None
        self._replica_wait_paused_until = 0.0 if self.topology != "single" else float("inf")
        self._masters_seen: str | None = None  # the master's address (Sentinel) or masters' (Cluster) seen last
        self._failover_noticed_at: float | None = None
        self._next_master_check = 0.0

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    def key(self, key: str) -> str:
        """``key`` as Redis holds it (with this store's prefix), for a module that sends its own commands."""
        return self._key(key)

    def _follow_master(self) -> None:
        """On Sentinel, ask the sentinels which server is master at most once a second, and drop idle connections
        to one that no longer is.

        redis-py's Sentinel pool looks the master up only when it opens a connection, so a process whose pooled
        connections stayed open through a fail-over (a master frozen, then back) went on writing to the old
        master, now outvoted, for the ten seconds or so until the sentinels made it a replica: those writes
        were lost. One lookup a second (a round trip of about 0.1 ms to a sentinel) bounds that to a second,
        and after a call that failed (a frozen or dead master) the next call looks at once.
        """
        if self.topology != "sentinel" or time.monotonic() < self._next_master_check:
            return
        self._next_master_check = time.monotonic() + MASTER_CHECK_SECONDS
        try:
            self._redis.connection_pool.get_master_address()  # type: ignore[attr-defined]
        except REDIS_FAILURES:
            pass  # no sentinel answered: the command itself tells the caller whether the store is there

    def _pipeline(self) -> Any:
        self._follow_master()
        return self._redis.pipeline(transaction=False)

    def _call(self, method: str | Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A Redis command by name, or a registered script; a Redis failure becomes StoreUnavailableError."""
        self._follow_master()
        try:
            return (getattr(self._redis, method) if isinstance(method, str) else method)(*args, **kwargs)
        except REDIS_FAILURES as exc:
            self._next_master_check = 0.0  # a fail-over may be why: ask the sentinels at the next call
            raise StoreUnavailableError(f"session store unavailable: {type(exc).__name__}") from exc

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self._call("get", self._key(key))
        return None if raw is None else dict(json.loads(raw))

    def put(self, key: str, value: dict[str, Any], ttl_seconds: int) -> None:
        self._call("set", self._key(key), _encode(value), ex=max(1, ttl_seconds))

    def take(self, key: str) -> dict[str, Any] | None:
        """The value at ``key``, to one caller only, and ``key`` deleted (see ``_take``)."""
        return self._take(key, TAKEN_MARKER_SECONDS, ())[0]

    def _take(
        self, key: str, marker_ttl: int, once: Sequence[tuple[str, int]]
    ) -> tuple[dict[str, Any] | None, list[bool]]:
        """Take ``key``'s value, and ``add_once`` each of ``once``, in one round trip; then delete ``key``.

        Taking is marking ``key`` as taken once (a replay marker holding this call's token, as ``add_once``
        writes it) and reading the value, so that a call retried after its answer was lost still takes: a GETDEL
        whose answer was lost had deleted the value, and its retry found nothing. The value and whether each of
        ``once`` was first.
        """
        token, taken = _token(), replay_key("taken", key)
        pipe = self._pipeline()
        pipe.get(self._key(key))
        pipe.set(self._key(taken), token, nx=True, get=True, ex=max(1, marker_ttl))
        for once_key, ttl_seconds in once:
            pipe.set(self._key(once_key), token, nx=True, get=True, ex=max(1, ttl_seconds))
        markers = [self._key(taken), *(self._key(once_key) for once_key, _ in once)]
        raw, took, *added = self._execute_marking(pipe, markers)
        firsts = [_first(previous, token) for previous in added]
        if raw is None or not _first(took, token):
            return None, firsts
        self.delete(key)
        return dict(json.loads(raw)), firsts

    def delete(self, *keys: str) -> None:
        """Delete ``keys`` in one command (Redis Cluster splits it by shard)."""
        self._call("delete", *(self._key(key) for key in keys))

    # A use-once marker holds a token of the call that wrote it, and is written with SET NX GET: the answer is
    # the token already there, if any. redis-py retries a command whose answer was lost (a frozen or failing
    # node: the cluster client retries by default), and a retry of a plain SET NX that had in fact been applied
    # answered "already there", so a genuine message was refused as a replay. A marker holding this call's own
    # token was written by this call. (SET with both NX and GET needs Redis 7.0 or later.)

    def add_once(self, key: str, ttl_seconds: int) -> bool:
        token = _token()
        pipe = self._pipeline()
        pipe.set(self._key(key), token, nx=True, get=True, ex=max(1, ttl_seconds))
        return _first(self._execute_marking(pipe, [self._key(key)])[0], token)

    # Several writes in one round trip (a pipeline, not a transaction: each write stands on its own).

    def put_many(self, values: Mapping[str, dict[str, Any]], ttl_seconds: int) -> None:
        pipe = self._pipeline()
        for key, value in values.items():
            pipe.set(self._key(key), _encode(value), ex=max(1, ttl_seconds))
        self._execute(pipe)

    def add_once_many(self, entries: Sequence[tuple[str, int]]) -> list[bool]:
        """``add_once`` for each (key, ttl), in order; every key is marked, whichever were already there."""
        token = _token()
        pipe = self._pipeline()
        for key, ttl_seconds in entries:
            pipe.set(self._key(key), token, nx=True, get=True, ex=max(1, ttl_seconds))
        results = self._execute_marking(pipe, [self._key(key) for key, _ in entries])
        return [_first(result, token) for result in results]

    def take_and_add_once(self, key: str, once_key: str, ttl_seconds: int) -> tuple[dict[str, Any] | None, bool]:
        """``take(key)`` and ``add_once(once_key, ttl_seconds)`` in one round trip (``_take``)."""
        value, (first,) = self._take(key, ttl_seconds, [(once_key, ttl_seconds)])
        return value, first

    def put_and_add_once(self, key: str, value: dict[str, Any], ttl_seconds: int, once_key: str, once_ttl: int) -> bool:
        """``put(key, value, ttl_seconds)`` and ``add_once(once_key, once_ttl)`` in one round trip; the
        ``add_once``'s answer (the value is written either way)."""
        token = _token()
        pipe = self._pipeline()
        pipe.set(self._key(once_key), token, nx=True, get=True, ex=max(1, once_ttl))
        pipe.set(self._key(key), _encode(value), ex=max(1, ttl_seconds))
        return _first(self._execute_marking(pipe, [self._key(once_key)])[0], token)

    def _execute_marking(self, pipe: Any, markers: Sequence[str]) -> list[Any]:
        """Send ``pipe``, which sets the use-once ``markers`` (keys as Redis holds them); with replicas, end it
        with ``WAIT 1 REPLICA_WAIT_MS`` on each master written to, so that the answer comes once a replica holds
        the markers too (or the wait is up). The pipeline's own results, without the waits'.

        WAIT covers the writes sent before it on the same connection, which is why it rides in the pipeline: on
        a cluster, a pipeline sends each node's commands on one connection, in order. A wait that ran out is not
        an error (the markers are on the master), but a fail-over before the replica catches up would forget
        them; and with no replica answering, waiting pauses (REPLICA_WAIT_PAUSE_SECONDS).
        """
        if time.monotonic() < self._replica_wait_paused_until:
            return self._execute(pipe)
        if self._cluster is None:
            pipe.execute_command("WAIT", 1, REPLICA_WAIT_MS)
            waits = 1
        else:
            nodes = {node.name: node for node in (self._cluster.get_node_from_key(key) for key in markers)}
            for node in nodes.values():
                pipe.execute_command("WAIT", 1, REPLICA_WAIT_MS, target_nodes=node)
            waits = len(nodes)
        try:
            results = list(pipe.execute(raise_on_error=False))
        except REDIS_FAILURES as exc:
            self._next_master_check = 0.0
            raise StoreUnavailableError(f"session store unavailable: {type(exc).__name__}") from exc
        results, acknowledged = results[:-waits], results[-waits:]
        for result in results:
            if isinstance(result, Exception):
                raise StoreUnavailableError(f"session store unavailable: {type(result).__name__}") from result
        # A refused WAIT (a Redis user without it) weakens the replay cache but must not stop journeys.
        answers = [type(count).__name__ if isinstance(count, Exception) else str(count) for count in acknowledged]
        if any(not answer.isdigit() or int(answer) < 1 for answer in answers):
            self._replica_wait_paused_until = time.monotonic() + REPLICA_WAIT_PAUSE_SECONDS
            logger.warning(
                "No Redis replica held a replay marker within %d ms (%s): not waiting for replicas for %d s; a "
                "fail-over now could forget the newest markers",
                REPLICA_WAIT_MS,
                ", ".join(answers),
                REPLICA_WAIT_PAUSE_SECONDS,
            )
        return results

    def put_if(self, key: str, value: dict[str, Any], ttl_seconds: int, expected: Expected) -> bool:
        """Write ``value`` only if a value is there whose every field in ``expected`` has one of the values
        listed for it: a check and a write in one atomic round trip. Whether it wrote."""
        arguments = (_encode(value), max(1, ttl_seconds), json.dumps(expected))
        # redis-py's Script sends EVALSHA, and loads the script first if this Redis does not have it yet.
        return bool(self._call(self._put_if, keys=[self._key(key)], args=arguments))

    def _execute(self, pipe: Any) -> list[Any]:
        try:
            return execute_pipeline(pipe)
        except StoreUnavailableError:
            self._next_master_check = 0.0
            raise

    @property
    def client(self) -> redis.Redis:
        return self._redis

    def append_to_stream(self, key: str, fields: Mapping[str, str], max_length: int) -> None:
        """XADD to a capped stream (trimmed to about ``max_length`` entries)."""
        self._call("xadd", self._key(key), dict(fields), maxlen=max_length, approximate=True)

    def ping(self) -> bool:
        """Whether Redis answers, and lets this client run the hub's script (``put_if``, against a key that is
        never there): an ACL without ``@scripting`` would otherwise fail every matching answer unseen."""
        try:
            self._put_if(keys=[self._key("status-probe")], args=("{}", 1, "{}"))
            return bool(self._redis.ping())
        except REDIS_FAILURES:
            return False

    def describe(self) -> dict[str, Any]:
        """The Redis deployment behind this store, for the operations port's ``/_status``: for Sentinel, the
        master the sentinels name and the role of the node this app's connections reach; for Cluster, its state,
        its masters and the role of the node that answered; for both, when this process last saw the master
        change (it compares the master it sees at each call with the one before). Two commands at most, and
        never an exception: a failure is ``{"ok": false, "error": ...}``.

        A single Redis (``redis://``) is asked nothing more than ``ping`` asks: it has no fail-over to watch, and
        the hub's Redis user (``docs/redis.md``) may not run ``ROLE``.
        """
        details: dict[str, Any]
        try:
            if self._cluster is not None:
                details = self._describe_cluster(self._cluster)
            elif self.topology == "cluster":  # no node answered when this process started (``_cluster_client``)
                details = {"ok": False, "error": "no cluster node answered at start-up"}
            elif self.topology == "sentinel":
                details = self._describe_sentinel()
            else:
                details = {}
        except Exception as exc:  # the status page must answer whatever state Redis is in
            details = {"ok": False, "error": type(exc).__name__}
        noticed = self._failover_noticed_at
        at = None if noticed is None else dt.datetime.fromtimestamp(noticed, dt.UTC).isoformat(timespec="seconds")
        return {"topology": self.topology, **details, "master_change_noticed_at": at}

    def _describe_sentinel(self) -> dict[str, Any]:
        """``SENTINEL MASTER`` to the first sentinel that answers, and ``ROLE`` to the master this app reaches."""
        pool = self._redis.connection_pool
        state: dict[str, Any] | None = None
        for sentinel in pool.sentinel_manager.sentinels:  # type: ignore[attr-defined]
            try:
                state = sentinel.sentinel_master(pool.service_name)  # type: ignore[attr-defined]
                break
            except (redis.ConnectionError, redis.TimeoutError):
                continue
        if state is None:
            return {"ok": False, "error": "no sentinel answered"}
        master = f"{state['ip']}:{state['port']}"
        self._note_masters(master)
        details = {"ok": False, "master": master, "sentinel_flags": state["flags"]}
        try:
            role = self._redis.role()
        except redis.RedisError as exc:  # in a fail-over, the sentinels' view is the news: keep it
            return {**details, "role": None, "error": type(exc).__name__}
        is_master = role[0] == b"master"
        return {
            **details,
            "ok": is_master and not state["is_odown"],
            "role": _role_name(role[0]),
            "replicas": len(role[2]) if is_master else None,
        }

    def _describe_cluster(self, cluster: redis.cluster.RedisCluster) -> dict[str, Any]:
        """``CLUSTER INFO`` and ``CLUSTER NODES``, both to the node the client sends keyless commands to."""
        info = cluster.cluster_info()
        nodes = {address: str(node["flags"]).split(",") for address, node in cluster.cluster_nodes().items()}
        masters = sorted(address for address, flags in nodes.items() if "master" in flags and "fail" not in flags)
        self._note_masters(",".join(masters))
        answering = next((address for address, flags in nodes.items() if "myself" in flags), None)
        return {
            "ok": info["cluster_state"] == "ok",
            "cluster_state": info["cluster_state"],
            "masters": int(info["cluster_size"]),
            "replicas": sum(1 for flags in nodes.values() if "slave" in flags and "fail" not in flags),
            "failed_nodes": sorted(address for address, flags in nodes.items() if "fail" in flags),
            "node": answering,
            "role": _role_name(b"master" if answering and "master" in nodes[answering] else b"slave"),
        }

    def _note_masters(self, masters: str) -> None:
        """Remember ``masters``; when they differ from those seen at the last call, note the time and log it."""
        if self._masters_seen is not None and masters != self._masters_seen:
            self._failover_noticed_at = time.time()
            logger.warning("Redis master changed: now %s, was %s", masters, self._masters_seen)
        self._masters_seen = masters


def _role_name(role: bytes) -> str:
    """ROLE's answer in the words of the docs: ``master`` or ``replica`` (Redis says ``slave``)."""
    return {b"master": "master", b"slave": "replica"}.get(role, role.decode(errors="replace"))


class MemoryStore:
    """One process's store: for local runs and single-process tests only."""

    kind = "in-process"

    def __init__(self) -> None:
        self._data: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> dict[str, Any] | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._data[key]
            return None
        return entry[1]

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            value = self._live(key)
            return None if value is None else json.loads(json.dumps(value))

    def put(self, key: str, value: dict[str, Any], ttl_seconds: int) -> None:
        with self._lock:
            self._set(key, value, ttl_seconds)

    def take(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            value = self._live(key)
            self._data.pop(key, None)
            return value

    def _set(self, key: str, value: dict[str, Any], ttl_seconds: int) -> None:
        """Keep a copy of ``value``, as JSON would give it back, for ``ttl_seconds`` (at least 1); the lock held."""
        self._data[key] = (time.monotonic() + max(1, ttl_seconds), json.loads(_encode(value)))

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def add_once(self, key: str, ttl_seconds: int) -> bool:
        with self._lock:
            return self._add_once(key, ttl_seconds)

    def _add_once(self, key: str, ttl_seconds: int) -> bool:
        if self._live(key) is not None:
            return False
        self._data[key] = (time.monotonic() + max(1, ttl_seconds), {})
        return True

    def put_many(self, values: Mapping[str, dict[str, Any]], ttl_seconds: int) -> None:
        for key, value in values.items():
            self.put(key, value, ttl_seconds)

    def add_once_many(self, entries: Sequence[tuple[str, int]]) -> list[bool]:
        with self._lock:
            return [self._add_once(key, ttl_seconds) for key, ttl_seconds in entries]

    def take_and_add_once(self, key: str, once_key: str, ttl_seconds: int) -> tuple[dict[str, Any] | None, bool]:
        with self._lock:
            value = self._live(key)
            self._data.pop(key, None)
            return value, self._add_once(once_key, ttl_seconds)

    def put_and_add_once(self, key: str, value: dict[str, Any], ttl_seconds: int, once_key: str, once_ttl: int) -> bool:
        with self._lock:
            first = self._add_once(once_key, once_ttl)
            self._set(key, value, ttl_seconds)
            return first

    def put_if(self, key: str, value: dict[str, Any], ttl_seconds: int, expected: Expected) -> bool:
        with self._lock:
            current = self._live(key)
            if current is None or any(current.get(name) not in allowed for name, allowed in expected.items()):
                return False
            self._set(key, value, ttl_seconds)
            return True

    def ping(self) -> bool:
        return True

    def describe(self) -> dict[str, Any]:
        return {"topology": "in-process"}

    def keys(self) -> list[str]:
        with self._lock:
            return [k for k in list(self._data) if self._live(k) is not None]


def make_store(redis_url: str | None, prefix: str) -> Store:
    if redis_url:
        logger.info("Session store: Redis (%s)", prefix)
        return RedisStore(redis_url, prefix)
    logger.info("Session store: in-process (single process only; set REDIS_URL to share state)")
    return MemoryStore()
