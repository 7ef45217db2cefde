"""Shared fixtures: a test PKI made by our own generator, the federation on loopback ports, Redis, Chromium.

What they are made of (servers, the federation, Redis, the page check) lives in tests/support.py.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from playwright.sync_api import Browser, Playwright

import hub
from federation.config import DEFAULT_FEDERATION_FILE, Federation, load_federation
from federation.saml.crypto import use_backend
from federation.store import MemoryStore, RedisStore
from keys.pki import generate
from tests.support import (
    TEST_SETTINGS,
    UNREACHABLE,
    LiveFederation,
    RedisServer,
    start_federation,
    stop,
)

# A test is ``live`` when it runs the federation over HTTP, gunicorn, nginx or Chromium; ``make check`` leaves
# those out. A test gets the mark from a fixture below that starts one of them; a module whose tests start them
# themselves says so (``pytestmark = pytest.mark.live``).
LIVE_FIXTURES = frozenset(
    {
        "shared_federation",  # live_federation
        "live",  # a module's own federation
        "chromium",  # the browser tests
        "attack_live",  # tests/security: captured, recorder
        "cbc_for_idp_one",
        "interop",
        "two_hubs",
        "federation_under_acl",
        "hub",  # tests/security: behind nginx and gunicorn, or the store's contents
        "one_thread_hub",
    }
)


# The order make test's first pass hands test files to its workers (pytest-xdist, --dist loadfile
# --no-loadscope-reorder: a worker takes the next file when it is down to its last two tests). First the citizen
# journeys, the longest file, whose Chromium keeps more than one core busy; beside them, on the other worker, the
# files that spend their time waiting on clocks (a slow matching service, the hub's limit on it, a Sentinel
# failover) and leave it the CPU; then the Welsh journeys. Every other file follows, most tests first (xdist's own
# order). Measured on 2 cores, three pairs back to back: the first pass 6 to 25 s shorter in this order than in
# xdist's (273 s against 298, 284 against 290, 266 against 280).
RUN_FIRST = (
    "tests/browser/test_citizen_journeys.py",
    "tests/browser/test_waiting_without_reload.py",
    "tests/browser/test_waiting_page.py",
    "tests/browser/test_matching_time_out.py",
    "tests/stores/test_failover.py",
    "tests/stores/test_journeys_on_cluster_and_sentinel.py",
    "tests/browser/test_welsh_journeys.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if LIVE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.live)
    if config.getoption("dist", "no") == "loadfile":  # test by test (the xmlsec1 pass), collection order is faster
        items[:] = in_run_order(config.rootpath, items)


def in_run_order(root: Path, items: list[pytest.Item]) -> list[pytest.Item]:
    """``items`` file by file, in RUN_FIRST's order and then most tests first; within a file, as collected."""
    missing = [name for name in RUN_FIRST if not (root / name).exists()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py RUN_FIRST names files that are not there: {missing}")
    by_file: dict[str, list[pytest.Item]] = {}
    for item in items:
        by_file.setdefault(item.nodeid.split("::")[0], []).append(item)
    first = {name: rank for rank, name in enumerate(RUN_FIRST)}
    files = sorted(by_file, key=lambda name: (first.get(name, len(first)), -len(by_file[name])))
    return [item for name in files for item in by_file[name]]


@pytest.fixture(scope="session", autouse=True)
def crypto_backend() -> str:
    """The suite runs with the backend CRYPTO_BACKEND names (make test runs the crypto-facing tests with both:
    XMLSEC1_TESTS in the Makefile)."""
    name = os.environ.get("CRYPTO_BACKEND", "inprocess")
    use_backend(name)
    return name


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    generate(directory)
    return directory


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


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer.launch(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> MemoryStore | RedisStore:
    """An empty store of each kind: in-process, and on the real redis-server under a prefix of its own."""
    if request.param == "memory":
        return MemoryStore()
    server: RedisServer = request.getfixturevalue("redis_server")
    return RedisStore(server.url, prefix=f"test-{secrets.token_hex(8)}")


@pytest.fixture(scope="module", params=["in-process", "redis"])
def shared_federation(
    request: pytest.FixtureRequest, keys_dir: Path
) -> Iterator[tuple[LiveFederation, redis.Redis | None]]:
    """The federation for a module's tests, with each app's in-process store or on the session's real Redis."""
    redis_url, client = None, None
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        server.client.flushall()
        redis_url, client = server.url, server.client
    live, servers = start_federation(keys_dir, redis_url)
    yield live, client
    stop(servers)


@pytest.fixture()
def live_federation(shared_federation: tuple[LiveFederation, redis.Redis | None]) -> LiveFederation:
    """The module's federation with empty stores, as if just started: the apps keep nothing else between
    journeys (a record made by account creation would make the next journey for the same person match, and the
    dashboard counts what it finds)."""
    live, client = shared_federation
    live.empty_stores(client)
    return live


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
