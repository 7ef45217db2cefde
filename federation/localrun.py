"""``python -m federation.localrun``: run the whole federation on loopback, each app under gunicorn.

Generates keys if they are missing, starts the hub, the stub IDPs and the stub service, waits until each
answers, prints where to start and stops them all on Ctrl-C. With ``REDIS_URL`` set the apps share Redis
and the hub runs several workers; without it each app keeps state in its single process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

from federation.config import load_federation
from keys.__main__ import main as generate_keys

APPS = (
    ("hub", "hub:create_app()"),
    ("stub_idp", "stub_idp:create_app()"),
    ("stub_service", "stub_service:create_app()"),
)


def gunicorn_command(target: str, bind: str, workers: int, *extra: str) -> list[str]:
    """How every app runs under gunicorn here, in the benchmark and in docker-compose.yml: threaded workers,
    and keep-alive longer than gunicorn's 2 s so a pooled back-channel connection is rarely closed under it."""
    return [
        sys.executable, "-m", "gunicorn", "--no-control-socket", "--workers", str(workers),
        "--worker-class", "gthread", "--threads", "8", "--keep-alive", "30", "--timeout", "120",
        "--bind", bind, *extra, target,
    ]  # fmt: skip


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


def main() -> int:
    generate_keys([])
    federation = load_federation()  # fail here, with the file and field named, before starting anything
    urls = federation.file.urls
    shared = bool(os.environ.get("REDIS_URL"))
    processes: list[subprocess.Popen[bytes]] = []
    for name, target in APPS:
        where = urlsplit(urls[name])
        workers = 4 if shared and name == "hub" else 1
        command = gunicorn_command(target, f"{where.hostname}:{where.port}", workers, "--access-logfile", "-")
        processes.append(subprocess.Popen(command))
    try:
        for name, _ in APPS:
            where = urlsplit(urls[name])
            if not wait_for(where.hostname or "127.0.0.1", where.port or 80):
                print(f"{name} did not start on {urls[name]}", file=sys.stderr)
                return 1
        print("\nThe federation is running:")
        for name, _ in APPS:
            print(f"  {name:<13} {urls[name]}")
        print(f"\nStart here: {urls['stub_service']}/  (test users: see README)\nPress Ctrl-C to stop.\n", flush=True)
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


if __name__ == "__main__":
    sys.exit(main())
