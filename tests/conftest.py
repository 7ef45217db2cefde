"""Shared fixtures: a test PKI made by our own generator, the federation on free loopback ports, Redis."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from flask import Flask
from playwright.sync_api import Browser, Playwright
from werkzeug.serving import BaseWSGIServer, make_server

import hub
import stub_idp
import stub_service
from federation.config import DEFAULT_FEDERATION_FILE, Federation, load_federation
from federation.saml.crypto import use_backend
from federation.store import MemoryStore, RedisStore
from keys.pki import generate
from launcher.localrun import redis_command


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session", autouse=True)
def crypto_backend() -> str:
    """The suite runs with the backend CRYPTO_BACKEND names (make test runs tests/security with both)."""
    name = os.environ.get("CRYPTO_BACKEND", "inprocess")
    use_backend(name)
    return name


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    generate(directory)
    return directory


# Outbound URLs that cannot resolve: a test that calls out without meaning to fails loudly.
UNREACHABLE = {
    "hub": "http://hub.you-forgot-to-start-it.invalid",
    "stub_idp": "http://idp.you-forgot-to-start-it.invalid",
    "stub_service": "http://service.you-forgot-to-start-it.invalid",
}


# Tests read the dashboard the moment a journey ends, so counters are written at every event; the one-second
# batching the hub uses otherwise is tested on its own (tests/operations/test_stats.py).
TEST_SETTINGS = {"stats_flush_seconds": 0}


def federation_file_with(directory: Path, **hub: object) -> Path:
    """A copy of the federation file with some of the hub's settings changed (say, a shorter matching wait)."""
    import yaml

    data = yaml.safe_load(DEFAULT_FEDERATION_FILE.read_text(encoding="utf-8"))
    data["hub"].update(hub)
    path = directory / "federation.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def federation(keys_dir: Path) -> Federation:
    return load_federation(DEFAULT_FEDERATION_FILE, keys_dir=keys_dir, urls=UNREACHABLE)


@pytest.fixture()
def app_config(keys_dir: Path) -> dict[str, object]:
    return {"keys_dir": keys_dir, "urls": UNREACHABLE, "testing": True, **TEST_SETTINGS}


@pytest.fixture()
def app(app_config: dict[str, object]) -> Flask:
    """The hub on its own (pytest-flask's ``client`` fixture uses this)."""
    return hub.create_app(app_config)


@dataclass
class RedisServer:
    url: str
    client: redis.Redis
    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def start(self) -> None:
        self.process = _spawn_redis(self.port, self.directory)
        _wait_for_redis(self.client)


def _spawn_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: the tests use a real Redis (apt-get install redis-server)")
    return subprocess.Popen(
        redis_command(binary, port, directory),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for_redis(client: redis.Redis) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return
        except redis.ConnectionError:
            time.sleep(0.05)
    pytest.fail("redis-server did not start")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    port = free_port()
    directory = tmp_path_factory.mktemp("redis")
    client = redis.Redis(host="127.0.0.1", port=port)
    server = RedisServer(f"redis://127.0.0.1:{port}/0", client, _spawn_redis(port, directory), port, directory)
    _wait_for_redis(client)
    yield server
    server.stop()


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> MemoryStore | RedisStore:
    """An empty store of each kind: in-process, and on the real redis-server under a prefix of its own."""
    if request.param == "memory":
        return MemoryStore()
    server: RedisServer = request.getfixturevalue("redis_server")
    return RedisStore(server.url, prefix=f"test-{free_port()}")


@dataclass
class LiveFederation:
    """The three apps served over real HTTP on loopback, as a citizen's browser would meet them."""

    urls: dict[str, str]
    apps: dict[str, Flask]
    keys_dir: Path
    federation: Federation


def _serve(app: Flask, port: int) -> BaseWSGIServer:
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def start_federation(
    keys_dir: Path, redis_url: str | None, **settings: object
) -> tuple[LiveFederation, list[BaseWSGIServer]]:
    ports = {name: free_port() for name in ("hub", "stub_idp", "stub_service")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    config = {"keys_dir": keys_dir, "urls": urls, "redis_url": redis_url, "testing": True, **TEST_SETTINGS, **settings}
    apps = {
        "hub": hub.create_app(config),
        "stub_idp": stub_idp.create_app(config),
        "stub_service": stub_service.create_app(config),
    }
    servers = [_serve(apps[name], ports[name]) for name in apps]
    federation_file = Path(str(settings.get("federation_file", DEFAULT_FEDERATION_FILE)))
    live = LiveFederation(urls, apps, keys_dir, load_federation(federation_file, keys_dir=keys_dir, urls=urls))
    return live, servers


@pytest.fixture(params=["in-process", "redis"])
def live_federation(request: pytest.FixtureRequest, keys_dir: Path) -> Iterator[LiveFederation]:
    redis_url = None
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        server.client.flushall()
        redis_url = server.url
    live, servers = start_federation(keys_dir, redis_url)
    yield live
    for server_ in servers:
        server_.shutdown()


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


# One Playwright and one Chromium for the whole session, shared by every package with browser tests (a second
# sync Playwright cannot start while one runs).
@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("Debian's chromium is not installed (apt-get install chromium): the browser tests need it")
    browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
