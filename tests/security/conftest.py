"""A live federation for attacks, with a recorder on the stub service: did anything reach the matching
service or the relying service's ACS?"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

import hub
import stub_idp
import stub_service
from federation.saml.crypto import backend_name, use_backend
from tests.journeys.drive import Journey
from tests.security.forge import IDP_ONE, Captured
from tests.support import UNREACHABLE, LiveFederation, check_page, start_federation


class Recorder:
    """WSGI middleware counting requests by path: it observes the stub service, it changes nothing."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.paths: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.paths.append(environ.get("PATH_INFO", ""))
        return self.app(environ, start_response)

    def count(self, fragment: str) -> int:
        return sum(fragment in path for path in self.paths)


@pytest.fixture(scope="module")
def attack_live(keys_dir: Path) -> Iterator[tuple[LiveFederation, Recorder]]:
    live, servers = start_federation(keys_dir, None)
    service = live.apps["stub_service"]
    recorder = Recorder(service.wsgi_app)
    service.wsgi_app = recorder  # type: ignore[method-assign]
    yield live, recorder
    for server in servers:
        server.shutdown()


@contextmanager
def in_process_crypto() -> Iterator[None]:
    """Sign and encrypt with python-xmlsec for a while, whichever backend the run is testing, then go back to it."""
    tested = backend_name()
    use_backend("inprocess")
    try:
        yield
    finally:
        use_backend(tested)


def capture(live: LiveFederation, idp: str = IDP_ONE) -> Captured:
    """A fresh journey at the hub's ACS with alice's genuine, unposted Response from ``idp``.

    Getting there is the setup, not the subject: it runs with the in-process backend, so that under
    CRYPTO_BACKEND=xmlsec1 each case does not fork xmlsec1 a dozen times before its attack (the journey up to
    the company is tested under xmlsec1 elsewhere). What the case posts is checked, and everything after it
    runs, with the backend the run is testing.
    """
    with in_process_crypto():
        journey = Journey(live, idp=idp)
        login = journey.to_idp()
        consent = journey.citizen.submit(login, {"username": "alice", "password": "password"}, selector="#sign-in-form")
        form = journey.citizen.submit(consent, {"decision": "agree"}, selector="#consent-form")
    journey.idp_answer = form
    return Captured(live, journey, form)


@pytest.fixture()
def captured(attack_live: tuple[LiveFederation, Recorder]) -> Captured:
    """A fresh journey at the hub's ACS with alice's genuine, unposted Response from Stub IDP One."""
    return capture(attack_live[0])


@pytest.fixture(scope="module")
def apps(keys_dir: Path) -> dict[str, Flask]:
    """The three apps in this process, pointed at addresses that cannot resolve: for requests that never leave
    the app they are sent to."""
    config = {"keys_dir": keys_dir, "urls": UNREACHABLE, "testing": True}
    return {
        "hub": hub.create_app(config),
        "stub_idp": stub_idp.create_app(config),
        "stub_service": stub_service.create_app(config),
    }


@pytest.fixture()
def recorder(attack_live: tuple[LiveFederation, Recorder]) -> Recorder:
    return attack_live[1]


def check_refused(response: requests.Response, recorder: Recorder, before: tuple[int, int]) -> None:
    """The reject oracle: a 4xx page in plain words, nothing sent to the matching service or the service."""
    assert 400 <= response.status_code < 500, (response.status_code, response.url)
    soup = check_page(response, status=None)
    assert soup.select("h1")[0].get_text(strip=True)
    assert "lxml" not in response.text and "xmlsec" not in response.text
    assert (recorder.count("/matching-service/"), recorder.count("/SAML2/SSO/Response/POST")) == before


def counts(recorder: Recorder) -> tuple[int, int]:
    return recorder.count("/matching-service/"), recorder.count("/SAML2/SSO/Response/POST")
