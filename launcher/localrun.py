"""``python -m launcher.localrun``: run the whole federation on loopback, each app under gunicorn.

Generates keys if they are missing, starts the hub, the stub IDPs, the stub service and the operations app,
waits until each answers, prints where to start and stops them all on Ctrl-C. With ``REDIS_URL`` set the
apps share Redis, the hub runs several workers and the operations app runs in a process of its own, reading
the hub's counters from Redis and its metrics from a shared ``PROMETHEUS_MULTIPROC_DIR``. Without it each
app keeps state in its single process, so the hub's process also answers on the operations port.

When nginx is installed, it fronts the hub and the stubs as it does in docker-compose.yml: it listens on the
ports in federation.yaml's urls (the addresses citizens use, from which the apps build every link) and the
apps listen behind it on loopback, each on its public port plus ``BEHIND_PROXY_OFFSET``. ``NGINX=0`` runs
without it, ``NGINX=1`` insists on it; docs/reverse-proxy.md says why.
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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from federation.config import load_federation
from keys.__main__ import main as generate_keys
from launcher import reverse_proxy

APPS = (
    ("hub", "hub:create_app()"),
    ("stub_idp", "stub_idp:create_app()"),
    ("stub_service", "stub_service:create_app()"),
)
# The operators' dashboard, /metrics and /_status: an internal port, on loopback only (OPERATIONS_PORT to move it).
OPERATIONS_URL = f"http://127.0.0.1:{os.environ.get('OPERATIONS_PORT') or 8501}"
# Behind nginx, each app listens on its public port plus this (the hub on 18500 for 8500).
BEHIND_PROXY_OFFSET = 10000
# The request line the SAML HTTP-Redirect binding needs: 8 KB, the most gunicorn allows (its default is 4094).
LIMIT_REQUEST_LINE = 8190
# Method, path (%(U)s: never the query string, which holds the relying services' SAMLRequest, RelayState and
# Signature), status, response length, time taken and nginx's request ID ("-" without nginx). No referrer
# either: a page's address can carry a query too.
ACCESS_LOG_FORMAT = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}i)s'


def gunicorn_command(target: str, bind: str, workers: int, *extra: str) -> list[str]:
    """How every app runs under gunicorn here, in the benchmark and in docker-compose.yml: threaded workers
    (ours, which answer a request gunicorn cannot read with our own page), keep-alive longer than gunicorn's
    2 s so a pooled back-channel connection is rarely closed under it, the request line the Redirect binding
    needs, and an access log format without query strings (it applies wherever ``extra`` sends the log)."""
    return [
        sys.executable, "-m", "gunicorn", "--no-control-socket", "--workers", str(workers),
        "--worker-class", "federation.gunicorn_worker.ThreadWorker", "--threads", "8",
        "--keep-alive", "30", "--timeout", "120", "--limit-request-line", str(LIMIT_REQUEST_LINE),
        "--access-logformat", ACCESS_LOG_FORMAT, "--bind", bind, *extra, target,
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


def host_port(url: str) -> str:
    where = urlsplit(url)
    return f"{where.hostname}:{where.port or 80}"


def behind_proxy(url: str) -> str:
    """Where an app whose public address is ``url`` listens behind nginx: loopback, port plus the offset."""
    return f"127.0.0.1:{(urlsplit(url).port or 80) + BEHIND_PROXY_OFFSET}"


def app_binds(urls: Mapping[str, str], proxy: bool, behind: Mapping[str, str] | None = None) -> dict[str, str]:
    """Where each app listens: behind nginx (at ``behind[name]``, else its public port plus the offset) for
    those nginx fronts, at its public address otherwise."""
    return {
        name: ((behind or {}).get(name) or behind_proxy(url))
        if proxy and name in reverse_proxy.PROXIED
        else host_port(url)
        for name, url in urls.items()
    }


def use_proxy(setting: str | None) -> bool:
    """Whether to run nginx in front: ``NGINX=1`` yes (an error without nginx), ``NGINX=0`` no, and unset
    when nginx is installed, so ``make run`` runs as deployed where it can and still runs where it cannot."""
    if setting in ("0", "1"):
        if setting == "1" and reverse_proxy.find_nginx() is None:
            raise reverse_proxy.ProxyError("NGINX=1 but nginx is not installed (apt-get install nginx)")
        return setting == "1"
    if setting:
        raise reverse_proxy.ProxyError(f"NGINX={setting}: use 1 (nginx in front), 0 (none), or leave it unset")
    return reverse_proxy.find_nginx() is not None


def own_redis_url(name: str) -> dict[str, str]:
    """``REDIS_URL`` for one app from ``HUB_REDIS_URL``, ``STUB_IDP_REDIS_URL`` or ``STUB_SERVICE_REDIS_URL`` when
    set, so that each app can sign in to Redis as its own ACL user (docs/redis.md); else nothing (``REDIS_URL``)."""
    own = os.environ.get(f"{name.upper()}_REDIS_URL")
    return {"REDIS_URL": own} if own else {}


def _processes(
    binds: Mapping[str, str], shared: bool, metrics_dir: str | None, extra: Sequence[str]
) -> list[tuple[list[str], dict[str, str]]]:
    """The gunicorn command for each process to start, and its environment (the operations app reads the hub's
    keys, so it signs in to Redis as the hub)."""
    ops_bind = binds["operations"]
    ops_port = ops_bind.rsplit(":", 1)[1]
    hub_env = {**os.environ, **own_redis_url("hub")}
    if metrics_dir:
        hub_env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    commands = []
    for name, target in APPS:
        bind = binds[name]
        workers = 4 if shared and name == "hub" else 1
        options = list(extra)
        if name == "hub" and not shared:  # the in-process store: one process answers on both ports
            target, options = f"hub.operations.alongside:create_app({ops_port})", [*options, "--bind", ops_bind]
        commands.append(
            (gunicorn_command(target, bind, workers, *options), hub_env if name == "hub" else own_redis_url(name))
        )
    if shared:
        commands.append((gunicorn_command("hub.operations:create_app()", ops_bind, 1, *extra), hub_env))
    return commands


@dataclass
class Served:
    """The federation's processes, and nginx in front of them when there is one."""

    processes: list[subprocess.Popen[bytes]]
    proxy: reverse_proxy.Nginx | None
    metrics_dir: str | None

    def running(self) -> bool:
        return all(p.poll() is None for p in self.processes) and (self.proxy is None or self.proxy.running())

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self.metrics_dir:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)


