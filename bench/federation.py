"""The federation as it runs in production: separate gunicorn processes on loopback sharing one Redis.

The operations app runs too, on its own port, so that the run's dashboard can be saved once the measuring
is done; it is idle until then and is not one of the hub processes whose CPU is measured.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

import psutil
import redis
import requests
import yaml
from bs4 import BeautifulSoup

from federation.config import DEFAULT_FEDERATION_FILE, DEFAULT_KEYS_DIR, load_federation
from keys.__main__ import main as generate_keys
from launcher.localrun import gunicorn_command, redis_command, wait_for
from tests.journeys.drive import Journey
from tests.support import LiveFederation, free_port


def _wait_for(port: int) -> None:
    if not wait_for("127.0.0.1", port, 30):
        raise RuntimeError(f"nothing listening on port {port} after 30 s")


class RunningFederation:
    def __init__(self, backend: str, *, hub_workers: int, work: Path, hub_cpus: set[int] | None = None) -> None:
        """``hub_cpus``: run the hub on these CPUs and everything else (Redis, stubs, operations app, and the
        clients, which call ``pin_to_others``) on the rest, as if the hub had a machine of its own."""
        self.backend, self.hub_workers, self.work = backend, hub_workers, work
        self.hub_cpus = hub_cpus
        self.other_cpus = (set(os.sched_getaffinity(0)) - hub_cpus) if hub_cpus else None
        if hub_cpus is not None and (not self.other_cpus or not hub_cpus <= set(os.sched_getaffinity(0))):
            raise SystemExit(f"--hub-cpus {sorted(hub_cpus)}: this machine has CPUs {sorted(os.sched_getaffinity(0))}")
        self.processes: list[subprocess.Popen[bytes]] = []
        self.apps: dict[str, psutil.Process] = {}  # redis, hub, stub_idp, stub_service, operations

    def __enter__(self) -> RunningFederation:
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        generate_keys([])
        redis_port = free_port()
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("the benchmark needs redis-server (apt-get install redis-server)")
        self.processes.append(
            subprocess.Popen(
                redis_command(binary, redis_port, self.work), stdout=subprocess.DEVNULL, preexec_fn=self.pin_to_others
            )
        )
        self.apps["redis"] = psutil.Process(self.processes[-1].pid)
        self.redis = redis.Redis(port=redis_port)
        ports = {name: free_port() for name in ("hub", "stub_idp", "stub_service")}
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        data = yaml.safe_load(DEFAULT_FEDERATION_FILE.read_text())
        data["urls"] = urls
        federation_file = self.work / "federation.yaml"
        federation_file.write_text(yaml.safe_dump(data))
        env = {
            **os.environ,
            "FEDERATION_FILE": str(federation_file),
            "KEYS_DIR": str(DEFAULT_KEYS_DIR),
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "LOG_LEVEL": "WARNING",
        }
        _wait_for(redis_port)
        for name, workers, backend in (
            ("hub", self.hub_workers, self.backend),
            ("stub_idp", 2, "inprocess"),
            ("stub_service", 2, "inprocess"),
        ):
            command = gunicorn_command(
                f"{name}:create_app()", f"127.0.0.1:{ports[name]}", workers, "--log-level", "warning"
            )
            pin = self._pin_to_hub if name == "hub" else self.pin_to_others
            self.processes.append(subprocess.Popen(command, env={**env, "CRYPTO_BACKEND": backend}, preexec_fn=pin))
            self.apps[name] = psutil.Process(self.processes[-1].pid)
        operations_port = free_port()
        self.operations_url = f"http://127.0.0.1:{operations_port}"
        command = gunicorn_command(
            "hub.operations:create_app()", f"127.0.0.1:{operations_port}", 1, "--log-level", "warning"
        )
        self.processes.append(
            subprocess.Popen(command, env={**env, "OPERATIONS_TOKEN": ""}, preexec_fn=self.pin_to_others)
        )
        self.apps["operations"] = psutil.Process(self.processes[-1].pid)
        for port in [*ports.values(), operations_port]:
            _wait_for(port)
        self.live = LiveFederation(
            urls, {}, DEFAULT_KEYS_DIR, load_federation(federation_file, keys_dir=DEFAULT_KEYS_DIR, urls=urls)
        )
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

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
        """The app's main process (a gunicorn master) and everything it started (its workers)."""
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
            used[name] = total
        return used

    def hub_rss_mb(self) -> float:
        return round(sum(p.memory_info().rss for p in self._processes_of("hub")) / 2**20, 1)

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
        before = set(self.redis.scan_iter("hub:*", count=1000))
        for _ in range(count):
            Journey(self.live).to_idp()
        added = {
            key for key in set(self.redis.scan_iter("hub:*", count=1000)) - before if not key.startswith(b"hub:stats:")
        }
        total = sum(int(self.redis.memory_usage(key) or 0) for key in added)
        return round(total / count)
