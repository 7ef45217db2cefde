"""The federation as it runs in production: separate gunicorn processes on loopback sharing one Redis.

The operations app runs too, on its own port, so that the run's dashboard can be saved once the measuring
is done; it is idle until then and is not one of the hub processes whose CPU is measured.

The store is a redis-server of the federation's own, or a running Redis Sentinel set or Cluster named by its URL
(``redis_url``; ``tests/stores/topologies.py`` starts both). For ``bench.chaos`` an app's public URL may name a
relay in front of it (``fronts``), and the federation file may be edited before the apps read it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil  # type: ignore[import-untyped,unused-ignore]
import redis
import requests
import yaml
from bs4 import BeautifulSoup

from federation.config import DEFAULT_FEDERATION_FILE, DEFAULT_KEYS_DIR, load_federation
from keys.__main__ import main as generate_keys
from launcher.localrun import gunicorn_command, redis_command, wait_for
from tests.journeys.drive import Journey
from tests.support import LiveFederation, free_port

APPS = ("hub", "stub_idp", "stub_service")  # the apps every journey goes through, each a gunicorn


def _wait_for(port: int) -> None:
    if not wait_for("127.0.0.1", port, 30):
        raise RuntimeError(f"nothing listening on port {port} after 30 s")


class RunningFederation:
    def __init__(
        self,
        backend: str,
        *,
        hub_workers: int,
        work: Path,
        hub_cpus: set[int] | None = None,
        redis_url: str | None = None,
        store_processes: Sequence[int] = (),
        fronts: Mapping[str, int] | None = None,
        edit_federation: Callable[[dict[str, Any]], None] | None = None,
        log_dir: Path | None = None,
    ) -> None:
        """``hub_cpus``: run the hub on these CPUs and everything else (Redis, stubs, operations app, and the
        clients, which call ``pin_to_others``) on the rest, as if the hub had a machine of its own.

        ``redis_url``: a running store to use (``redis+sentinel://…``, ``redis+cluster://…``) instead of a
        redis-server of the federation's own; ``store_processes``: its processes' IDs, whose CPU is counted as
        Redis's. ``fronts``: app name → the port the federation's URLs name for it, where something else (a relay)
        listens and passes connections on to the app's own port (``ports``). ``edit_federation``: changes to the
        federation file's data before it is written. ``log_dir``: each app's output goes to ``<name>.log`` there
        rather than to this process's."""
        self.backend, self.hub_workers, self.work = backend, hub_workers, work
        self.hub_cpus = hub_cpus
        self.other_cpus = (set(os.sched_getaffinity(0)) - hub_cpus) if hub_cpus else None
        if hub_cpus is not None and (not self.other_cpus or not hub_cpus <= set(os.sched_getaffinity(0))):
            raise SystemExit(f"--hub-cpus {sorted(hub_cpus)}: this machine has CPUs {sorted(os.sched_getaffinity(0))}")
        self.redis_url, self.store_processes = redis_url, list(store_processes)
        self.fronts = dict(fronts or {})
        self.edit_federation = edit_federation
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.apps: dict[str, psutil.Process] = {}  # redis, hub, stub_idp, stub_service, operations
        self.ports: dict[str, int] = {}  # where each app listens itself
        self.env: dict[str, str] = {}
        self.redis: redis.Redis | None = None  # the federation's own redis-server, when it has one
        self.redis_process: subprocess.Popen[bytes] | None = None
        self.redis_port = 0
        self._store_popens: list[subprocess.Popen[bytes]] = []  # stopped last, so the apps never see it gone

    def __enter__(self) -> RunningFederation:
        try:
            return self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def _start(self) -> RunningFederation:
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        generate_keys([])
        if self.redis_url is None:
            self.redis_port = free_port()
            self.start_redis()
            self.redis = redis.Redis(port=self.redis_port)
            self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        elif self.store_processes:
            self.apps["redis"] = psutil.Process(self.store_processes[0])
        self.ports = {name: free_port() for name in APPS}
        urls = {name: f"http://127.0.0.1:{self.fronts.get(name, port)}" for name, port in self.ports.items()}
        data = yaml.safe_load(DEFAULT_FEDERATION_FILE.read_text())
        # Apps the benchmark does not run (stub Identity Provider Four) get a loopback port nothing listens on.
        data["urls"] = {**{name: f"http://127.0.0.1:{free_port()}" for name in data.get("urls", {})}, **urls}
        if self.edit_federation is not None:
            self.edit_federation(data)
        federation_file = self.work / "federation.yaml"
        federation_file.write_text(yaml.safe_dump(data))
        self.env = {
            **os.environ,
            "FEDERATION_FILE": str(federation_file),
            "KEYS_DIR": str(DEFAULT_KEYS_DIR),
            "REDIS_URL": self.redis_url,
            "LOG_LEVEL": "WARNING",
        }
        if self.redis_process is not None:
            _wait_for(self.redis_port)
        for name, workers, backend in (
            ("hub", self.hub_workers, self.backend),
            ("stub_idp", 2, "inprocess"),
            ("stub_service", 2, "inprocess"),
        ):
            self.spawn(name, f"{name}:create_app()", self.ports[name], workers, {"CRYPTO_BACKEND": backend})
        operations_port = free_port()
        self.operations_url = f"http://127.0.0.1:{operations_port}"
        self.spawn("operations", "hub.operations:create_app()", operations_port, 1, {"OPERATIONS_TOKEN": ""})
        for port in [*self.ports.values(), operations_port]:
            _wait_for(port)
        self.live = LiveFederation(
            urls, {}, DEFAULT_KEYS_DIR, load_federation(federation_file, keys_dir=DEFAULT_KEYS_DIR, urls=urls)
        )
        return self

    def spawn(self, name: str, target: str, port: int, workers: int, env: Mapping[str, str] | None = None) -> None:
        """Run the WSGI app ``target`` under gunicorn on ``port`` as ``name``, with the federation's settings and
        ``env``; stopped with the federation. The hub goes on the hub's CPUs, anything else on the others."""
        command = gunicorn_command(target, f"127.0.0.1:{port}", workers, "--log-level", "warning")
        pin = self._pin_to_hub if name == "hub" else self.pin_to_others
        output = None if self.log_dir is None else (self.log_dir / f"{name}.log").open("ab")
        try:
            process = subprocess.Popen(
                command, env={**self.env, **(env or {})}, preexec_fn=pin, stdout=output, stderr=output
            )
        finally:
            if output is not None:
                output.close()
        self.processes.append(process)
        self.apps[name] = psutil.Process(process.pid)

    def start_redis(self) -> None:
        """The federation's own redis-server on ``redis_port``, empty (it persists nothing): at start-up, and
        again when ``bench.chaos`` has killed it, as a supervisor would restart it."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("the benchmark needs redis-server (apt-get install redis-server)")
        self.redis_process = subprocess.Popen(
            redis_command(binary, self.redis_port, self.work), stdout=subprocess.DEVNULL, preexec_fn=self.pin_to_others
        )
        self.processes.append(self.redis_process)
        self._store_popens.append(self.redis_process)
        self.apps["redis"] = psutil.Process(self.redis_process.pid)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        apps = [process for process in self.processes if process not in self._store_popens]
        for group in (apps, self._store_popens):  # the store last, so that no app logs losing it on the way out
            for process in reversed(group):
                process.terminate()
            for process in group:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)

    def save_dashboard(self, path: Path) -> dict[str, str]:
        """Save the operations dashboard for the whole run (last 24 hours) to ``path``; return its summary cards."""
        time.sleep(1.5)  # the hub workers write their counters once a second (STATS_FLUSH_SECONDS)
        response = requests.get(f"{self.operations_url}/?period=day", timeout=30)
        response.raise_for_status()
        path.write_text(response.text, encoding="utf-8")
        cards: dict[str, str] = {}
        for card in BeautifulSoup(response.text, "html.parser").select("#summary .app-card"):
            label, value = card.select_one(".app-card__label"), card.select_one(".app-card__value")
            if label is not None and value is not None:
                cards[label.get_text(strip=True)] = value.get_text(strip=True)
        return cards

    def _processes_of(self, app: str) -> list[psutil.Process]:
        """The app's main process (a gunicorn master) and everything it started (its workers); for a store the
        federation did not start, its processes (every node of a Cluster or Sentinel set)."""
        if app == "redis" and self.store_processes:
            return [psutil.Process(pid) for pid in self.store_processes]
        main = self.apps[app]
        return [main, *main.children(recursive=True)]

    def _pin_to_hub(self) -> None:
        if self.hub_cpus:
            os.sched_setaffinity(0, self.hub_cpus)

    def pin_to_others(self) -> None:
        """Keep this process (and what it forks) off the hub's CPUs, when the hub has its own."""
        if self.other_cpus:
            os.sched_setaffinity(0, self.other_cpus)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by each app's processes (a gunicorn master and its workers), by app name."""
        used: dict[str, float] = {}
        for name in self.apps:
            total = 0.0
            for process in self._processes_of(name):
                times = process.cpu_times()
                # children_*: reaped subprocesses, i.e. the xmlsec1 commands the comparison backend forks.
                total += times.user + times.system + times.children_user + times.children_system
            used[name] = float(total)
        return used

    def hub_rss_mb(self) -> float:
        return round(float(sum(p.memory_info().rss for p in self._processes_of("hub"))) / 2**20, 1)

    def hub_peak_rss_mb(self) -> float:
        """The most each hub process has held resident since it started (Linux's VmHWM), added up: at least the
        hub's peak, since the processes' peaks need not coincide."""
        total_kb = 0
        for process in self._processes_of("hub"):
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
        return round(total_kb / 1024, 1)

    def redis_bytes_per_active_journey(self, count: int) -> int:
        """Open ``count`` journeys up to the identity provider and weigh what Redis holds for the hub.

        The dashboard's counters (``hub:stats:…``) are left out: they are per minute, hour and day, not per
        journey, and a new minute's keys appearing during the count would say nothing about a journey's weight.
        """
        if self.redis is None:
            raise RuntimeError("Redis bytes per journey are weighed on the federation's own redis-server only")
        before = set(self.redis.scan_iter("hub:*", count=1000))
        for _ in range(count):
            Journey(self.live).to_idp()
        added = {
            key for key in set(self.redis.scan_iter("hub:*", count=1000)) - before if not key.startswith(b"hub:stats:")
        }
        total = sum(int(self.redis.memory_usage(key) or 0) for key in added)
        return round(total / count)
