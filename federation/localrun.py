"""``python -m federation.localrun``: run the whole federation on loopback, each app under gunicorn.

Generates keys if they are missing, starts the hub, the stub IDPs, the stub service and the operations app,
waits until each answers, prints where to start and stops them all on Ctrl-C. With ``REDIS_URL`` set the
apps share Redis, the hub runs several workers and the operations app runs in a process of its own, reading
the hub's counters from Redis and its metrics from a shared ``PROMETHEUS_MULTIPROC_DIR``. Without it each
app keeps state in its single process, so the hub's process also answers on the operations port.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from federation.config import load_federation
from keys.__main__ import main as generate_keys

APPS = (
    ("hub", "hub:create_app()"),
    ("stub_idp", "stub_idp:create_app()"),
    ("stub_service", "stub_service:create_app()"),
)
# The operators' dashboard, /metrics and /_status: an internal port, on loopback only (OPERATIONS_PORT to move it).
OPERATIONS_URL = f"http://127.0.0.1:{os.environ.get('OPERATIONS_PORT') or 8501}"


def gunicorn_command(target: str, bind: str, workers: int, *extra: str) -> list[str]:
    """How every app runs under gunicorn here, in the benchmark and in docker-compose.yml: threaded workers,
    and keep-alive longer than gunicorn's 2 s so a pooled back-channel connection is rarely closed under it."""
    return [
        sys.executable, "-m", "gunicorn", "--no-control-socket", "--workers", str(workers),
        "--worker-class", "gthread", "--threads", "8", "--keep-alive", "30", "--timeout", "120",
        "--bind", bind, *extra, target,
    ]  # fmt: skip


def redis_command(binary: str, port: int, directory: Path) -> list[str]:
    """redis-server on loopback only, with nothing persisted: for the benchmark and the tests."""
    loopback = ["--port", str(port), "--bind", "127.0.0.1"]
    return [binary, *loopback, "--save", "", "--appendonly", "no", "--dir", str(directory)]


def wait_for(host: str, port: int, seconds: float = 20) -> bool:
    """Whether something listens on ``host:port`` within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.2)
    return False


def _processes(urls: dict[str, str], shared: bool, metrics_dir: str | None) -> list[tuple[list[str], dict[str, str]]]:
    """The gunicorn command for each process to start, and its environment."""
    ops = urlsplit(OPERATIONS_URL)
    ops_bind = f"{ops.hostname}:{ops.port}"
    hub_env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir} if metrics_dir else dict(os.environ)
    commands = []
    for name, target in APPS:
        where = urlsplit(urls[name])
        workers = 4 if shared and name == "hub" else 1
        extra = ["--access-logfile", "-"]
        if name == "hub" and not shared:  # the in-process store: one process answers on both ports
            target, extra = f"hub.operations.alongside:create_app({ops.port})", [*extra, "--bind", ops_bind]
        command = gunicorn_command(target, f"{where.hostname}:{where.port}", workers, *extra)
        commands.append((command, hub_env if name == "hub" else dict(os.environ)))
    if shared:
        commands.append(
            (gunicorn_command("hub.operations:create_app()", ops_bind, 1, "--access-logfile", "-"), hub_env)
        )
    return commands


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so that a SIGTERM (a service manager, `kill`) stops the apps as Ctrl-C does


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    generate_keys([])
    federation = load_federation()  # fail here, with the file and field named, before starting anything
    urls = {**federation.file.urls, "operations": OPERATIONS_URL}
    shared = bool(os.environ.get("REDIS_URL"))
    # The hub's workers and the operations process must share one metrics folder for /metrics to add them up.
    own_metrics_dir = shared and not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    metrics_dir = tempfile.mkdtemp(prefix="ida-hub-metrics-") if own_metrics_dir else None
    processes = [subprocess.Popen(command, env=env) for command, env in _processes(urls, shared, metrics_dir)]
    try:
        for name, url in urls.items():
            where = urlsplit(url)
            if not wait_for(where.hostname or "127.0.0.1", where.port or 80):
                print(f"{name} did not start on {url}", file=sys.stderr)
                return 1
        print("\nThe federation is running:")
        for name, url in urls.items():
            print(f"  {name:<13} {url}")
        print(f"\nStart here: {urls['stub_service']}/  (test users: see README)")
        print(f"Dashboard:  {OPERATIONS_URL}/  (and /metrics; an internal port: never expose it)")
        print("Press Ctrl-C to stop.\n", flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=10)
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
