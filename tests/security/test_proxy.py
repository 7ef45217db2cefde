"""nginx in front of the hub (deploy/nginx) keeps slow clients out of gunicorn's threads, and over-long
requests get our own page, with our security headers, from nginx and from gunicorn alike.

The hub runs under gunicorn exactly as ``make run`` runs it (one worker of 8 threads), nginx as
docker-compose.yml runs it. Bounds are generous: these show what blocks and what does not, not how fast.
"""

from __future__ import annotations

import http.client
import re
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import requests
import yaml
from bs4 import BeautifulSoup

from bench.slow_clients import SlowClients
from federation.config import DEFAULT_FEDERATION_FILE
from federation.gunicorn_worker import PAGES
from launcher import localrun, reverse_proxy
from tests.factories import redirect_query, service_authn_request
from tests.security.behind_proxy import ROOT, ProxiedHub, proxied_hub, wait_for_line
from tests.support import check_page

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# nginx's limit on requests in progress from one address, as the template sets it.
PER_ADDRESS = int(re.findall(r"limit_conn per_client (\d+);", reverse_proxy.TEMPLATE.read_text())[0])


@pytest.fixture(scope="module")
def hub(keys_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxiedHub]:
    with proxied_hub(keys_dir, tmp_path_factory.mktemp("proxy")) as served:
        yield served


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def start_journey(hub: ProxiedHub, base: str, timeout: float) -> requests.Response:
    """A relying service's AuthnRequest over the Redirect binding, then the hub's start page it leads to."""
    with requests.Session() as citizen:
        query = redirect_query(hub.federation, service_authn_request(hub.federation), relay_state="state-1")
        sent = citizen.get(f"{base}/SAML2/SSO?{query}", timeout=timeout, allow_redirects=False)
        assert sent.status_code == 303, sent.status_code
        return citizen.get(f"{base}{sent.headers['Location']}", timeout=timeout)


def check_started(page: requests.Response) -> None:
    assert page.status_code == 200
    assert BeautifulSoup(page.text, "html.parser").select_one("h1").get_text(strip=True) == (  # type: ignore[union-attr]
        "Prove your identity to continue"
    )


def check_our_page(response: requests.Response, status: int, h1: str) -> None:
    """An error page of ours, not the app's: one h1 in plain words, a title, and the apps' security headers."""
    soup = check_page(response, status)
    assert [heading.get_text(strip=True) for heading in soup.select("h1")] == [h1]
    assert soup.title is not None and soup.title.get_text(strip=True) == f"{h1} – GOV.UK"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name


def test_a_journey_starts_through_the_proxy_while_100_slow_clients_post_to_the_hub(hub: ProxiedHub) -> None:
    # From 10 addresses, so that it is nginx's buffering that keeps them from the hub, not its per-address limit.
    with SlowClients(*_address(hub.public), count=100, addresses=10, interval=1, seconds=20) as slow:
        check_started(start_journey(hub, hub.public, timeout=5))
        assert slow.open() == 100 and slow.answered == 0  # all still sending, to nginx


def test_the_same_slow_clients_straight_to_gunicorn_hold_every_thread(hub: ProxiedHub) -> None:
    """The control: without nginx the same request waits until the slow clients give up."""
    check_started(start_journey(hub, hub.direct, timeout=5))
    with SlowClients(*_address(hub.direct), count=100, addresses=10, interval=1, seconds=20) as slow:
        with pytest.raises(requests.ReadTimeout):
            start_journey(hub, hub.direct, timeout=3)
        assert slow.open() == 100
    check_started(start_journey(hub, hub.direct, timeout=10))  # and the hub is itself again once they are gone


def test_one_address_gets_only_so_many_requests_in_progress_at_once(hub: ProxiedHub) -> None:
    host, port = _address(hub.public)
    with SlowClients(host, port, count=PER_ADDRESS, addresses=1, interval=1, seconds=20) as slow:
        time.sleep(0.5)  # nginx has read each one's headers: each is a request in progress
        with closing(http.client.HTTPConnection(host, port, timeout=5, source_address=("127.0.0.10", 0))) as same:
            same.request("GET", "/_status")
            refused = same.getresponse()
            assert refused.status == 429
            assert refused.getheader("X-Frame-Options") == "DENY"
            h1 = BeautifulSoup(refused.read(), "html.parser").select_one("h1")
        assert h1 is not None and h1.get_text(strip=True) == "Sorry, there are too many requests from your connection"
        check_started(start_journey(hub, hub.public, timeout=5))  # from 127.0.0.1: not held up
        assert slow.open() == PER_ADDRESS


@pytest.mark.parametrize("through", ["nginx", "gunicorn"])
def test_a_5_kb_redirect_url_reaches_the_hub(hub: ProxiedHub, through: str) -> None:
    base = hub.public if through == "nginx" else hub.direct
    refused = '"GET /SAML2/SSO" 400'
    before = wait_for_line(hub.access_log, "", 0).count(refused)
    response = requests.get(f"{base}/SAML2/SSO?SAMLRequest={'A' * 5000}&RelayState=5kb", timeout=5)
    # The hub's own refusal of a message it cannot decode: its GOV.UK page, with its header.
    assert response.status_code == 400
    assert BeautifulSoup(response.text, "html.parser").select_one(".govuk-header") is not None
    assert wait_for_line(hub.access_log, refused, count=before + 1).count(refused) == before + 1


