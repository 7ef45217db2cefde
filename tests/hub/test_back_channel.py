"""The back channel sends a citizen's matching dataset at most once.

A query is sent again only when it cannot have left (the connection was refused); a query that timed out or
lost its connection after it went is not, and the log says which. The matching service here is a small HTTP/1.1
server on loopback (a party we do not run) that records every query it reads and every connection it accepts,
so the tests count what actually arrived.
"""

from __future__ import annotations

import logging
import select
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pytest
import urllib3

from federation.config import Profile, RelyingServiceEntry
from federation.errors import MatchingServiceError
from federation.runtime import Runtime, load_runtime
from federation.saml.build import response, soap_envelope
from federation.saml.checks import soap_body
from federation.saml.crypto import sign
from federation.saml.xml import STATUS_MATCH, STATUS_SUCCESS, now
from federation.settings import AppSettings
from federation.verify.full_profile import RelyingServiceRequest
from federation.verify.loa import LevelOfAssurance
from federation.verify.mds import MatchingDataset
from hub.matching import IDLE_SECONDS, MatchResult, MatchSubject, back_channel, build_query, send_query
from tests.factories import key_pair
from tests.support import UNREACHABLE, federation_file_with, free_port

TIMEOUT = 0.5  # the hub's matching wait in these tests, seconds
DATASET = MatchingDataset.model_validate(
    {"first_names": [{"value": "Alice"}], "surnames": [{"value": "Smith"}], "dates_of_birth": [{"value": "1980-05-14"}]}
)


@dataclass
class Behaviour:
    """How the matching service treats a connection: ``delay`` before each answer; ``idle_close`` closes a
    connection idle that long; ``close_reused`` closes a connection, unread, when a second query comes on it
    (a service closing an idle connection at the instant a query arrives)."""

    delay: float = 0.0
    idle_close: float | None = None
    close_reused: bool = False


@dataclass
class MatchingService:
    runtime: Runtime
    behaviour: Behaviour = field(default_factory=Behaviour)
    queries: list[str] = field(default_factory=list)  # the ID of each query read, in order
    connections: int = 0
    answered: threading.Event = field(default_factory=threading.Event)
    closed_idle: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, body: bytes) -> bytes:
        query = soap_body(body)
        with self.lock:
            self.queries.append(query.get("ID", ""))
        message = response(
            issuer=_service(self.runtime).matching_service.entity_id,
            destination=None,
            in_response_to=query.get("ID", ""),
            moment=now(),
            status=STATUS_SUCCESS,
            sub_status=STATUS_MATCH,
        )
        sign(message, key_pair(self.runtime.federation, "hmrc-msa-signing.crt"))
        return soap_envelope(message)

    def serve(self, sock: socket.socket) -> None:
        """One connection: HTTP/1.1 keep-alive, as the behaviour says."""
        with self.lock:
            self.connections += 1
        sock.settimeout(self.behaviour.idle_close)
        with sock.makefile("rb") as reader:
            served = 0
            while not (served and self.behaviour.close_reused):
                try:
                    body = _read_request(reader)
                except TimeoutError:
                    self.closed_idle.set()
                    return  # idle for ``idle_close``: close
                except OSError:
                    return  # the hub reset the connection
                if body is None:
                    return
                answer = self.answer(body)
                time.sleep(self.behaviour.delay)
                head = f"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {len(answer)}\r\n\r\n"
                try:
                    sock.sendall(head.encode() + answer)
                except OSError:
                    return  # the hub gave up waiting
                finally:
                    self.answered.set()
                served += 1
            select.select([sock], [], [], 10)  # the next query has come: close without reading it


def _read_request(reader: BinaryIO) -> bytes | None:
    """The body of the next request on the connection, or None when the hub closed it."""
    line = reader.readline()
    if not line:
        return None
    length = 0
    while (header := reader.readline()) not in (b"\r\n", b""):
        name, _, value = header.decode().partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    body: bytes = reader.read(length)
    return body


@pytest.fixture()
def matching_service(keys_dir: Path, tmp_path: Path) -> Iterator[MatchingService]:
    """A matching service on a free loopback port, and the hub's runtime pointing its queries there."""
    holder: list[MatchingService] = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            holder[0].serve(self.request)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    settings = AppSettings(
        keys_dir=keys_dir,
        urls={**UNREACHABLE, "stub_service": f"http://127.0.0.1:{server.server_address[1]}"},
        federation_file=federation_file_with(tmp_path, matching_timeout_seconds=TIMEOUT),
    )
    holder.append(MatchingService(load_runtime(settings, store_prefix="hub")))
    yield holder[0]
    server.shutdown()
    server.server_close()


