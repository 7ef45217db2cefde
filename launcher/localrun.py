"""``python -m launcher.localrun``: run the whole federation on loopback, each app under gunicorn.

Generates keys if they are missing; checks, before starting anything, the federation file the settings name
(``FEDERATION_FILE``, else federation.yaml: its ``urls`` are where the apps listen), that every port is free and
that each app's Redis answers, and says what is wrong in plain words; starts the hub, the stub IDPs, the stub
service and the operations app, waits until each of our own processes answers, prints where to start and stops
them all on Ctrl-C. With ``REDIS_URL`` set the apps share Redis, the hub runs several workers and the operations
app runs in a process of its own, reading the hub's counters from Redis and its metrics from a shared
``PROMETHEUS_MULTIPROC_DIR``. Without it each app keeps state in its single process, so the hub's process also
answers on the operations port.

When nginx is installed, it fronts the hub and the stubs as it does in docker-compose.yml: it listens on the
ports in federation.yaml's urls (the addresses citizens use, from which the apps build every link) and the
apps listen behind it on loopback, each on its public port plus ``BEHIND_PROXY_OFFSET``. ``NGINX=0`` runs
without it, ``NGINX=1`` insists on it; docs/reverse-proxy.md says why.
"""

from __future__ import annotations

import errno
import http.client
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

from pydantic import ValidationError

from federation.config import Federation, FederationConfigError, load_federation
from federation.runtime import unreachable_store
from federation.settings import AppSettings
from federation.store import RedisStore
from keys.__main__ import main as generate_keys
from launcher import reverse_proxy

APPS = (
    ("hub", "hub:create_app()"),
    ("stub_idp", "stub_idp:create_app()"),
    ("stub_idp_pysaml2", "stub_idp_pysaml2:create_app()"),
    ("stub_service", "stub_service:create_app()"),
)
# The operators' dashboard, /metrics and /_status: an internal port, on loopback only (OPERATIONS_PORT to move it).
OPERATIONS_URL = f"http://127.0.0.1:{os.environ.get('OPERATIONS_PORT') or 8501}"
# Behind nginx, each app listens on its public port plus this (the hub on 18500 for 8500).
BEHIND_PROXY_OFFSET = 10000
# How each app is named when something goes wrong.
WORDS = {
    "hub": "the hub",
    "stub_idp": "the stub IDPs",
    "stub_idp_pysaml2": "the pysaml2 stub IDP",
    "stub_service": "the stub service",
    "operations": "the operations app",
}
# The prefix of each app's keys in Redis, which its ACL user is limited to (docs/redis.md).
# The pysaml2 stub IDP keeps its keys beside the stub IDPs' (and reads their registered test users) as their ACL user.
STORE_PREFIXES = {"hub": "hub", "stub_idp": "stub-idp", "stub_idp_pysaml2": "stub-idp", "stub_service": "stub-service"}
# How long the apps have, together, to answer once started.
START_SECONDS = 30
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


class StartupError(RuntimeError):
    """The federation cannot start here, in words for the person who ran it; nothing is left running."""


