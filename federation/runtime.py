"""What every app needs at run time: its settings, the checked federation, its own keys and its store."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from federation.config import Federation, FederationConfigError, load_federation
from federation.saml.crypto import use_backend
from federation.saml.keys import KeyPair
from federation.settings import AppSettings
from federation.store import Store, make_store

logger = logging.getLogger(__name__)
_PASSWORD = re.compile(r"(//[^:@/]*):[^@/]*@")


class StoreUnreachableError(RuntimeError):
    """The app's Redis did not answer at start-up: rather than start and answer every page with a 503, stop."""


def unreachable_store(redis_url: str, variable: str = "REDIS_URL") -> str:
    """What to say when Redis at ``redis_url`` (from ``variable``) does not answer: where, and how to start one."""
    shown = _PASSWORD.sub(r"\1:***@", redis_url)  # never print a password
    port = re.match(r"redis://(?:[^@/]*@)?[^:/]*:(\d+)", redis_url)
    server = f"redis-server --port {port.group(1) if port else 6379} --bind 127.0.0.1"
    return (
        f"Redis at {shown} ({variable}) did not answer a PING.\n"
        f"  Start it: {server if redis_url.startswith('redis://') else 'see docs/redis.md'}"
        "  (Debian: apt-get install redis-server)\n"
        f"  or run without {variable}: each app then keeps its state in its own process.\n"
        "  If Redis is running, check the URL, and the user and password in it (docs/redis.md)."
    )


def _file_state(path: os.PathLike[str] | str) -> tuple[int, int, int] | None:
    """What tells a changed file: its inode (an atomic replace makes a new one), size and modification time."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


@dataclass
class Runtime:
    """The app's settings, store and federation. The federation is replaced, whole, when its file changes and
    the new file loads (``reload_if_changed``); a request or journey already holding the old one finishes with it.
    """

    settings: AppSettings
    federation: Federation
    store: Store
    _key_pairs: dict[str, KeyPair] = field(default_factory=dict)
    # Called with the new federation after each reload (an app rebuilding what it derives from the file).
    listeners: list[Callable[[Federation], None]] = field(default_factory=list)
    reloads: int = 0
    loaded_at: float = field(default_factory=time.time)
    last_refusal: str | None = None
    _file_state: tuple[int, int, int] | None = None
    _next_check: float = 0.0
    _reload_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._file_state = _file_state(self.federation.source)

    def key_pair(self, certificate: str) -> KeyPair:
        """Our private key for ``certificate`` (a path relative to the keys directory), loaded once."""
        pair = self._key_pairs.get(certificate)
        if pair is None:
            pair = KeyPair(self.federation.private_key_path(certificate), self.federation.cert(certificate))
            self._key_pairs[certificate] = pair
        return pair

    @property
    def skew(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.federation.hub.clock_skew_seconds)

    def reload_if_changed(self, *, force: bool = False) -> bool:
        """Load the federation file again if it changed (looked at once every ``federation_reload_seconds`` at
        most, or now with ``force``). A file that fails to load is refused with a logged error and the running
        federation stays; it is tried again only when it changes again. Whether a new federation was taken up."""
        interval = self.settings.federation_reload_seconds
        now = time.monotonic()
        if (interval <= 0 and not force) or (now < self._next_check and not force):
            return False
        if not self._reload_lock.acquire(blocking=False):
            return False  # another thread is at it
        try:
            self._next_check = now + interval
            state = _file_state(self.settings.federation_file)
            if state is None or state == self._file_state:
                return False
            self._file_state = state
            return self._reload()
        finally:
            self._reload_lock.release()

    def _reload(self) -> bool:
        started = time.perf_counter()
        source = self.settings.federation_file
        try:
            federation = load_federation(source, keys_dir=self.settings.keys_dir, urls=self.settings.urls)
        except FederationConfigError as exc:
            self.last_refusal = str(exc)
            since = time.strftime("%H:%M:%S", time.gmtime(self.loaded_at))
            logger.error("Federation file changed but refused; still running the one loaded at %s UTC: %s", since, exc)
            return False
        if federation.file.hub != self.federation.file.hub:
            logger.warning("Federation file: the hub's own entry changed; restart the apps to take that up")
        self.federation, self.loaded_at, self.last_refusal = federation, time.time(), None
        self.reloads += 1
        for listener in self.listeners:
            listener(federation)
        logger.info(
            "Federation file reloaded in %.0f ms: %d identity providers, %d departments, %d relying services",
            (time.perf_counter() - started) * 1000,
            len(federation.file.identity_providers),
            len(federation.file.departments),
            len(federation.file.relying_services),
        )
        return True


def load_runtime(settings: AppSettings, store_prefix: str) -> Runtime:
    use_backend(settings.crypto_backend)
    federation = load_federation(settings.federation_file, keys_dir=settings.keys_dir, urls=settings.urls)
    logger.info(
        "Federation loaded from %s: %d identity providers, %d departments, %d relying services; crypto: %s",
        settings.federation_file,
        len(federation.file.identity_providers),
        len(federation.file.departments),
        len(federation.file.relying_services),
        settings.crypto_backend,
    )
    store = make_store(settings.redis_url, store_prefix)
    if settings.redis_url and not store.ping():  # else the app would start, and answer every page with a 503
        raise StoreUnreachableError(unreachable_store(settings.redis_url))
    return Runtime(settings=settings, federation=federation, store=store)