@contextmanager
def serve(
    urls: Mapping[str, str],
    *,
    shared: bool,
    proxy: bool,
    behind: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    extra: Sequence[str] = ("--access-logfile", "-"),
) -> Iterator[Served]:
    """Run the apps (and nginx in front of the hub and the stubs, with ``proxy``) until the block ends.

    ``urls`` are the public addresses (federation.yaml's, plus ``operations``); ``behind`` where the proxied
    apps listen, if not on their public port plus ``BEHIND_PROXY_OFFSET``; ``env`` is added to this process's
    environment for the apps; ``extra`` goes to every gunicorn. Raises RuntimeError if something does not
    start, having stopped what did.
    """
    # The hub's workers and the operations process must share one metrics folder for /metrics to add them up.
    own_metrics_dir = shared and not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    metrics_dir = tempfile.mkdtemp(prefix="ida-hub-metrics-") if own_metrics_dir else None
    served = Served([], None, metrics_dir)
    try:
        binds = app_binds(urls, proxy, behind)
        for command, app_env in _processes(binds, shared, metrics_dir, extra):
            served.processes.append(subprocess.Popen(command, env={**os.environ, **app_env, **(env or {})}))
        for name, bind in binds.items():
            host, port = bind.rsplit(":", 1)
            if not wait_for(host, int(port)):
                raise RuntimeError(f"{name} did not start on {bind}")
        if proxy:
            sites = {name: (host_port(urls[name]), binds[name]) for name in reverse_proxy.PROXIED}
            served.proxy = reverse_proxy.start(sites)  # returns once nginx has its ports
        yield served
    finally:
        served.stop()


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so that a SIGTERM (a service manager, `kill`) stops the apps as Ctrl-C does


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    generate_keys([])
    federation = load_federation()  # fail here, with the file and field named, before starting anything
    urls = {**federation.file.urls, "operations": OPERATIONS_URL}
    try:
        proxy = use_proxy(os.environ.get("NGINX"))
        shared = bool(os.environ.get("REDIS_URL") or os.environ.get("HUB_REDIS_URL"))
        with serve(urls, shared=shared, proxy=proxy) as served:
            print("\nThe federation is running:")
            for name, url in urls.items():
                behind = f"  (nginx; the app on {behind_proxy(url)})" if proxy and name in reverse_proxy.PROXIED else ""
                print(f"  {name:<13} {url}{behind}")
            if served.proxy is not None:
                print(f"\nnginx fronts the hub and the stubs; its access log: {served.proxy.access_log}")
            else:
                print("\nNo nginx in front (NGINX=0, or nginx not installed): see docs/reverse-proxy.md.")
            print(f"\nStart here: {urls['stub_service']}/  (test users: see README)")
            print(f"Dashboard:  {OPERATIONS_URL}/  (and /metrics; an internal port: never expose it)")
            print("Press Ctrl-C to stop.\n", flush=True)
            while served.running():
                time.sleep(0.5)
            return 1
    except (RuntimeError, reverse_proxy.ProxyError) as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
