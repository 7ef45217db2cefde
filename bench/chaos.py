"""``python -m bench.chaos``: faults under load, and what each citizen was left with.

For each store (a redis-server of its own, a Sentinel set, a Redis Cluster: ``tests/stores/topologies.py``) the
federation runs under gunicorn on loopback as ``python -m bench`` runs it, and 16 citizens go through the PAYE
journey (alice, stub IDP one) again and again. Once the first 16 have completed, one fault is injected:

- ``kill-master``: ``kill -9`` the Redis master (Sentinel promotes the replica; the cluster's replica of the
  master that held the replay sample's marker takes over; a single redis-server is restarted after 2 s, empty,
  as a supervisor would restart it);
- ``freeze``: ``SIGSTOP`` that master for 3 s, then ``SIGCONT``;
- ``kill-worker``: ``kill -9`` the hub worker with the most open connections (gunicorn starts another);
- ``matching-down``: HMRC's matching service refuses connections for 10 s (a relay between the hub and the stub
  matching service closes its port and cuts its connections, then listens again);
- ``skew-ahead`` / ``skew-behind``: for 6 s, stub IDP one's clock is 4 minutes ahead or behind (a relay in
  front of the stub IDPs sends each new request to another stub IDP, started with
  ``STUB_IDP_CLOCK_OFFSET_SECONDS`` ±240; the hub allows 60 s).

The faults run in that order on one federation (nginx in front, as deployed; ``--no-nginx`` without) and one
store, each once the store is whole again: after a fail-over, with the old master back as a replica.

Each journey ends one of three ways: **completed** (the service shows the matched record, PAYE-1001); a **clear
page** (an error page in plain words, or an exit page, whose "Go back to the service" is followed to read the
SAML status the service received); or **no answer** (a connection refused or reset, a time-out, a journey past
its bound). A journey ends at the first page it did not expect, as it would for a citizen who gives up there;
a citizen whose journey did not complete waits a second before the next.

The time to recover runs from the fault's start (kills) or its end (timed faults) to the moment the first
journey begun after it completes. Replay: just before the fault, and again as soon as a journey can once the
fault is over, a separate journey posts stub IDP one's Response to the hub and stops there (the service not yet
answered); at the end each Response is posted again with the same cookies, and must be refused. Loops are
bounded in count (``--journeys``) and time; all traffic is on loopback. It exits 1 if a journey had no answer
(but for a response cut short by the killed worker, which nothing can finish) or a replay was accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import multiprocessing
import os
import platform
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import psutil  # type: ignore[import-untyped,unused-ignore]
import redis
import requests
from lxml import etree, html

from bench.federation import APPS, RunningFederation
from federation.store import replay_key
from launcher import reverse_proxy
from launcher.localrun import wait_for
from tests.stores import topologies
from tests.support import free_port

STORES = ("single", "sentinel", "cluster")
# In this order, on one federation and store: a kill of the master comes last, since it leaves no replica. Before
# each fault the store is whole again (the frozen master back, as a replica where there was a fail-over).
FAULTS = ("kill-worker", "matching-down", "skew-ahead", "skew-behind", "freeze", "kill-master")
TIMED = {"freeze": 3.0, "matching-down": 10.0, "skew-ahead": 6.0, "skew-behind": 6.0}
SKEW_SECONDS = 240
SINGLE_RESTART_SECONDS = 2.0  # a killed single redis-server is started again after this, empty
WARM = 16  # journeys completed before the fault
AFTER_RECOVERY_SECONDS = 3.0  # the load carries on this long once a journey begun after the fault completed
PHASE_SECONDS = 60.0  # the most a fault's phase runs after the fault (its end, for a timed fault)
JOURNEY_SECONDS = 45.0  # a journey not over by then has had no answer
REQUEST_SECONDS = 15.0  # nor has a request not answered by then
PAUSE_AFTER_FAILURE = 1.0
PAYE, RECORD = "check-your-paye-tax", "PAYE-1001"
_parsers = threading.local()


# ---- relays: a loopback TCP forwarder the faults can close or point elsewhere -----------------------------------


class _Relay:
    """Listens on ``port`` and passes each connection to ``target``. ``refuse`` closes the port and cuts every
    connection, as a process that dies. After ``target`` changes, each request goes to the new target: a
    connection's next request (bytes from the client once the target has answered) is sent over a new connection
    to it, so a keep-alive connection (nginx's to its upstream, say) follows without being closed."""

    def __init__(self, port: int, target: int) -> None:
        self.port, self.target = port, target
        self.server: asyncio.Server | None = None
        self.open: set[asyncio.StreamWriter] = set()

    async def listen(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True, backlog=512)

    def refuse(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in self.open:
            writer.transport.abort()
        self.open.clear()

    async def _serve(self, reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        self.open.add(client)
        upstream: asyncio.StreamWriter | None = None
        answering: asyncio.Task[None] | None = None
        answered = [True]  # the target has answered the last request (set by the answering task)
        target = 0
        try:
            while data := await reader.read(65536):
                if upstream is None or (answered[0] and target != self.target):
                    if answering is not None:
                        answering.cancel()
                    if upstream is not None:
                        upstream.close()
                        self.open.discard(upstream)
                    target = self.target
                    upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", target)
                    self.open.add(upstream)
                    answering = asyncio.create_task(_answers(upstream_reader, client, answered))
                answered[0] = False
                upstream.write(data)
                await upstream.drain()
            if upstream is not None and upstream.can_write_eof():
                upstream.write_eof()
            if answering is not None:
                await answering
        except OSError:
            client.transport.abort()
        finally:
            for end in (client, upstream):
                if end is not None:
                    self.open.discard(end)
                    end.close()


async def _answers(reader: asyncio.StreamReader, client: asyncio.StreamWriter, answered: list[bool]) -> None:
    """The target's bytes to the client; when the target closes, so does the client's connection."""
    try:
        while data := await reader.read(65536):
            answered[0] = True
            client.write(data)
            await client.drain()
        client.close()
    except OSError:
        client.transport.abort()


async def _serve_relays(conn: Connection) -> None:
    relays: dict[str, _Relay] = {}
    loop = asyncio.get_running_loop()
    while True:
        command, name, *rest = await loop.run_in_executor(None, conn.recv)
        if command == "quit":
            conn.send("ok")
            return
        if command == "listen":
            relays[name] = _Relay(rest[0], rest[1])
            await relays[name].listen()
        elif command == "refuse":
            relays[name].refuse()
        elif command == "reopen":
            await relays[name].listen()
        elif command == "retarget":
            relays[name].target = rest[0]
        elif command == "forget":
            relays.pop(name).refuse()
        conn.send("ok")


def _relay_process(conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it
    asyncio.run(_serve_relays(conn))


class Relays:
    """Relays in a process of their own, forked before any thread starts, so the clients' threads do not share
    a GIL with the bytes they pass."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_relay_process, args=(child,), daemon=True)
        self._process.start()
        self._lock = threading.Lock()

    def ask(self, command: str, name: str = "", *args: int) -> None:
        with self._lock:
            self._conn.send((command, name, *args))
            if not self._conn.poll(10) or self._conn.recv() != "ok":
                raise RuntimeError(f"relay did not do {command} {name}")

    def close(self) -> None:
        with suppress(Exception):
            self.ask("quit")
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()


# ---- one citizen's journey, classified ---------------------------------------------------------------------


@dataclass
class Outcome:
    started: float
    ended: float
    kind: str  # completed, clear page, unclear page (an error page without a heading), no answer, harness error
    where: str = ""  # the page the journey ended on, or what went wrong
    service_status: str | None = None  # the SAML status the service showed, after "Go back to the service"
    idp_clock: int | None = None  # how far the IDP's clock was from ours, to the minute, by its Response


class _Ended(Exception):
    def __init__(self, kind: str, where: str, service_status: str | None = None) -> None:
        super().__init__(where)
        self.kind, self.where, self.service_status = kind, where, service_status


def _page(content: bytes) -> html.HtmlElement:
    parser: html.HTMLParser | None = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = html.HTMLParser()
    return html.fromstring(content or b"<html></html>", parser=parser)


def _text(document: html.HtmlElement, xpath: str) -> str:
    found = document.xpath(xpath)
    return " ".join(found[0].text_content().split()) if found else ""


class Browser:
    """A citizen without JavaScript, whose journey ends (``_Ended``) at the first page it did not expect."""

    def __init__(self, urls: dict[str, str], deadline: float) -> None:
        self.http, self.urls, self.deadline = requests.Session(), urls, deadline
        self.apps = {urlsplit(url).netloc: name for name, url in urls.items()}

    def _timeout(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Ended("no answer", f"journey not over after {JOURNEY_SECONDS:g} s")
        return min(REQUEST_SECONDS, left)

    def get(self, url: str) -> requests.Response:
        return self._expect_ok(self.http.get(url, timeout=self._timeout()))

    def post(self, url: str, data: dict[str, Any]) -> requests.Response:
        return self._expect_ok(self.http.post(url, data=data, timeout=self._timeout()))

    def form(self, page: requests.Response, form_id: str = "") -> tuple[str, dict[str, Any]]:
        """The action and values of ``page``'s form (the first, or ``form_id``); a page without it ends here."""
        document = _page(page.content)
        forms = document.xpath(f'//form[@id="{form_id}"]' if form_id else "//main//form")
        if not forms:
            self._unexpected(page, document)
        return urljoin(page.url, forms[0].get("action") or page.url), dict(forms[0].form_values())

    def submit(
        self, page: requests.Response, fields: dict[str, Any] | None = None, form_id: str = ""
    ) -> requests.Response:
        action, data = self.form(page, form_id)
        return self.post(action, {**data, **(fields or {})})

    def wait(self, page: requests.Response) -> requests.Response:
        """Follow the waiting page's refresh (a ``Refresh`` header, or a meta refresh) until it stops, waiting
        the seconds it asks for, as a browser without JavaScript does."""
        while (refresh := _refresh(page)) is not None:
            time.sleep(min(refresh[0], 2.0))
            page = self.get(refresh[1])
        return page

    def _app(self, url: str) -> str:
        return self.apps.get(urlsplit(url).netloc, urlsplit(url).netloc)

    def _expect_ok(self, response: requests.Response) -> requests.Response:
        if response.status_code != 200:
            self._unexpected(response, _page(response.content))
        return response

    def _unexpected(self, page: requests.Response, document: html.HtmlElement) -> None:
        """Why the journey ends on ``page``: an exit page (follow its way back to the service and read the status
        the service got), the service's answer, an error page in plain words, or a page that says nothing."""
        h1 = _text(document, "//h1")
        where = f"{self._app(page.url)} {page.status_code} {h1}".strip()
        if document.xpath('//form[substring(@action, string-length(@action) - 17) = "/return-to-service"]'):
            raise _Ended("clear page", f"{where} (exit page)", self._back_to_service(page, document))
        if document.xpath('//*[@id="saml-status"]'):
            raise _Ended("clear page", where, _status(document))
        raise _Ended("clear page" if h1 else "unclear page", where)

    def _back_to_service(self, page: requests.Response, document: html.HtmlElement) -> str:
        form = document.xpath('//form[substring(@action, string-length(@action) - 17) = "/return-to-service"]')[0]
        try:
            posted = self.http.post(urljoin(page.url, form.get("action")), data=dict(form.form_values()), timeout=10)
            action, data = self._saml_form(posted)
            answer = self.http.post(action, data=data, timeout=10)
            return _status(_page(answer.content)) or f"none (service page {answer.status_code})"
        except (requests.RequestException, LookupError) as exc:
            return f"none (going back failed: {type(exc).__name__})"

    @staticmethod
    def _saml_form(page: requests.Response) -> tuple[str, dict[str, Any]]:
        form = _page(page.content).xpath('//form[@id="saml-form"]')[0]
        return urljoin(page.url, form.get("action")), dict(form.form_values())


def _refresh(page: requests.Response) -> tuple[float, str] | None:
    """A page's refresh, in its header or a ``<meta http-equiv="refresh">``: (seconds, the URL to load)."""
    value = page.headers.get("Refresh")
    if value is None:
        found = _page(page.content).xpath('//meta[translate(@http-equiv, "REFSH", "refsh") = "refresh"]/@content')
        value = found[0] if found else None
    if value is None:
        return None
    seconds, _, rest = str(value).partition(";")
    target = rest.strip().removeprefix("url=").removeprefix("URL=").strip("'\"")
    return float(seconds or 0), urljoin(page.url, target or page.url)


def _status(document: html.HtmlElement) -> str:
    """``Responder/NoAuthnContext``: the service's page's SAML status and second-level status, last parts."""
    code, sub = _text(document, '//*[@id="saml-status"]'), _text(document, '//*[@id="saml-sub-status"]')
    return "/".join(part.rsplit(":", 1)[-1] for part in (code, sub) if part and part != "None")


def _to_idp_answer(browser: Browser) -> requests.Response:
    """From the service's start page to the stub IDP's form that posts its Response to the hub."""
    urls = browser.urls
    start = browser.get(f"{urls['stub_service']}/{PAYE}/")
    hub_start = browser.submit(browser.submit(start), form_id="saml-form")
    links = _page(hub_start.content).xpath('//main//a[contains(@class, "govuk-button")]/@href')
    if not links:
        browser._unexpected(hub_start, _page(hub_start.content))
    question = browser.get(urljoin(hub_start.url, links[0]))
    choose = browser.submit(question, {"evidence": ["photo_id"]})
    to_idp = browser.submit(choose, {"company": f"{urls['stub_idp']}/stub-idp-one/SAML2/metadata"})
    login = browser.submit(to_idp, form_id="saml-form")
    consent = browser.submit(login, {"username": "alice", "password": "password"}, form_id="sign-in-form")
    return browser.submit(consent, {"decision": "agree", "gpg45_status": "DF01"}, form_id="consent-form")


def journey(urls: dict[str, str]) -> Outcome:
    started = time.monotonic()
    browser = Browser(urls, started + JOURNEY_SECONDS)
    clock = None
    try:
        back = _to_idp_answer(browser)
        clock = _idp_clock(browser.form(back, "saml-form")[1])
        answered = browser.wait(browser.submit(back, form_id="saml-form"))
        service = browser.submit(answered, form_id="saml-form")
        document = _page(service.content)
        if _text(document, '//*[@id="record-reference"]') != RECORD:
            browser._unexpected(service, document)
        return Outcome(started, time.monotonic(), "completed", "service: matched", _status(document), clock)
    except _Ended as ended:
        return Outcome(started, time.monotonic(), ended.kind, ended.where, ended.service_status, clock)
    except (requests.RequestException, OSError) as exc:
        return Outcome(
            started, time.monotonic(), "no answer", f"{type(exc).__name__} at {_last_path(exc)}", None, clock
        )
    except Exception as exc:  # a page this client cannot read: its fault, counted apart, not the federation's
        return Outcome(started, time.monotonic(), "harness error", f"{type(exc).__name__}: {exc}"[:160], None, clock)


def _idp_clock(fields: dict[str, Any]) -> int:
    """The IDP's clock against ours, to the minute: its Response's IssueInstant against the time now."""
    instant = etree.fromstring(base64.b64decode(fields["SAMLResponse"])).get("IssueInstant", "")
    issued = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
    return round((issued - dt.datetime.now(dt.UTC)).total_seconds() / 60) * 60


def _last_path(exc: BaseException) -> str:
    request = getattr(exc, "request", None)
    return urlsplit(getattr(request, "url", "") or "").path or "?"


# ---- the replay sample -------------------------------------------------------------------------------------


@dataclass
class ReplaySample:
    """stub IDP one's Response, posted once to the hub, with the cookies of the browser that posted it."""

    browser: Browser
    action: str
    fields: dict[str, Any]
    marker: str  # the hub's replay-cache key for this Response, as Redis holds it
    posted: float = 0.0  # when the hub took it the first time

    @classmethod
    def capture(cls, urls: dict[str, str]) -> ReplaySample:
        browser = Browser(urls, time.monotonic() + JOURNEY_SECONDS)
        action, fields = browser.form(_to_idp_answer(browser), "saml-form")
        first = browser.http.post(action, data=fields, timeout=REQUEST_SECONDS, allow_redirects=False)
        if first.status_code != 303:
            raise RuntimeError(f"the replay sample's first post got {first.status_code}, not 303")
        posted = time.monotonic()
        response = etree.fromstring(base64.b64decode(fields["SAMLResponse"]))
        issuer = response.findtext("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer") or ""
        marker = "hub:" + replay_key("idp-response", f"{issuer}|{response.get('ID')}")
        return cls(browser, action, fields, marker, posted)

    @classmethod
    def first_after(cls, urls: dict[str, str], seconds: float) -> ReplaySample | str:
        """The first sample the federation lets a journey take within ``seconds`` (tried every 0.3 s), or why not."""
        deadline, why = time.monotonic() + seconds, ""
        while time.monotonic() < deadline:
            try:
                return cls.capture(urls)
            except (_Ended, requests.RequestException, OSError, RuntimeError) as exc:
                why = f"{type(exc).__name__}: {exc}"[:120]
            time.sleep(0.3)
        return f"n.a. (no journey reached the hub's answer within {seconds:g} s: {why})"

    def replay(self) -> str:
        """Post the Response again: ``yes (…)`` when the hub refused it, ``no (…)`` when it took it."""
        try:
            again = self.browser.http.post(
                self.action, data=self.fields, timeout=REQUEST_SECONDS, allow_redirects=False
            )
        except requests.RequestException as exc:
            return f"n.a. (no answer: {type(exc).__name__})"
        words = " ".join(_page(again.content).text_content().split())
        if again.status_code == 400 and "already been used" in words:
            return "yes (already used)"
        if again.status_code == 400 and "start again" in words.lower():
            return "yes (journey gone: start again)"
        if again.status_code >= 400:
            return f"yes ({again.status_code} {_text(_page(again.content), '//h1')})"
        return f"no (accepted: {again.status_code})"


# ---- the store and the federation for one store's faults ----------------------------------------------------


@dataclass
class Setup:
    store: str
    federation: RunningFederation
    relays: Relays
    topology: topologies.Cluster | topologies.SentinelSet | None
    logs: Path
    fronts: dict[str, int]  # where the federation's URLs point: nginx, or without it the stub IDPs' relay
    idp_ports: dict[str, int] = field(default_factory=dict)  # normal, ahead, behind
    proxy: reverse_proxy.Nginx | None = None

    def point_idp(self, port: int) -> None:
        """Send the stub IDPs' requests to the stub IDP on ``port`` from the next one on."""
        self.relays.ask("retarget", "idp", port)

    def log_offsets(self) -> dict[str, int]:
        return {log.name: log.stat().st_size for log in self.logs.glob("*.log")}

    def errors_since(self, offsets: dict[str, int]) -> dict[str, int]:
        """The ERROR lines the apps logged since ``offsets``, by app and message (a traceback's first line)."""
        found: Counter[str] = Counter()
        for log in self.logs.glob("*.log"):
            with log.open("rb") as file:
                file.seek(offsets.get(log.name, 0))
                for line in file.read().decode(errors="replace").splitlines():
                    if " ERROR " in line or "[ERROR]" in line:
                        found[f"{log.stem}: {line.split('ERROR', 1)[1].lstrip('] ')[:160]}"] += 1
        return dict(found)

    @property
    def urls(self) -> dict[str, str]:
        return self.federation.live.urls


@contextmanager
def running(
    store: str, faults: tuple[str, ...], relays: Relays, work: Path, hub_workers: int, nginx: bool
) -> Iterator[Setup]:
    """A fresh store and federation, nginx in front of the three apps as deployed (``nginx``), and relays in
    front of the stub IDPs and of HMRC's matching service."""
    work.mkdir(parents=True, exist_ok=True)
    topology = _start_store(store, work)
    fronts = {name: free_port() for name in (APPS if nginx else ("stub_idp",))}
    idp_relay = free_port() if nginx else fronts["stub_idp"]
    matching_relay = free_port()

    def through_the_relay(data: dict[str, Any]) -> None:
        hmrc = next(department for department in data["departments"] if department["id"] == "hmrc")
        base = f"http://127.0.0.1:{matching_relay}/hmrc/matching-service"
        hmrc["matching_services"][0].update(url=f"{base}/POST", account_creation_url=f"{base}/account-creation/POST")

    setup: Setup | None = None
    try:
        nodes = _store_nodes(topology)
        with RunningFederation(
            "inprocess",
            hub_workers=hub_workers,
            work=work / "federation",
            redis_url=None if topology is None else topology.url,
            store_processes=[node.process.pid for node in nodes],
            fronts=fronts,
            edit_federation=through_the_relay,
            log_dir=work / "logs",
        ) as federation:
            setup = Setup(store, federation, relays, topology, work / "logs", fronts)
            setup.idp_ports["normal"] = federation.ports["stub_idp"]
            if any(fault.startswith("skew") for fault in faults):
                _start_skewed_idps(setup)
            relays.ask("listen", "matching", matching_relay, federation.ports["stub_service"])
            relays.ask("listen", "idp", idp_relay, federation.ports["stub_idp"])
            if nginx:
                upstreams = {**federation.ports, "stub_idp": idp_relay}
                setup.proxy = reverse_proxy.start(
                    {name: (f"127.0.0.1:{fronts[name]}", f"127.0.0.1:{upstreams[name]}") for name in APPS}
                )
            _wait_until_answering(setup)
            try:
                yield setup
            finally:
                relays.ask("forget", "matching")
                relays.ask("forget", "idp")
    finally:
        if setup is not None and setup.proxy is not None:
            setup.proxy.stop()
        if topology is not None:
            topology.stop()


def _wait_until_answering(setup: Setup, seconds: float = 120) -> None:
    """Until each app's ``/_status`` answers 200 where citizens reach it: gunicorn listens before its workers have
    loaded the app, and on a busy machine the first requests waited more than ``REQUEST_SECONDS`` for one."""

    def answering() -> bool:
        try:
            return all(requests.get(f"{url}/_status", timeout=5).status_code == 200 for url in setup.urls.values())
        except requests.RequestException:
            return False

    if not _wait(answering, seconds):
        raise RuntimeError(f"the apps did not all answer /_status within {seconds:g} s")


def _start_store(store: str, work: Path) -> topologies.Cluster | topologies.SentinelSet | None:
    if store == "sentinel":
        return topologies.start_sentinel_set(Path(tempfile.mkdtemp(dir=work, prefix="sentinel-")))
    if store == "cluster":
        return topologies.start_cluster(Path(tempfile.mkdtemp(dir=work, prefix="cluster-")))
    return None


def _store_nodes(topology: topologies.Cluster | topologies.SentinelSet | None) -> list[topologies.Node]:
    if isinstance(topology, topologies.Cluster):
        return list(topology.nodes)
    return [] if topology is None else [*topology.data, *topology.sentinels]


def _start_skewed_idps(setup: Setup) -> None:
    """Two more stub IDP processes, their clocks ``SKEW_SECONDS`` ahead and behind, for the relay to turn to."""
    for name, offset in (("ahead", SKEW_SECONDS), ("behind", -SKEW_SECONDS)):
        setup.idp_ports[name] = free_port()
        env = {"STUB_IDP_CLOCK_OFFSET_SECONDS": str(offset)}
        setup.federation.spawn(f"stub_idp_{name}", "stub_idp:create_app()", setup.idp_ports[name], 1, env)
    for port in setup.idp_ports.values():
        if not wait_for("127.0.0.1", port, 30):
            raise RuntimeError(f"the stub IDP on {port} did not start")


# ---- the faults --------------------------------------------------------------------------------------------


def _master_for(setup: Setup, sample: ReplaySample) -> topologies.Node | None:
    """The data node to break: a Sentinel set's master, or the cluster master holding the sample's marker."""
    topology = setup.topology
    if isinstance(topology, topologies.SentinelSet):
        return topology.current_master()
    if isinstance(topology, topologies.Cluster):
        slot = redis.crc.key_slot(sample.marker.encode())
        with topology.masters()[0].client() as client:
            ranges = client.cluster("slots")
        for (start, end), address in _slot_ranges(ranges):
            if start <= slot <= end:
                return next(node for node in topology.nodes if node.address == address)
        raise RuntimeError(f"no master serves slot {slot}")
    return None


def _slot_ranges(answer: Any) -> Iterator[tuple[tuple[int, int], str]]:
    """``CLUSTER SLOTS`` as redis-py parses it ({(start, end): {"primary": (host, port)}}) or raw."""
    if isinstance(answer, dict):
        for (start, end), shard in answer.items():
            host, port = shard["primary"][:2]
            yield (int(start), int(end)), f"{_str(host)}:{port}"
        return
    for start, end, primary, *_ in answer:
        yield (int(start), int(end)), f"{_str(primary[0])}:{primary[1]}"


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _marker_held(node: topologies.Node | None, key: str) -> bool | None:
    """Whether ``node`` holds ``key`` (None when it cannot say). A cluster replica answers reads after READONLY;
    otherwise it sends the client to the slot's master."""
    if node is None or node.process.poll() is not None:
        return None
    try:
        with node.client() as client:
            if node.info("server").get("redis_mode") == "cluster":
                client.execute_command("READONLY")
            return bool(client.exists(key))
    except redis.RedisError:
        return None


def _replica_of(setup: Setup, master: topologies.Node) -> topologies.Node | None:
    topology = setup.topology
    if isinstance(topology, topologies.SentinelSet):
        return next(node for node in topology.data if node is not master)
    if isinstance(topology, topologies.Cluster):
        for node in topology.running():
            info = node.info("replication")
            if info.get("role") == "slave" and int(str(info.get("master_port"))) == master.port:
                return node
    return None


def _hub_workers(setup: Setup) -> list[psutil.Process]:
    return list(setup.federation.apps["hub"].children())


def _busiest_worker(setup: Setup) -> psutil.Process:
    """The hub worker with the most open client connections: the one most likely mid-journey."""
    port = setup.federation.ports["hub"]

    def connections(worker: psutil.Process) -> int:
        with suppress(psutil.Error):
            return sum(1 for c in worker.net_connections("tcp") if c.laddr and c.laddr.port == port and c.raddr)
        return 0

    return max(_hub_workers(setup), key=connections)


class Fault:
    """One fault: ``inject`` at once, ``clear`` after ``TIMED[name]`` seconds (timed faults), notes for the table."""

    def __init__(self, name: str, setup: Setup, sample: ReplaySample) -> None:
        self.name, self.setup, self.sample = name, setup, sample
        self.notes: dict[str, Any] = {}
        self.node: topologies.Node | None = None
        self.seconds = TIMED.get(name, 0.0)

    def inject(self) -> None:
        setup, name = self.setup, self.name
        if name in ("kill-master", "freeze"):
            self.node = _master_for(setup, self.sample)
            if self.node is not None:
                replica = _replica_of(setup, self.node)
                self.notes["marker on the master / its replica before"] = (
                    f"{_marker_held(self.node, self.sample.marker)} / {_marker_held(replica, self.sample.marker)}"
                )
        if name == "kill-master":
            if self.node is None:
                assert setup.federation.redis_process is not None
                setup.federation.redis_process.kill()
                setup.federation.redis_process.wait(timeout=5)
                time.sleep(SINGLE_RESTART_SECONDS)
                setup.federation.start_redis()
                self.notes["redis-server started again, empty, after s"] = SINGLE_RESTART_SECONDS
            else:
                self.node.kill()
        elif name == "freeze":
            self._signal(signal.SIGSTOP)
        elif name == "kill-worker":
            worker = _busiest_worker(setup)
            self.notes["killed worker"] = worker.pid
            os.kill(worker.pid, signal.SIGKILL)
        elif name == "matching-down":
            setup.relays.ask("refuse", "matching")
        elif name.startswith("skew"):
            setup.point_idp(setup.idp_ports[name.removeprefix("skew-")])

    def clear(self) -> None:
        if self.name == "freeze":
            self._signal(signal.SIGCONT)
        elif self.name == "matching-down":
            self.setup.relays.ask("reopen", "matching")
        elif self.name.startswith("skew"):
            self.setup.point_idp(self.setup.idp_ports["normal"])

    def _signal(self, which: signal.Signals) -> None:
        process = self.setup.federation.redis_process if self.node is None else self.node.process
        assert process is not None
        os.kill(process.pid, which)

    def settle(self, started: float) -> None:
        """After the fault: how the store or the hub put itself right (the fail-over's time, the new worker)."""
        setup, topology = self.setup, self.setup.topology
        if self.name == "kill-worker":
            killed = self.notes["killed worker"]
            with suppress(topologies.TopologyError):
                topologies.wait_until(
                    "a new hub worker",
                    lambda: len([w for w in _hub_workers(setup) if w.pid != killed]) == setup.federation.hub_workers,
                    30,
                )
                self.notes["new worker after s"] = round(time.monotonic() - started, 2)
        elif self.name in ("kill-master", "freeze") and self.node is not None:
            with suppress(topologies.TopologyError, redis.RedisError):
                if isinstance(topology, topologies.SentinelSet):
                    topology.wait_for_master_other_than(self.node, 3 if self.name == "freeze" else 20)
                elif isinstance(topology, topologies.Cluster):
                    topologies.wait_until(
                        "a replica to take over",
                        lambda: len(masters := topology.masters()) == 3
                        and self.node not in masters
                        and topology.is_ok(),
                        3 if self.name == "freeze" else 20,
                    )
                self.notes["new master after s"] = round(time.monotonic() - started, 2)
            if "new master after s" not in self.notes:
                self.notes["new master after s"] = "none (the master stayed)"
            elif self.name == "freeze":
                self._until_the_old_master_steps_down(started)

    def _until_the_old_master_steps_down(self, started: float) -> None:
        """How long the frozen master, back, went on saying it was master once another had been promoted: what
        was written to it meanwhile is dropped when it becomes a replica."""
        node = self.node
        assert node is not None
        with suppress(topologies.TopologyError):
            topologies.wait_until(
                "the old master to become a replica",
                lambda: node.info("replication").get("role") == "slave",
                30,
            )
            self.notes["old master a replica after s"] = round(time.monotonic() - started, 2)


# ---- one fault under load ----------------------------------------------------------------------------------


class Load:
    """``concurrency`` citizens in journey after journey until stopped, or ``limit`` journeys have begun."""

    def __init__(self, urls: dict[str, str], concurrency: int, limit: int) -> None:
        self.urls, self.limit = urls, limit
        self.outcomes: list[Outcome] = []
        self.begun = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._citizen, daemon=True) for _ in range(concurrency)]
        for thread in self._threads:
            thread.start()

    def _citizen(self) -> None:
        while not self.stopping.is_set():
            with self._lock:
                if self.begun >= self.limit:
                    return
                self.begun += 1
            outcome = journey(self.urls)
            with self._lock:
                self.outcomes.append(outcome)
            if outcome.kind != "completed":
                self.stopping.wait(PAUSE_AFTER_FAILURE)

    def completed(self) -> int:
        with self._lock:
            return sum(outcome.kind == "completed" for outcome in self.outcomes)

    def recovered_at(self, since: float) -> float | None:
        with self._lock:
            ends = [o.ended for o in self.outcomes if o.kind == "completed" and o.started >= since]
        return min(ends) if ends else None

    def stop(self) -> list[Outcome]:
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout=JOURNEY_SECONDS + 5)
        with self._lock:
            return list(self.outcomes)


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def run_fault(name: str, setup: Setup, concurrency: int, limit: int) -> dict[str, Any]:
    sys.stderr.write(f"{setup.store:<9} {name:<14} ")
    sys.stderr.flush()
    load = Load(setup.urls, concurrency, limit)
    if not _wait(lambda: load.completed() >= WARM, 90):
        raise RuntimeError(f"{name}: fewer than {WARM} journeys completed in 90 s before the fault")
    sample = ReplaySample.first_after(setup.urls, 30)
    if isinstance(sample, str):
        raise RuntimeError(f"{name}: no replay sample before the fault: {sample}")
    offsets = setup.log_offsets()
    fault = Fault(name, setup, sample)
    started = time.monotonic()
    fault.inject()
    if fault.seconds:
        time.sleep(max(0.0, started + fault.seconds - time.monotonic()))
        fault.clear()
    cleared = time.monotonic()
    after: list[ReplaySample | str] = []
    sampling = threading.Thread(target=lambda: after.append(ReplaySample.first_after(setup.urls, 30)), daemon=True)
    sampling.start()
    fault.settle(started)
    since = cleared if name in TIMED else started
    _wait(
        lambda: (done := load.recovered_at(since)) is not None and time.monotonic() > done + AFTER_RECOVERY_SECONDS,
        PHASE_SECONDS,
    )
    outcomes = load.stop()
    recovered = load.recovered_at(since)
    sampling.join(timeout=JOURNEY_SECONDS)
    replay = sample.replay()
    second = after[0] if after else "n.a. (still trying)"
    replay_after = second if isinstance(second, str) else second.replay()
    if not isinstance(second, str):
        fault.notes["second sample posted after s"] = round(second.posted - since, 2)
    fault.notes["errors logged"] = setup.errors_since(offsets)
    counts = Counter(o.kind for o in outcomes)
    failed_after = [o for o in outcomes if o.kind != "completed" and o.ended >= started]
    result = {
        "fault": name,
        "journeys": len(outcomes),
        "completed": counts["completed"],
        "clear_page": counts["clear page"],
        "unclear_page": counts["unclear page"],
        "harness_errors": counts["harness error"],
        "no_answer": counts["no answer"],
        "service_statuses": dict(Counter(o.service_status or "none" for o in outcomes if o.kind == "clear page")),
        "pages": dict(Counter(o.where for o in outcomes if o.kind != "completed")),
        "idp_clock_seconds": {str(k): v for k, v in sorted(Counter(o.idp_clock for o in outcomes).items(), key=str)},
        "fault_seconds": round(cleared - started, 2),
        "recovery_measured_from": "end" if name in TIMED else "start",
        "recovery_seconds": None if recovered is None else round(recovered - since, 2),
        "journeys_failed": len(failed_after),
        "last_failure_after_s": round(max(o.ended for o in failed_after) - since, 2) if failed_after else None,
        "replay_refused": replay,
        "replay_refused_sample_after": replay_after,
        "notes": fault.notes,
        "failure_windows": failure_windows(outcomes, started),
        "no_answer_windows": failure_windows([o for o in outcomes if o.kind == "no answer"], started),
    }
    sys.stderr.write(
        f"{result['journeys']} journeys, {result['completed']} completed, {result['clear_page']} clear page, "
        f"{result['no_answer']} no answer, recovered {result['recovery_seconds']} s, replay refused: {replay} / "
        f"{replay_after}\n"
    )
    return result


def failure_windows(outcomes: list[Outcome], since: float) -> dict[str, list[float]]:
    """For each page journeys ended on instead of completing: when the first and the last of them ended, in
    seconds from ``since`` (the fault's start)."""
    windows: dict[str, list[float]] = {}
    for outcome in sorted(outcomes, key=lambda o: o.ended):
        if outcome.kind != "completed":
            ended = round(outcome.ended - since, 2)
            windows.setdefault(outcome.where, [ended, ended])[1] = ended
    return windows


def _wait_until_whole(setup: Setup) -> None:
    """Until the store has its master and an up-to-date replica again (every master a replica, for a cluster)."""
    topology = setup.topology

    def whole() -> bool:
        if isinstance(topology, topologies.SentinelSet):
            master = topology.current_master()
            replica = next(node for node in topology.data if node is not master)
            return topology.is_watched() and topology.replica_in_sync(replica)
        if isinstance(topology, topologies.Cluster):
            replicas = [node for node in topology.running() if node not in topology.masters()]
            in_sync = all(node.info("replication").get("master_link_status") == "up" for node in replicas)
            return topology.is_ok() and len(replicas) == 3 and in_sync
        return True

    topologies.wait_until("the store to be whole again", whole, 30)


def run_store(store: str, faults: list[str], args: argparse.Namespace, relays: Relays) -> dict[str, Any]:
    started = time.monotonic()
    results: dict[str, Any] = {}
    shutil.rmtree(args.work / store, ignore_errors=True)
    chosen = tuple(fault for fault in FAULTS if fault in faults)
    with running(store, chosen, relays, args.work / store, args.hub_workers, args.nginx) as setup:
        for fault in chosen:
            _wait_until_whole(setup)
            results[fault] = run_fault(fault, setup, args.concurrency, args.journeys)
    return {"seconds": round(time.monotonic() - started, 1), "faults": results}


# ---- the report --------------------------------------------------------------------------------------------


def recovery(result: dict[str, Any]) -> str:
    if not result["journeys_failed"]:
        return f"nothing failed ({result['recovery_seconds']} s)"
    if result["recovery_seconds"] is None:
        return "not within the run"
    last = result["last_failure_after_s"]
    tail = f"; last failure {last} s" if last is not None and last > result["recovery_seconds"] else ""
    return f"{result['recovery_seconds']} s from its {result['recovery_measured_from']}{tail}"


def table(store: str, report: dict[str, Any]) -> str:
    lines = [
        f"### {store} ({report['seconds']} s)",
        "",
        "| fault | journeys | completed | clear page (the service's status) | no answer | time to recover | "
        "replay refused: sample before / just after |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in report["faults"].items():
        statuses = ", ".join(f"{count} {status}" for status, count in sorted(r["service_statuses"].items()))
        clear = f"{r['clear_page']} ({statuses})" if r["clear_page"] else "0"
        if r["unclear_page"]:
            clear += f"; {r['unclear_page']} unclear"
        if r["harness_errors"]:
            clear += f"; {r['harness_errors']} the client could not read"
        lines.append(
            f"| {name} | {r['journeys']} | {r['completed']} | {clear} | {r['no_answer']} | {recovery(r)} | "
            f"{r['replay_refused']} / {r['replay_refused_sample_after']} |"
        )
    lines.append("")
    for name, r in report["faults"].items():
        pages = "; ".join(f"{count}× {page}" for page, count in sorted(r["pages"].items(), key=lambda i: -i[1]))
        notes = "; ".join(f"{key}: {value}" for key, value in r["notes"].items())
        if set(r["idp_clock_seconds"]) - {"0", "None"}:
            notes += f"; the IDP's clock, in seconds from ours: {r['idp_clock_seconds']}"
        lines.append(f"- {name}: {pages or 'every journey completed'}{f' ({notes})' if notes else ''}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", default="single", help="single, sentinel, cluster, a comma-separated list or all")
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated (default all: {','.join(FAULTS)})")
    parser.add_argument("--journeys", type=int, default=400, help="the most journeys begun for each fault (400)")
    parser.add_argument("--concurrency", type=int, default=16, help="citizens in journeys at once (default 16)")
    parser.add_argument("--hub-workers", type=int, default=4, help="hub gunicorn workers (default 4)")
    parser.add_argument("--json", type=Path, default=Path("bench/results-chaos.json"), help="where to write figures")
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "ida-hub-chaos", help="scratch folder"
    )
    parser.add_argument(
        "--no-nginx", dest="nginx", action="store_false", help="no nginx in front of the apps (default: as deployed)"
    )
    args = parser.parse_args(argv)
    if args.nginx and reverse_proxy.find_nginx() is None:
        parser.error("nginx is not installed (apt-get install nginx), or run with --no-nginx")
    stores = list(STORES) if args.store == "all" else args.store.split(",")
    faults = args.faults.split(",")
    unknown = sorted({*stores} - {*STORES}) + sorted({*faults} - {*FAULTS})
    if unknown:
        parser.error(f"unknown store or fault: {', '.join(unknown)}")
    if {"sentinel", "cluster"} & {*stores} and (reason := topologies.cannot_run_reason()) is not None:
        parser.error(reason)
    relays = Relays()  # forked before any thread starts
    reports: dict[str, Any] = {}
    try:
        for store in stores:
            reports[store] = run_store(store, faults, args, relays)
    finally:
        relays.close()
    document = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_the_end": [round(value, 2) for value in os.getloadavg()],
        },
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "settings": {k: _setting(v) for k, v in vars(args).items()},
        "stores": reports,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    for store, report in reports.items():
        print(f"\n{table(store, report)}")
    print(f"\nFigures written to {args.json}")
    faults_run = [r for report in reports.values() for r in report["faults"].values()]
    unanswered = [page for r in faults_run for page in _unanswered(r)]
    replayed = [r for r in faults_run if "no" in (r["replay_refused"][:2], r["replay_refused_sample_after"][:2])]
    if unanswered or replayed:
        print(f"Not as it should be: {', '.join(unanswered)}{'; a replay was accepted' if replayed else ''}")
    return 1 if unanswered or replayed else 0


def _setting(value: object) -> object:
    """A setting as the figures file records it: no folder of this machine (the scratch folder, say) in it."""
    if not isinstance(value, Path):
        return value
    if value.is_absolute() and value.is_relative_to(tempfile.gettempdir()):
        return "(a scratch folder under the temporary directory)"
    return str(value)


def _unanswered(result: dict[str, Any]) -> list[str]:
    """The journeys with no answer that count against the run: all of them, but for a response the killed worker
    was in the middle of sending (its headers had gone out, through nginx), cut within 2 s of the kill: nothing
    can finish that one."""
    found = []
    for page, (first, last) in result["no_answer_windows"].items():
        cut = result["fault"] == "kill-worker" and page.startswith("ChunkedEncodingError") and 0 <= first <= last < 2
        if not cut:
            found.append(f"{result['fault']}: {page}")
    return found


if __name__ == "__main__":
    sys.exit(main())
