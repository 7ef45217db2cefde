"""What the tests share besides fixtures: the federation served on loopback, a real Redis, the one page check, and a
citizen's browser without JavaScript. Fixtures live in the conftest files and build on these."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import redis
import requests
from bs4 import BeautifulSoup, Tag
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import TestResponse

import hub
import stub_idp
import stub_idp_pysaml2
import stub_service
from federation.config import DEFAULT_FEDERATION_FILE, Federation, load_federation
from federation.store import MemoryStore
from hub.stats import in_process_counters
from launcher.localrun import redis_command

# Outbound URLs that cannot resolve: a test that calls out without meaning to fails loudly.
UNREACHABLE = {
    "hub": "http://hub.you-forgot-to-start-it.invalid",
    "stub_idp": "http://idp.you-forgot-to-start-it.invalid",
    "stub_idp_pysaml2": "http://pysaml2-idp.you-forgot-to-start-it.invalid",
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


# ---- servers on loopback --------------------------------------------------------------------------------------


def free_port() -> int:
    """A port nothing listens on now: for a process that binds its own (redis-server, gunicorn, nginx), or for an
    address that must refuse connections. Another process could take it before it is used; a server of ours binds
    first instead (``bind``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _not_serving_yet(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"not serving yet"]


def bind() -> BaseWSGIServer:
    """A threaded server holding a free loopback port and not serving yet, so that its URL can go into the
    config of the app it will serve, and of that app's partners, with the port already ours."""
    return make_server("127.0.0.1", 0, _not_serving_yet, threaded=True)


def url_of(server: BaseWSGIServer) -> str:
    return f"http://127.0.0.1:{server.server_port}"


def serve(app: Callable[..., Iterable[bytes]], server: BaseWSGIServer | None = None) -> BaseWSGIServer:
    """Serve ``app`` from ``server`` (bound beforehand), or from a new server on a free loopback port."""
    server = server or bind()
    server.app = app  # type: ignore[assignment]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def stop(servers: Iterable[BaseWSGIServer]) -> None:
    for server in servers:
        server.shutdown()
        server.server_close()


@dataclass
class LiveFederation:
    """The three apps served over real HTTP on loopback, as a citizen's browser would meet them."""

    urls: dict[str, str]
    apps: dict[str, Flask]
    keys_dir: Path
    federation: Federation

    def empty_stores(self, redis_client: redis.Redis | None) -> None:
        """Forget every journey, record, replay marker and counter, as if the apps had just started."""
        if redis_client is not None:
            redis_client.flushall()
        for app in self.apps.values():
            store = app.extensions["runtime"].store
            if isinstance(store, MemoryStore):
                store.delete(*store.keys())
                in_process_counters(store).clear()


APP_FACTORIES = {
    "hub": hub.create_app,
    "stub_idp": stub_idp.create_app,
    "stub_idp_pysaml2": stub_idp_pysaml2.create_app,
    "stub_service": stub_service.create_app,
}


def start_federation(
    keys_dir: Path,
    redis_url: str | None,
    *,
    per_app: Mapping[str, Mapping[str, object]] | None = None,
    **settings: object,
) -> tuple[LiveFederation, list[BaseWSGIServer]]:
    """The hub and both stubs served on loopback ports bound before the apps are built (each app's config names
    every app's URL). ``settings`` override the test config of all three, ``per_app`` that of one ("hub",
    "stub_idp", "stub_service"). Stop the servers with ``stop``."""
    servers = {name: bind() for name in APP_FACTORIES}
    urls = {name: url_of(server) for name, server in servers.items()}
    config = {"keys_dir": keys_dir, "urls": urls, "redis_url": redis_url, "testing": True, **TEST_SETTINGS, **settings}
    try:
        apps = {name: factory({**config, **(per_app or {}).get(name, {})}) for name, factory in APP_FACTORIES.items()}
    except BaseException:
        for server in servers.values():
            server.server_close()
        raise
    for name, server in servers.items():
        serve(apps[name], server)
    federation_file = Path(str(settings.get("federation_file", DEFAULT_FEDERATION_FILE)))
    live = LiveFederation(urls, apps, keys_dir, load_federation(federation_file, keys_dir=keys_dir, urls=urls))
    return live, list(servers.values())


# ---- a real Redis ---------------------------------------------------------------------------------------------


@dataclass
class RedisServer:
    """A redis-server of the test session's own, on a loopback port."""

    url: str
    client: redis.Redis
    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    @classmethod
    def launch(cls, directory: Path) -> RedisServer:
        """redis-server on a free port, which it binds itself: if another process took the port first (one of
        the suite's other workers, say), it tries another rather than talk to someone else's Redis."""
        for _ in range(5):
            port = free_port()
            client = redis.Redis(host="127.0.0.1", port=port)
            server = cls(f"redis://127.0.0.1:{port}/0", client, _spawn_redis(port, directory), port, directory)
            if server._answers():
                return server
            server.stop()
        pytest.fail("redis-server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def start(self) -> None:
        """Start it again, on the same port (the apps know its URL)."""
        self.process = _spawn_redis(self.port, self.directory)
        if not self._answers():
            pytest.fail(f"redis-server did not start again on port {self.port}")

    def _answers(self) -> bool:
        """Whether this process, not another on the port, answers (False once it has exited)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                return int(self.client.info("server")["process_id"]) == self.process.pid
            except redis.ConnectionError:
                time.sleep(0.05)
        return False


def _spawn_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: the tests use a real Redis (apt-get install redis-server)")
    return subprocess.Popen(
        redis_command(binary, port, directory),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# ---- pages ----------------------------------------------------------------------------------------------------


def check_page(
    response: requests.Response | TestResponse, status: int | None = 200, *, govuk: bool | None = True
) -> BeautifulSoup:
    """What every page must be, and the page parsed: the status expected (``None``: any), one h1, unique ids, a
    title, no traceback. A page of ours (``govuk``) is built on the GOV.UK template, with a title ending
    "– GOV.UK" (not on a company's neutral-brand page) that starts "Error: " when the page shows an error
    summary. ``govuk=None`` lets the page say
    whether it is ours: a citizen's browser also meets the pages of the toolkit services the interop tests run."""
    text = response.text if isinstance(response, requests.Response) else response.get_data(as_text=True)
    if status is not None:
        assert response.status_code == status, (response.status_code, text[:500])
    assert "Traceback" not in text
    soup = BeautifulSoup(text, "html.parser")
    # find_all rather than CSS selectors: the same elements, in a quarter of the time, on every page of every test.
    headings = soup.find_all("h1")
    assert len(headings) == 1, f"expected one h1, found {len(headings)}"
    ids = [str(node["id"]) for node in soup.find_all(id=True)]
    assert len(ids) == len(set(ids)), f"duplicate ids: {sorted({i for i in ids if ids.count(i) > 1})}"
    assert soup.title is not None and soup.title.get_text(strip=True)
    on_govuk_template = soup.find("html", class_="govuk-template") is not None
    if govuk or (govuk is None and on_govuk_template):
        title = soup.title.get_text(strip=True)
        # A certified company's site (the neutral brand) is not GOV.UK: its title does not say it is.
        suffix = "" if soup.find("html", class_="app-brand-neutral") is not None else " – GOV.UK"
        assert on_govuk_template and title.endswith(suffix) and title.removesuffix(suffix).strip(), title
        assert suffix or not title.endswith("GOV.UK"), title
        if soup.find(class_="govuk-error-summary") is not None:
            assert title.startswith("Error: "), title
    return soup


@dataclass
class Page:
    response: requests.Response
    soup: BeautifulSoup

    @property
    def url(self) -> str:
        return self.response.url

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def h1(self) -> str:
        headings = self.soup.select("h1")
        assert len(headings) == 1, f"expected one h1 on {self.url}, found {len(headings)}"
        return headings[0].get_text(" ", strip=True)

    def text(self, selector: str) -> str:
        node = self.soup.select_one(selector)
        assert node is not None, f"{selector} not found on {self.url}"
        return node.get_text(" ", strip=True)

    def form(self, selector: str = "form") -> Tag:
        node = self.soup.select_one(selector)
        assert node is not None, f"no {selector} on {self.url}"
        return node

    def hidden(self, name: str, selector: str = "form") -> str:
        node = self.form(selector).select_one(f'input[name="{name}"]')
        assert node is not None, f"no hidden {name} on {self.url}"
        return str(node["value"])


class Citizen:
    def __init__(self) -> None:
        self.http = requests.Session()
        self.pages: list[Page] = []

    def page(self, response: requests.Response) -> Page:
        """The page ``response`` brings; an HTML page gets the check every page gets, whatever its status."""
        if "text/html" in response.headers.get("Content-Type", ""):
            soup = check_page(response, status=None, govuk=None)
        else:
            soup = BeautifulSoup(response.text, "html.parser")
        page = Page(response, soup)
        self.pages.append(page)
        return page

    def get(self, url: str) -> Page:
        return self.page(self.http.get(url, timeout=30))

    def submit(self, page: Page, fields: dict[str, str | list[str]] | None = None, selector: str = "form") -> Page:
        """Submit a form as a browser would: its hidden and text inputs, checked boxes, plus ``fields``."""
        form = page.form(selector)
        data: dict[str, str | list[str]] = {}
        for node in form.select("input[name]"):
            kind = node.get("type", "text")
            if kind in ("radio", "checkbox") and not node.has_attr("checked"):
                continue
            if kind not in ("submit", "button"):
                data[str(node["name"])] = str(node.get("value", ""))
        data.update(fields or {})
        action = urljoin(page.url, str(form.get("action") or page.url))
        return self.page(self.http.post(action, data=data, timeout=30))

    def wait(self, page: Page, seconds: float = 20) -> Page:
        """Follow a waiting page's refresh until it stops refreshing: the meta refresh a browser without
        JavaScript follows (the hub's waiting page has it in ``<noscript>``)."""
        deadline = time.monotonic() + seconds
        while (meta := page.soup.find("meta", attrs={"http-equiv": "refresh"})) is not None:
            assert time.monotonic() < deadline, f"still waiting at {page.url}"
            time.sleep(0.1)
            _, _, target = str(meta.get("content", "")).partition("url=")
            page = self.get(urljoin(page.url, target.strip()))
        return page