def _service(runtime: Runtime) -> RelyingServiceEntry:
    return next(s for s in runtime.federation.file.relying_services if s.profile is Profile.SIMPLE)


def _ask(runtime: Runtime, http: urllib3.PoolManager) -> tuple[str, MatchResult]:
    """Send one query through the hub's back channel ``http``: its ID and the answer."""
    service = _service(runtime)
    request = RelyingServiceRequest(service.entity_id, service.default_acs_url, "_service_request")
    subject = MatchSubject("a" * 64, LevelOfAssurance.LEVEL_2, request)
    query = build_query(runtime=runtime, service=service, subject=subject, dataset=DATASET)
    answer = send_query(runtime=runtime, service=service, query=query, http=http, subject=subject)
    return query.get("ID", ""), answer.result


def _failure(runtime: Runtime, http: urllib3.PoolManager) -> str:
    """Send one query that must fail: the failure's detail, as the hub logs it."""
    with pytest.raises(MatchingServiceError) as caught:
        _ask(runtime, http)
    return caught.value.detail


def test_query_that_times_out_is_sent_once_and_logged_as_a_timeout(
    matching_service: MatchingService, caplog: pytest.LogCaptureFixture
) -> None:
    matching_service.behaviour = Behaviour(delay=TIMEOUT * 4)
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    detail = _failure(matching_service.runtime, back_channel())
    waited = time.monotonic() - started
    assert matching_service.answered.wait(10)  # the service has finished with the query
    time.sleep(0.1)
    assert len(matching_service.queries) == 1 and matching_service.connections == 1
    assert detail == "matching service did not answer within 0.5 s (timeout)"
    assert waited < TIMEOUT * 3  # abandoned at the limit, not when the answer came
    logged = [r.getMessage() for r in caplog.records if r.name == "hub.matching"]
    assert len(logged) == 1 and logged[0].endswith("(timeout)") and "gave no answer" in logged[0]


def test_query_after_the_service_closed_an_idle_connection_arrives_once(matching_service: MatchingService) -> None:
    matching_service.behaviour = Behaviour(idle_close=0.1)
    http = back_channel()
    first, result = _ask(matching_service.runtime, http)
    assert result is MatchResult.MATCH
    assert matching_service.closed_idle.wait(10)  # the service has closed it; the hub's pool still holds it
    time.sleep(0.05)
    second, result = _ask(matching_service.runtime, http)
    assert result is MatchResult.MATCH
    assert matching_service.queries == [first, second] and matching_service.connections == 2


def test_connection_idle_longer_than_the_limit_is_not_reused(matching_service: MatchingService) -> None:
    """A service that closes an idle connection as a query reaches it would lose that query; the hub does not
    reuse a connection idle long enough for any common server to be closing it."""
    matching_service.behaviour = Behaviour(close_reused=True)
    http = back_channel()
    first, _ = _ask(matching_service.runtime, http)
    time.sleep(IDLE_SECONDS + 0.1)
    second, result = _ask(matching_service.runtime, http)
    assert result is MatchResult.MATCH
    assert matching_service.queries == [first, second] and matching_service.connections == 2


def test_query_lost_with_its_connection_is_not_sent_again(matching_service: MatchingService) -> None:
    """The one case the hub cannot tell from a service that read the query and dropped the connection: the
    query fails, and is not sent a second time."""
    matching_service.behaviour = Behaviour(close_reused=True)
    http = back_channel()
    first, _ = _ask(matching_service.runtime, http)
    detail = _failure(matching_service.runtime, http)
    assert detail.startswith("matching service dropped the connection without answering") and "not resent" in detail
    time.sleep(0.1)
    assert matching_service.queries == [first] and matching_service.connections == 1
    third, result = _ask(matching_service.runtime, http)  # and the pool goes on with a new connection
    assert result is MatchResult.MATCH and matching_service.queries == [first, third]


def test_refused_connection_is_retried_once_then_fails_as_unreachable(
    keys_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = AppSettings(
        keys_dir=keys_dir,
        urls={**UNREACHABLE, "stub_service": f"http://127.0.0.1:{free_port()}"},
        federation_file=federation_file_with(tmp_path, matching_timeout_seconds=TIMEOUT),
    )
    runtime = load_runtime(settings, store_prefix="hub")
    caplog.set_level(logging.WARNING, logger="urllib3")
    started = time.monotonic()
    detail = _failure(runtime, back_channel())
    assert time.monotonic() - started < TIMEOUT
    assert detail == "matching service unreachable: could not connect (NewConnectionError)"
    retries = [r for r in caplog.records if r.name == "urllib3.connectionpool" and "Retrying" in r.getMessage()]
    assert len(retries) == 1
