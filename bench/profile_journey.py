"""``python -m bench.profile_journey``: the hub's CPU and store round trips per endpoint, measured in one process.

The benchmark (``python -m bench``) runs the federation as production does and reads the hub's CPU from the
operating system, which on a small shared machine is noisy. This runs the same complete journeys (stub service
→ hub → stub IDP → hub → matching → stub service) with the three apps served on loopback inside one process,
and charges each hub request the CPU time of the thread that served it (``time.thread_time``), which other
processes and the clients cannot disturb. Matching runs in a hub thread of its own and is charged separately.
It also counts, per endpoint, the hub's calls to its store and the Redis round trips they cost.

- ``--breakdown`` also charges the hub's CPU to what it was spent on (libxmlsec1, templates, Redis, XML
  parsing…), each part net of the parts inside it.
- ``--cprofile FILE`` profiles every hub thread (requests and matching) into one pstats file, timed in thread
  CPU, and prints the top functions. Python-heavy code looks dearer than it is while it runs.

What it does not see: the HTTP server around the hub (gunicorn in production, werkzeug's here), which the
benchmark's figure includes (about a third more on the last runs). Compare runs of the same code several
times: a run's figures can move by 10% with what else the machine is doing.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import logging
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any

import flask
import flask.templating
import redis
import redis.connection

import federation.saml.checks
import federation.saml.crypto
import federation.saml.xml
import hub.audit
import hub.journey.repository
import hub.matching
import hub.matching_runner
from keys.pki import generate
from tests.journeys.drive import Journey
from tests.support import LiveFederation, free_port, start_federation

MATCHING_THREAD = "(matching thread)"
REQUEST_REST = "Flask and werkzeug around the views"
MATCHING_REST = "matching thread, rest"
# The store's own methods are counted; these are not calls to the store.
UNCOUNTED = frozenset({"ping", "keys", "client", "prefix", "kind"})
_local = threading.local()


@dataclass
class _Part:
    """A part being measured in this thread: when it started, and the CPU of the parts inside it so far."""

    name: str
    started: float = field(default_factory=time.thread_time)
    inner: float = 0.0


@dataclass
class Meter:
    """CPU seconds, calls, store calls and Redis round trips by label (an endpoint or the matching thread), and
    CPU seconds by part of the code when ``--breakdown`` asks."""

    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    store_calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    round_trips: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    parts: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    profile: pstats.Stats | None = None
    profiling: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def measure(self, label: str) -> Iterator[None]:
        """Charge the CPU of this thread, until the block ends, to ``label``."""
        _local.label = label
        _local.parts = [_Part(MATCHING_REST if label == MATCHING_THREAD else REQUEST_REST)]
        profiler = cProfile.Profile(time.thread_time) if self.profiling else None
        started = time.thread_time()
        if profiler is not None:
            profiler.enable()
        try:
            yield
        finally:
            if profiler is not None:
                profiler.disable()
            cpu = time.thread_time() - started
            root: _Part = _local.parts[0]
            _local.label, _local.parts = None, None
            with self._lock:
                self.cpu[label] += cpu
                self.calls[label] += 1
                self.parts[root.name] += time.thread_time() - root.started - root.inner
                if profiler is not None:
                    if self.profile is None:
                        self.profile = pstats.Stats(profiler)
                    else:
                        self.profile.add(profiler)

    def count(self, table: dict[str, int]) -> None:
        label = getattr(_local, "label", None)
        if label is not None:
            with self._lock:
                table[label] += 1

    def part(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function``, charging its CPU (less that of the parts it calls) to ``name`` inside a measure."""

        @wraps(function)
        def measured(*args: Any, **kwargs: Any) -> Any:
            stack: list[_Part] | None = getattr(_local, "parts", None)
            if stack is None:
                return function(*args, **kwargs)
            part = _Part(name)
            stack.append(part)
            try:
                return function(*args, **kwargs)
            finally:
                stack.pop()
                elapsed = time.thread_time() - part.started
                stack[-1].inner += elapsed
                with self._lock:
                    self.parts[name] += elapsed - part.inner

        return measured

    def reset(self) -> None:
        with self._lock:
            for table in (self.cpu, self.calls, self.store_calls, self.round_trips, self.parts):
                table.clear()
            self.profile = None


