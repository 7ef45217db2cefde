"""``python -m bench.server_floor``: what gunicorn and Flask cost per request here, with no hub code at all.

The benchmark's hub CPU per journey is the hub's own work (``bench.profile_journey`` measures it in one
process) plus what serving its requests costs. This measures the second part alone: it runs gunicorn exactly
as the hub runs (``launcher.localrun.gunicorn_command``: threaded workers, keep-alive) serving an app that
does nothing but return a page the size of a hub page, first a bare WSGI function, then a bare Flask app, and
drives it with concurrent keep-alive clients. It reports the server processes' own CPU per request, from the
operating system's accounting as the benchmark reads the hub's, and that times the hub requests a journey makes.

Compare figures from one run: the machine is noisy.
"""

from __future__ import annotations

import argparse
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import psutil
import requests
from flask import Flask

from launcher.localrun import gunicorn_command, wait_for
from tests.support import free_port

# A journey's requests to the hub (tests/bench/test_client.py lists them): /SAML2/SSO, /start, the two
# questions' pages (each shown, then posted), /SAML2/SSO/Response/POST and /response-processing.
HUB_REQUESTS_PER_JOURNEY = 8
PAGE = b"<!DOCTYPE html>" + b"x" * 6000  # about the size of a hub page
ROOT = Path(__file__).resolve().parent.parent
APPS = {
    "bare WSGI function": "bench.server_floor:bare_wsgi",
    "bare Flask app": "bench.server_floor:create_flask_app()",
}


def bare_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A page and nothing else: what gunicorn costs on its own."""
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(PAGE)))])
    return [PAGE]


def burn_2ms_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The page after 2 ms of CPU in the serving thread: what the tests check the accounting against."""
    until = time.thread_time() + 0.002
    while time.thread_time() < until:
        pass
    return bare_wsgi(environ, start_response)


def create_flask_app() -> Flask:
    """The same page from a Flask view: what gunicorn and Flask cost before any of the hub's own code runs."""
    app = Flask(__name__)

    @app.get("/")
    def page() -> bytes:
        return PAGE

    return app


def _server_cpu_seconds(master: psutil.Process) -> float:
    """CPU seconds used so far by gunicorn's master and workers (a worker never exits during a measurement:
    gunicorn restarts none unless one dies, and one that died fails the run through its clients)."""
    return sum(sum(p.cpu_times()[:2]) for p in (master, *master.children(recursive=True)))


def _drive(url: str, requests_each: int, clients: int) -> None:
    """``clients`` keep-alive clients, each asking ``requests_each`` times the moment it is answered; any
    answer that is not the page, or any error, fails the run rather than lowering the figure."""
    failures: list[str] = []

    def client() -> None:
        try:
            with requests.Session() as session:
                for _ in range(requests_each):
                    response = session.get(url, timeout=30)
                    if response.status_code != 200:
                        failures.append(f"the server answered HTTP {response.status_code}")
                        return
                    if response.content != PAGE:
                        failures.append(f"the server answered {len(response.content)} bytes, not the page")
                        return
        except Exception as exc:  # reported below, in the measuring thread
            failures.append(f"a client failed: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(failures[0])


def measure(target: str, *, requests_total: int, clients: int, workers: int) -> float:
    """Server CPU microseconds per request for the WSGI ``target`` under gunicorn as the hub runs it."""
    port = free_port()
    command = gunicorn_command(target, f"127.0.0.1:{port}", workers, "--log-level", "warning")
    server = psutil.Popen(command, cwd=ROOT)
    try:
        if not wait_for("127.0.0.1", port, 30) or server.poll() is not None:
            raise RuntimeError(f"gunicorn did not start for {target}")
        url = f"http://127.0.0.1:{port}/"
        _drive(url, max(1, 200 // clients), clients)  # warm every worker's imports and connections
        each = max(1, requests_total // clients)
        before = _server_cpu_seconds(server)
        _drive(url, each, clients)
        return (_server_cpu_seconds(server) - before) * 1e6 / (each * clients)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except (psutil.TimeoutExpired, subprocess.TimeoutExpired):
            server.kill()
            server.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.server_floor", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=6000, help="measured requests per app (default 6000)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent keep-alive clients (default 16)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers, as the hub's (default 4)")
    args = parser.parse_args(argv)
    print(f"gunicorn as the hub runs it ({args.workers} workers, gthread), {args.clients} keep-alive clients")
    print("| app | server CPU µs per request | per journey (8 hub requests), ms |")
    print("|---|---|---|")
    for name, target in APPS.items():
        per_request = measure(target, requests_total=args.requests, clients=args.clients, workers=args.workers)
        per_journey = per_request * HUB_REQUESTS_PER_JOURNEY / 1000
        print(f"| {name} | {per_request:.0f} | {per_journey:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