@pytest.mark.parametrize("through", ["nginx", "gunicorn"])
def test_a_10_kb_redirect_url_gets_our_414_page(hub: ProxiedHub, through: str) -> None:
    base = hub.public if through == "nginx" else hub.direct
    response = requests.get(f"{base}/SAML2/SSO?SAMLRequest={'A' * 10_000}", timeout=5)
    check_our_page(response, 414, "The web address is too long")
    assert response.headers["Connection"] == "close"


@pytest.mark.parametrize(("through", "status"), [("nginx", 400), ("gunicorn", 431)])
def test_a_10_kb_header_gets_our_page(hub: ProxiedHub, through: str, status: int) -> None:
    base = hub.public if through == "nginx" else hub.direct
    response = requests.get(f"{base}/_status", headers={"Cookie": "c=" + "x" * 10_000}, timeout=5)
    check_our_page(response, status, "There is a problem with the request")


def test_an_8_kb_request_line_fits_both(hub: ProxiedHub) -> None:
    """The Redirect binding's 8 KB: as much as nginx's buffer and gunicorn's limit hold, and no more."""
    path = "/SAML2/SSO?SAMLRequest="
    line_without_query = len("GET  HTTP/1.1") + len(path)
    query = "A" * (localrun.LIMIT_REQUEST_LINE - line_without_query)
    for base in (hub.public, hub.direct):
        assert requests.get(f"{base}{path}{query}", timeout=5).status_code == 400  # the hub's own refusal
        assert requests.get(f"{base}{path}{query}AA", timeout=5).status_code == 414


@pytest.mark.parametrize("status", [400, 414])
def test_nginx_and_gunicorn_pages_say_the_same(status: int) -> None:
    page = BeautifulSoup((reverse_proxy.ERROR_PAGES / f"{status}.html").read_text(), "html.parser")
    _, h1, description = PAGES[status]
    assert page.select_one("h1").get_text(strip=True) == h1  # type: ignore[union-attr]
    assert page.select_one("main p").get_text(" ", strip=True) == description  # type: ignore[union-attr]


def test_every_nginx_page_is_a_plain_page_with_one_heading() -> None:
    pages = sorted(reverse_proxy.ERROR_PAGES.glob("*.html"))
    assert [page.name for page in pages] == ["400.html", "413.html", "414.html", "429.html", "5xx.html"]
    for page in pages:
        soup = BeautifulSoup(page.read_text(), "html.parser")
        assert len(soup.select("h1")) == 1 and soup.title is not None, page.name
        assert not soup.select("script"), page.name


def test_the_template_refuses_to_render_with_a_value_missing() -> None:
    with pytest.raises(reverse_proxy.ProxyError, match="IDA_HUB_UPSTREAM"):
        reverse_proxy.render(
            {"IDA_HUB_LISTEN": "127.0.0.1:8500"}, "listen ${IDA_HUB_LISTEN}; ${IDA_HUB_UPSTREAM} $host"
        )
    assert reverse_proxy.render({"IDA_A": "x"}, "${IDA_A} $host ${host}") == "x $host ${host}"


def test_make_run_puts_nginx_in_front_where_it_can(monkeypatch: pytest.MonkeyPatch) -> None:
    assert localrun.use_proxy(None) and localrun.use_proxy("1") and not localrun.use_proxy("0")
    monkeypatch.setattr(reverse_proxy, "find_nginx", lambda: None)
    assert not localrun.use_proxy(None) and not localrun.use_proxy("0")
    with pytest.raises(reverse_proxy.ProxyError, match="apt-get install nginx"):
        localrun.use_proxy("1")


def test_docker_compose_runs_the_apps_as_make_run_does_behind_the_same_proxy() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    ours = localrun.gunicorn_command("app:create_app()", "127.0.0.1:1", 1)
    for name in ("hub", "stub_idp", "stub_idp_pysaml2", "stub_service", "operations"):
        command = services[name]["command"]
        for option in ("--worker-class", "--limit-request-line", "--access-logformat", "--keep-alive", "--timeout"):
            assert command[command.index(option) + 1] == ours[ours.index(option) + 1], (name, option)
    proxy = services["proxy"]
    reverse_proxy.render(proxy["environment"])  # a value for every placeholder
    assert (
        f"./{reverse_proxy.TEMPLATE.relative_to(ROOT)}:/etc/nginx/templates/nginx.conf.template:ro" in proxy["volumes"]
    )
    urls = yaml.safe_load(DEFAULT_FEDERATION_FILE.read_text(encoding="utf-8"))["urls"]
    for name in reverse_proxy.PROXIED:
        listen, upstream = (proxy["environment"][f"IDA_{name.upper()}_{end}"] for end in ("LISTEN", "UPSTREAM"))
        assert listen == localrun.host_port(urls[name]) and upstream == localrun.behind_proxy(urls[name])
        assert services[name]["command"][services[name]["command"].index("--bind") + 1] == upstream
    assert "127.0.0.1:8501" in services["operations"]["command"]
    assert not any(value.endswith(":8501") for value in proxy["environment"].values())  # never proxied