def http_status(host: str, port: int, path: str = "/_status", timeout: float = 2) -> int | None:
    """The status ``GET path`` gets at ``host:port``, or None when nothing answers in HTTP (a plain connection,
    not urllib: an ``http_proxy`` in the environment must not answer for us)."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def wait_until_serving(process: subprocess.Popen[bytes], bind: str, what: str, deadline: float) -> None:
    """Return once our own ``process`` answers HTTP at ``bind``; raise StartupError if it exits, or is not
    answering by ``deadline``. ``bind`` was free when the process started (``check_ports``) and the process is
    still running, so the answer is its own, not that of whatever else might listen there."""
    host, port = bind.rsplit(":", 1)
    answer = None
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise StartupError(f"{what} stopped while starting (exit code {code}): its messages are above.")
        # Once gunicorn holds the port, one request (one access log line), answered when a worker has the app.
        if _accepts(host, int(port)):
            answer = http_status(host, int(port), timeout=max(1.0, deadline - time.monotonic()))
            if answer is not None and answer < 500:  # 503: up, but its store or certificates are not usable
                return
        time.sleep(0.2)
    said = f"its /_status still answers {answer}" if answer else "nothing answers there"
    raise StartupError(f"{what} did not start on {bind} within {START_SECONDS} seconds ({said}).")


@dataclass(frozen=True)
class Listener:
    """An address the federation is about to listen on, and what for."""

    bind: str  # host:port
    what: str


def listeners(urls: Mapping[str, str], proxy: bool, behind: Mapping[str, str] | None = None) -> list[Listener]:
    """Every address ``serve`` listens on: each app's (``app_binds``) and, with ``proxy``, nginx's."""
    binds = app_binds(urls, proxy, behind)
    found = []
    for name, url in urls.items():
        words = WORDS.get(name, name)
        if proxy and name in reverse_proxy.PROXIED:
            found.append(Listener(host_port(url), f"{words}: its address {url}, where nginx listens in front of it"))
            found.append(Listener(binds[name], f"{words} behind nginx (its public port plus {BEHIND_PROXY_OFFSET})"))
        else:
            found.append(Listener(binds[name], f"{words}: its address {url}"))
    return found


def bind_problem(bind: str) -> str | None:
    """Why we could not listen at ``host:port``, found by binding it (and letting go at once); None if we can.

    SO_REUSEADDR, as gunicorn and nginx set it: a port left in TIME_WAIT by the last run is free, while one that
    any process listens on (on this address or on all addresses) is not.
    """
    host, port = bind.rsplit(":", 1)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, int(port)))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "is already in use by another program"
            return f"cannot be used here ({exc.strerror})"
    return None


def check_ports(
    urls: Mapping[str, str], proxy: bool, behind: Mapping[str, str] | None = None, source: str = "the federation file"
) -> None:
    """Raise StartupError naming every port we need that we cannot have, before anything starts (``source``: where
    the addresses come from)."""
    problems = []
    for listener in listeners(urls, proxy, behind):
        problem = bind_problem(listener.bind)
        if problem is not None:
            host, port = listener.bind.rsplit(":", 1)
            problems.append(f"Port {port} on {host} {problem}. It is needed for {listener.what}.")
    if problems:
        advice = (
            f"Stop what listens there (`ss -ltnp` names it), or move the app: its address is in {source}'s urls "
            "(OPERATIONS_PORT moves the operations app). Nothing was started."
        )
        raise StartupError("\n".join([*problems, advice]))


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
    if not own and name == "stub_idp_pysaml2":  # it keeps its keys beside the stub IDPs', as their ACL user
        own = os.environ.get("STUB_IDP_REDIS_URL")
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
    environment for the apps; ``extra`` goes to every gunicorn. Raises StartupError (a RuntimeError) before
    starting anything if a port it needs is taken, and if an app exits or does not answer in time, having stopped
    what did start.
    """
    # The hub's workers and the operations process must share one metrics folder for /metrics to add them up.
    own_metrics_dir = shared and not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    metrics_dir = tempfile.mkdtemp(prefix="ida-hub-metrics-") if own_metrics_dir else None
    served = Served([], None, metrics_dir)
    try:
        check_ports(urls, proxy, behind)
        binds = app_binds(urls, proxy, behind)
        for command, app_env in _processes(binds, shared, metrics_dir, extra):
            served.processes.append(subprocess.Popen(command, env={**os.environ, **app_env, **(env or {})}))
        # _processes starts one process per app, in APPS' order, then the operations app's when it has its own;
        # otherwise the hub's process also answers on the operations port.
        serving = {name: served.processes[i] for i, (name, _) in enumerate(APPS)}
        serving["operations"] = served.processes[-1] if shared else serving["hub"]
        deadline = time.monotonic() + START_SECONDS
        for name, bind in binds.items():
            wait_until_serving(serving[name], bind, WORDS.get(name, name), deadline)
        if proxy:
            sites = {name: (host_port(urls[name]), binds[name]) for name in reverse_proxy.PROXIED}
            served.proxy = reverse_proxy.start(sites)  # returns once nginx has its ports
        yield served
    finally:
        served.stop()


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so that a SIGTERM (a service manager, `kill`) stops the apps as Ctrl-C does


def settings_from_environment() -> AppSettings:
    """The settings every app will build from the environment (``AppSettings.build``), or a StartupError."""
    try:
        return AppSettings.build()
    except ValidationError as exc:
        problems = "; ".join(f"{str(err['loc'][0]).upper()}: {err['msg']}" for err in exc.errors() if err["loc"])
        raise StartupError(f"The environment's settings cannot be used ({problems}). Nothing was started.") from None
    except ValueError as exc:  # SLOW_MATCHING_SECONDS=soon, say
        raise StartupError(f"The environment's settings cannot be used ({exc}). Nothing was started.") from None


