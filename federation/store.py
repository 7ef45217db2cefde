"""Short-lived server-side state: journeys, outstanding request IDs and the replay cache.

Redis when a URL is given, so that any worker or process can continue any journey; otherwise an
in-process store for a single process. Values are small JSON documents with a time to live.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import redis
import redis.cluster
import redis.sentinel

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


def _client(url: str) -> redis.Redis:
    """A Redis client for ``url``: a single server, or when one machine is not enough, Sentinel or Cluster.

    - ``redis://host:6379/0`` (or ``rediss://`` for TLS): one server.
    - ``redis+sentinel://host1:26379,host2:26379/mymaster/0``: the master that Sentinel names, followed
      through fail-overs.
    - ``redis+cluster://host:6379``: a Redis Cluster; every key the hub uses is a single-key operation, so
      keys may live on any shard.
    """
    options = {"socket_timeout": 2, "socket_connect_timeout": 2}
    if url.startswith("redis+sentinel://"):
        hosts, _, rest = url.removeprefix("redis+sentinel://").partition("/")
        service, _, db = rest.partition("/")
        sentinels = [(host, int(port)) for host, _, port in (item.rpartition(":") for item in hosts.split(","))]
        sentinel = redis.sentinel.Sentinel(sentinels, **options)  # type: ignore[no-untyped-call]
        master: redis.Redis = sentinel.master_for(service, db=int(db or 0), **options)  # type: ignore[no-untyped-call]
        return master
    if url.startswith("redis+cluster://"):
        return redis.cluster.RedisCluster.from_url("redis://" + url.removeprefix("redis+cluster://"), **options)  # type: ignore[return-value]
    return redis.Redis.from_url(url, **options)


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


def _encode(value: dict[str, Any]) -> str:
    """A value as the store keeps it: compact JSON."""
    return json.dumps(value, separators=(",", ":"))


def execute_pipeline(pipe: Any) -> list[Any]:
    """Send a pipeline; a Redis failure becomes StoreUnavailableError, as for every store call."""
    try:
        return list(pipe.execute())
    except redis.RedisError as exc:
        raise StoreUnavailableError(f"session store unavailable: {type(exc).__name__}") from exc


class RedisStore:
    kind = "redis"

    def __init__(self, url: str, prefix: str) -> None:
        self._redis = _client(url)
        self._prefix = prefix
        self._put_if = self._redis.register_script(_PUT_IF)

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    def key(self, key: str) -> str:
        """``key`` as Redis holds it (with this store's prefix), for a module that sends its own commands."""
        return self._key(key)

    def _call(self, method: str | Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A Redis command by name, or a registered script; a Redis failure becomes StoreUnavailableError."""
        try:
            return (getattr(self._redis, method) if isinstance(method, str) else method)(*args, **kwargs)
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"session store unavailable: {type(exc).__name__}") from exc

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self._call("get", self._key(key))
        return None if raw is None else dict(json.loads(raw))

    def put(self, key: str, value: dict[str, Any], ttl_seconds: int) -> None:
        self._call("set", self._key(key), _encode(value), ex=max(1, ttl_seconds))

    def take(self, key: str) -> dict[str, Any] | None:
        raw = self._call("getdel", self._key(key))
        return None if raw is None else dict(json.loads(raw))

    def delete(self, *keys: str) -> None:
        """Delete ``keys`` in one command (Redis Cluster splits it by shard)."""
        self._call("delete", *(self._key(key) for key in keys))

    def add_once(self, key: str, ttl_seconds: int) -> bool:
        return bool(self._call("set", self._key(key), b"1", nx=True, ex=max(1, ttl_seconds)))

    # Several writes in one round trip (a pipeline, not a transaction: each write stands on its own).

    def put_many(self, values: Mapping[str, dict[str, Any]], ttl_seconds: int) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for key, value in values.items():
            pipe.set(self._key(key), _encode(value), ex=max(1, ttl_seconds))
        self._execute(pipe)

    def add_once_many(self, entries: Sequence[tuple[str, int]]) -> list[bool]:
        """``add_once`` for each (key, ttl), in order; every key is marked, whichever were already there."""
        pipe = self._redis.pipeline(transaction=False)
        for key, ttl_seconds in entries:
            pipe.set(self._key(key), b"1", nx=True, ex=max(1, ttl_seconds))
        return [bool(result) for result in self._execute(pipe)]

    def take_and_add_once(self, key: str, once_key: str, ttl_seconds: int) -> tuple[dict[str, Any] | None, bool]:
        """``take(key)`` and ``add_once(once_key, ttl_seconds)`` in one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.getdel(self._key(key))
        pipe.set(self._key(once_key), b"1", nx=True, ex=max(1, ttl_seconds))
        raw, added = self._execute(pipe)
        return None if raw is None else dict(json.loads(raw)), bool(added)

    def put_and_add_once(self, key: str, value: dict[str, Any], ttl_seconds: int, once_key: str, once_ttl: int) -> bool:
        """``put(key, value, ttl_seconds)`` and ``add_once(once_key, once_ttl)`` in one round trip; the
        ``add_once``'s answer (the value is written either way)."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(self._key(once_key), b"1", nx=True, ex=max(1, once_ttl))
        pipe.set(self._key(key), _encode(value), ex=max(1, ttl_seconds))
        return bool(self._execute(pipe)[0])

    def put_if(self, key: str, value: dict[str, Any], ttl_seconds: int, expected: Expected) -> bool:
        """Write ``value`` only if a value is there whose every field in ``expected`` has one of the values
        listed for it: a check and a write in one atomic round trip. Whether it wrote."""
        arguments = (_encode(value), max(1, ttl_seconds), json.dumps(expected))
        # redis-py's Script sends EVALSHA, and loads the script first if this Redis does not have it yet.
        return bool(self._call(self._put_if, keys=[self._key(key)], args=arguments))

    @staticmethod
    def _execute(pipe: Any) -> list[Any]:
        return execute_pipeline(pipe)

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
        except redis.RedisError:
            return False


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

    def keys(self) -> list[str]:
        with self._lock:
            return [k for k in list(self._data) if self._live(k) is not None]


def make_store(redis_url: str | None, prefix: str) -> Store:
    if redis_url:
        logger.info("Session store: Redis (%s)", prefix)
        return RedisStore(redis_url, prefix)
    logger.info("Session store: in-process (single process only; set REDIS_URL to share state)")
    return MemoryStore()