def _measured_wsgi(meter: Meter, wsgi_app: Callable[..., Iterable[bytes]]) -> Callable[..., list[bytes]]:
    """The hub's WSGI app, charged per request to ``METHOD /path``; the body is produced inside the measure."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        label = f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}"
        with meter.measure(label):
            result = wsgi_app(environ, start_response)
            try:
                body = list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return body

    return app


def _counted(meter: Meter, method: Callable[..., Any]) -> Callable[..., Any]:
    """A store method that counts its calls, but not those it makes to the store's other methods."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if getattr(_local, "in_store", False):
            return method(*args, **kwargs)
        meter.count(meter.store_calls)
        _local.in_store = True
        try:
            return method(*args, **kwargs)
        finally:
            _local.in_store = False

    return call


def _instrument_hub(meter: Meter, live: LiveFederation, breakdown: bool) -> None:
    app = live.apps["hub"]
    app.wsgi_app = _measured_wsgi(meter, app.wsgi_app)  # type: ignore[method-assign]
    store = app.extensions["runtime"].store
    for name in dir(store):
        method = getattr(store, name)
        if not name.startswith("_") and name not in UNCOUNTED and callable(method):
            counted = _counted(meter, method)
            setattr(store, name, meter.part("store client and Redis round trips", counted) if breakdown else counted)


def _patch_globally(meter: Meter) -> None:
    """Round trips: one packed send per command or pipeline. The matching thread is charged as one label."""
    send = redis.connection.AbstractConnection.send_packed_command

    def counting_send(self: Any, command: Any, check_health: bool = True) -> None:
        meter.count(meter.round_trips)
        send(self, command, check_health)  # type: ignore[no-untyped-call]

    redis.connection.AbstractConnection.send_packed_command = counting_send  # type: ignore[method-assign]
    run = hub.matching_runner._run

    def measured_run(app: flask.Flask, *args: Any) -> None:
        with meter.measure(MATCHING_THREAD):
            run(app, *args)

    hub.matching_runner._run = measured_run


def _replace_everywhere(function: Any, replacement: Any) -> None:
    """Rebind ``function`` to ``replacement`` in every module that imported it by name."""
    for module in list(sys.modules.values()):
        names = getattr(module, "__dict__", {})
        for name, value in list(names.items()):
            if value is function:
                setattr(module, name, replacement)


def _break_down(meter: Meter) -> None:
    """Wrap the parts of the hub's work that ``--breakdown`` reports. Shared code (crypto, XML, templates) is
    charged only while a hub thread is being measured, so the stubs' use of it does not count."""
    crypto, xml, messages = federation.saml.crypto, federation.saml.xml, federation.saml.checks
    functions: dict[str, list[tuple[Any, str]]] = {
        "libxmlsec1 (sign, verify, encrypt, decrypt)": [
            (crypto.InProcessBackend, name) for name in ("sign", "verify", "encrypt", "decrypt")
        ],
        "crypto: templates and guards around libxmlsec1": [
            (crypto, name) for name in ("sign", "verify", "encrypt_assertion", "decrypt_assertion")
        ],
        "XML parsing and its checks": [(xml, "parse")],
        "XML serialising": [(xml, "to_bytes")],
        "SAML messages: building and checking": [(messages, "check_assertion")]
        + [
            (messages, name)
            for name in ("authn_request", "response", "assertion", "attribute_query", "check_message", "read_status")
        ],
        "templates (Jinja)": [(flask.templating, "_render")],
        "journeys: (de)serialising": [
            (hub.journey.repository.JourneyRepository, name)
            for name in (
                "start",
                "save",
                "save_if_at",
                "load",
                "end",
                "claim_request",
                "claim_answer",
                "first_use_all",
            )  # fmt: skip
        ],
        "back channel HTTP (urllib3)": [(hub.matching, "_post")],
        "audit events": [(hub.audit.Auditor, "event")],
        "Flask before_request hooks": [(flask.Flask, "preprocess_request")],
        "Flask after_request hooks and response": [(flask.Flask, "finalize_request")],
        "views, rest": [(flask.Flask, "dispatch_request")],
    }
    for part, targets in functions.items():
        for owner, name in targets:
            original = getattr(owner, name, None)
            if original is None:
                continue
            wrapped = meter.part(part, original)
            if isinstance(owner, type):
                setattr(owner, name, wrapped)
            else:
                _replace_everywhere(original, wrapped)


@contextmanager
def _redis_server(work: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(work)],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def _no_redis() -> Iterator[None]:
    yield None