def load_checked(settings: AppSettings) -> Federation:
    """The federation file the settings name (``FEDERATION_FILE``, else federation.yaml), with their ``urls``
    overrides, checked as every app checks it; or a StartupError listing its problems one to a line."""
    path = settings.federation_file
    try:
        return load_federation(path, keys_dir=settings.keys_dir, urls=settings.urls)
    except FederationConfigError as exc:
        problems = str(exc).removeprefix(f"{path}: ").split("; ")  # as `ida-hub config check` lists them
        raise StartupError(
            "\n".join(
                [
                    f"The federation file {path} cannot be used, so nothing was started:",
                    *(f"  - {problem}" for problem in problems),
                    "Correct it and start again (`.venv/bin/ida-hub config check` checks it without starting).",
                ]
            )
        ) from None


def app_urls(federation: Federation) -> dict[str, str]:
    """Each app's address: the federation file's ``urls`` (overrides applied) and the operations port."""
    urls = federation.file.urls
    missing = [f"urls.{name}" for name, _ in APPS if name not in urls]
    if missing:
        raise StartupError(f"{federation.source} has no {', '.join(missing)}: each app needs its address there.")
    return {**{name: urls[name] for name, _ in APPS}, "operations": OPERATIONS_URL}


def check_stores(env: Mapping[str, str]) -> None:
    """Raise StartupError unless the Redis each app will use answers a PING (and runs its script, as the apps'
    /_status asks), as that app's own user: an app whose Redis is down would answer every page with a 503."""
    problems, checked = [], set()
    for name, _ in APPS:
        variable = f"{name.upper()}_REDIS_URL" if env.get(f"{name.upper()}_REDIS_URL") else "REDIS_URL"
        url = env.get(variable)
        if not url or url in checked:
            continue
        checked.add(url)
        try:
            store = RedisStore(url, STORE_PREFIXES.get(name, name.replace("_", "-")))
        except ValueError:
            problems.append(f"{variable} is not a Redis URL: it looks like redis://127.0.0.1:6379/0.")
            continue
        if not store.ping():
            problems.append(unreachable_store(url, variable))
        store.client.close()
    if problems:
        raise StartupError("\n".join([*problems, "Nothing was started."]))


def _say_running(urls: Mapping[str, str], served: Served, proxy: bool, federation_file: Path) -> None:
    print(f"\nThe federation is running, from {federation_file}:")
    for name, url in urls.items():
        behind = f"  (nginx; the app on {behind_proxy(url)})" if proxy and name in reverse_proxy.PROXIED else ""
        print(f"  {name:<16} {url}{behind}")
    if served.proxy is not None:
        print(f"\nnginx fronts the hub and the stubs; its access log: {served.proxy.access_log}")
    else:
        print("\nNo nginx in front (NGINX=0, or nginx not installed): see docs/reverse-proxy.md.")
    print(f"\nStart here: {urls['stub_service']}/  (test users: see README)")
    print(f"Dashboard:  {urls['operations']}/  (and /metrics; an internal port: never expose it)")
    print("Press Ctrl-C to stop.\n", flush=True)


def main() -> int:
    """Check everything that can be checked before starting (settings, keys, the federation file, ports, Redis),
    then run the federation until Ctrl-C. Each problem is said in plain words, without a traceback."""
    signal.signal(signal.SIGTERM, _stop)
    try:
        settings = settings_from_environment()
        generate_keys(["--dir", str(settings.keys_dir)])
        federation = load_checked(settings)
        urls = app_urls(federation)
        proxy = use_proxy(os.environ.get("NGINX"))
        check_ports(urls, proxy, source=str(settings.federation_file))  # serve checks again; first here, before Redis
        check_stores(os.environ)
        shared = bool(os.environ.get("REDIS_URL") or os.environ.get("HUB_REDIS_URL"))
        with serve(urls, shared=shared, proxy=proxy) as served:
            _say_running(urls, served, proxy, settings.federation_file)
            while served.running():
                time.sleep(0.5)
            print("An app stopped (its messages are above): stopping the federation.", file=sys.stderr)
            return 1
    except (RuntimeError, reverse_proxy.ProxyError) as exc:  # StartupError among them
        print(f"\n{exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
