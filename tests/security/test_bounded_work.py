"""No request holds a worker: a hostile XML body is refused at once, and a huge body is refused before it is read.

The hub runs here as ``make run`` runs it, under gunicorn, but with one worker of one thread, so a request that
held its thread would leave nothing to serve the next one: the next request itself is the check.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests
from bs4 import BeautifulSoup
from flask import Flask

import hub
import stub_idp
import stub_service
from federation.config import DEFAULT_FEDERATION_FILE, load_federation
from launcher.localrun import gunicorn_command, wait_for
from tests.factories import b64, service_authn_request
from tests.support import UNREACHABLE, free_port

DEV_ZERO = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY % z SYSTEM "file:///dev/zero"> %z;]><r/>'
FIFTY_MB = 50 * 1024 * 1024


class Gunicorn:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process, self.port = process, port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker(self) -> psutil.Process:
        children = psutil.Process(self.process.pid).children()
        assert len(children) == 1, children
        return children[0]


@pytest.fixture(scope="module")
def one_thread_hub(keys_dir: Path) -> Iterator[Gunicorn]:
    port = free_port()
    env = {**os.environ, "KEYS_DIR": str(keys_dir), "LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = gunicorn_command("hub:create_app()", f"127.0.0.1:{port}", 1, "--threads", "1", "--log-level", "warning")
    process = subprocess.Popen(command, env=env)
    try:
        assert wait_for("127.0.0.1", port, 60), "the hub did not start under gunicorn"
        # Warm the worker (its first error page compiles the template): the timings below are of the hostile
        # body, not of a cold start.
        requests.post(f"http://127.0.0.1:{port}/SAML2/SSO", data={"SAMLRequest": "not base64"}, timeout=30)
        yield Gunicorn(process, port)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _alive(server: Gunicorn) -> None:
    started = time.monotonic()
    response = requests.get(f"{server.url}/_status", timeout=5)
    assert response.status_code == 200 and time.monotonic() - started < 1


@pytest.mark.parametrize("path", ["/SAML2/SSO", "/SAML2/SSO/Response/POST"])
def test_a_hostile_body_gets_a_400_within_a_second_and_the_same_worker_serves_the_next_request(
    one_thread_hub: Gunicorn, keys_dir: Path, path: str
) -> None:
    worker = one_thread_hub.worker()
    browser = requests.Session()
    field = "SAMLRequest" if path == "/SAML2/SSO" else "SAMLResponse"
    if field == "SAMLResponse":  # the ACS reads a Response only for a journey: any visitor can start one
        request = service_authn_request(load_federation(DEFAULT_FEDERATION_FILE, keys_dir=keys_dir))
        started = browser.post(f"{one_thread_hub.url}/SAML2/SSO", data={"SAMLRequest": b64(request)}, timeout=10)
        assert started.status_code == 200 and browser.cookies.get("hub_journey")
    started_at = time.monotonic()
    response = browser.post(f"{one_thread_hub.url}{path}", data={field: b64(DEV_ZERO.encode("utf-16"))}, timeout=10)
    assert response.status_code == 400
    heading = BeautifulSoup(response.text, "html.parser").select_one("h1")
    assert heading is not None and "problem" in heading.get_text()
    assert time.monotonic() - started_at < 1
    _alive(one_thread_hub)
    assert one_thread_hub.worker().pid == worker.pid  # not replaced: it was never stuck


def _post_huge(url: str, path: str, length: int, *, chunked: bool = False) -> tuple[int, str]:
    """Send a POST whose body is ``length`` bytes (or as much of it as the server reads); its status and page."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}"
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"{framing}\r\n\r\n".encode()
        )

        def send_body() -> None:
            chunk = b"SAMLRequest=" + b"A" * (1024 * 1024 - 12)
            try:
                for _ in range(length // len(chunk)):
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            except OSError:
                pass  # the server answered and closed: the rest was never wanted

        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        received = b""
        while b"\r\n\r\n" not in received or b"</html>" not in received:
            data = sock.recv(65536)
            if not data:
                break
            received += data
        sender.join(timeout=10)
    head, _, page = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), page.decode("utf-8", "replace")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_50_mb_body_is_refused_with_a_413_page_and_the_workers_memory_is_unchanged(
    one_thread_hub: Gunicorn, chunked: bool
) -> None:
    _alive(one_thread_hub)
    worker = one_thread_hub.worker()
    before = worker.memory_info().rss
    status, page = _post_huge(one_thread_hub.url, "/SAML2/SSO", FIFTY_MB, chunked=chunked)
    assert status == 413
    heading = BeautifulSoup(page, "html.parser").select_one("h1")
    assert heading is not None and heading.get_text(strip=True) == "The request was too large"
    _alive(one_thread_hub)
    grown = worker.memory_info().rss - before
    assert grown < 5 * 1024 * 1024, f"the worker grew by {grown / 1024 / 1024:.1f} MB"


@pytest.mark.parametrize("factory", [hub.create_app, stub_idp.create_app, stub_service.create_app])
def test_every_app_caps_request_bodies(keys_dir: Path, factory: object) -> None:
    app: Flask = factory({"keys_dir": keys_dir, "urls": UNREACHABLE, "testing": True})  # type: ignore[operator]
    assert app.config["MAX_CONTENT_LENGTH"] == 512 * 1024
    client = app.test_client()
    for path in ("/SAML2/SSO", "/hmrc/matching-service/POST", "/stub-idp-one/SAML2/SSO"):
        response = client.post(path, data=b"x" * (600 * 1024), content_type="application/x-www-form-urlencoded")
        assert response.status_code in (404, 405, 413), path
        if response.status_code == 413:
            assert b"The request was too large" in response.data