def _journey(live: LiveFederation) -> None:
    journey = Journey(live)
    outcome = journey.to_service(journey.sign_in("alice"))
    if outcome.text("#record-reference") != "PAYE-1001":
        raise RuntimeError("journey did not end at the service's record")
    # The citizen's parsed pages are cyclic garbage: collect it here, on the client's time, not in whichever hub
    # thread would next trip the collector (a hub process has no such garbage).
    del journey, outcome
    gc.collect()


def _report(meter: Meter, journeys: int, mode: str, breakdown: bool) -> None:
    total = sum(meter.cpu.values())
    print(f"\n{mode}: hub CPU {total * 1000 / journeys:.2f} ms per journey over {journeys} journeys")
    print(f"| {'endpoint':<35} | per journey | CPU ms/journey | CPU ms/call | store calls/call | Redis trips/call |")
    print(f"|{'-' * 37}|-------------|----------------|-------------|------------------|------------------|")
    for label in sorted(meter.cpu, key=lambda name: -meter.cpu[name]):
        calls = meter.calls[label]
        print(
            f"| {label:<35} | {calls / journeys:>11.2f} | {meter.cpu[label] * 1000 / journeys:>14.2f} "
            f"| {meter.cpu[label] * 1000 / calls:>11.2f} | {meter.store_calls[label] / calls:>16.2f} "
            f"| {meter.round_trips[label] / calls:>16.2f} |"
        )
    stores, trips = sum(meter.store_calls.values()), sum(meter.round_trips.values())
    print(f"store calls per journey {stores / journeys:.1f}, Redis round trips per journey {trips / journeys:.1f}")
    if breakdown:
        print(f"\nWhere the hub's CPU went ({mode}; each part net of the parts inside it; wrapping costs a little):")
        for name in sorted(meter.parts, key=lambda part: -meter.parts[part]):
            print(f"  {meter.parts[name] * 1000 / journeys:6.2f} ms/journey  {name}")


def run(mode: str, args: argparse.Namespace, keys_dir: Path, meter: Meter, work: Path) -> None:
    with _redis_server(work) if mode == "redis" else _no_redis() as redis_url:
        settings = {"log_level": args.log_level, "testing": False, "stats_flush_seconds": 1.0}  # as in production
        live, servers = start_federation(keys_dir, redis_url, **settings)
        try:
            _instrument_hub(meter, live, args.breakdown)
            for _ in range(args.warmup):
                _journey(live)
            meter.reset()
            meter.profiling = args.cprofile is not None
            for _ in range(args.journeys):
                _journey(live)
            meter.profiling = False
            time.sleep(0.2)  # let the last matching thread finish its accounting
            _report(meter, args.journeys, mode, args.breakdown)
        finally:
            for server in servers:
                server.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile_journey",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--journeys", type=int, default=60, help="measured journeys per store (default 60)")
    parser.add_argument("--warmup", type=int, default=3, help="journeys before measuring (default 3)")
    parser.add_argument("--stores", default="redis,memory", help="comma-separated: redis, memory (default both)")
    parser.add_argument("--backend", default="inprocess", choices=("inprocess", "xmlsec1"), help="crypto backend")
    parser.add_argument("--log-level", default="WARNING", help="the apps' log level (default WARNING, as the bench)")
    parser.add_argument("--breakdown", action="store_true", help="also say what the hub's CPU was spent on")
    parser.add_argument("--cprofile", type=Path, help="write a pstats file of the hub threads here")
    parser.add_argument("--top", type=int, default=40, help="functions to print with --cprofile (default 40)")
    args = parser.parse_args(argv)
    federation.saml.crypto.use_backend(args.backend)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the loopback servers' access log
    meter = Meter()
    _patch_globally(meter)
    if args.breakdown:
        _break_down(meter)
    with tempfile.TemporaryDirectory(prefix="ida-hub-profile-") as scratch:
        work = Path(scratch)
        keys_dir = work / "keys"
        generate(keys_dir)
        for mode in args.stores.split(","):
            run(mode, args, keys_dir, meter, work)
            if args.cprofile is not None and meter.profile is not None:
                path = args.cprofile.with_suffix(f".{mode}{args.cprofile.suffix or '.pstats'}")
                path.parent.mkdir(parents=True, exist_ok=True)
                meter.profile.dump_stats(path)
                print(f"\nTop {args.top} by own time (hub threads, {mode}); whole profile in {path}")
                meter.profile.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
