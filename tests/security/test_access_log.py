"""The access logs keep a request's path and ID, never the query string the Redirect binding carries.

A relying service sends its AuthnRequest in the query string (SAMLRequest, RelayState, SigAlg, Signature).
The hub runs under gunicorn with exactly ``gunicorn_command``'s options and nginx in front from deploy/nginx;
a request whose query holds values we can look for goes in, and the logs are read.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote_plus

import pytest
import requests
from bs4 import BeautifulSoup

from federation.gunicorn_worker import PAGES
from tests.factories import redirect_query, service_authn_request
from tests.security.behind_proxy import ProxiedHub, proxied_hub, wait_for_line

RELAY_STATE = "relay-state-marker-5e1f"
NAMES = ("SAMLRequest", "RelayState", "SigAlg", "Signature")


@pytest.fixture(scope="module")
def hub(keys_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxiedHub]:
    with proxied_hub(keys_dir, tmp_path_factory.mktemp("access-log")) as served:
        yield served


def signed_request(hub: ProxiedHub, base: str) -> list[str]:
    """Send a signed AuthnRequest over the Redirect binding; what no log may hold: the parameters' names,
    and each value as sent and decoded (a 24-character piece of each long one is enough to spot it)."""
    query = redirect_query(hub.federation, service_authn_request(hub.federation), relay_state=RELAY_STATE)
    response = requests.get(f"{base}/SAML2/SSO?{query}", timeout=10, allow_redirects=False)
    assert response.status_code == 303
    values = [value for values in parse_qs(query).values() for value in values]
    pieces = [value[:24] for value in values] + [quote_plus(value)[:24] for value in values]
    return [*NAMES, RELAY_STATE, *pieces]


def check_clean(log: str, secrets: list[str]) -> None:
    found = [secret for secret in secrets if secret in log]
    assert not found, f"the log holds {found}"


def test_gunicorn_access_log_has_the_path_and_none_of_the_query(hub: ProxiedHub) -> None:
    secrets = signed_request(hub, hub.direct)
    log = wait_for_line(hub.access_log, '"GET /SAML2/SSO" 303')
    line = next(line for line in log.splitlines() if '"GET /SAML2/SSO" 303' in line)
    assert line.endswith("request_id=-")  # no nginx in front of this one: no request ID
    check_clean(log, secrets)


def test_nginx_and_gunicorn_log_the_same_request_id_and_no_query(hub: ProxiedHub) -> None:
    secrets = signed_request(hub, hub.public)
    nginx_log = wait_for_line(hub.nginx.access_log, '"GET /SAML2/SSO" 303')
    nginx_line = next(line for line in nginx_log.splitlines() if '"GET /SAML2/SSO" 303' in line)
    request_id = re.search(r"request_id=([0-9a-f]{32})", nginx_line)
    assert request_id is not None, nginx_line
    gunicorn_log = wait_for_line(hub.access_log, f"request_id={request_id.group(1)}")
    same = [line for line in gunicorn_log.splitlines() if line.endswith(f"request_id={request_id.group(1)}")]
    assert len(same) == 1 and '"GET /SAML2/SSO" 303' in same[0], gunicorn_log
    check_clean(nginx_log, secrets)
    check_clean(gunicorn_log, secrets)


def test_no_log_keeps_the_query_of_a_request_refused_for_its_length(hub: ProxiedHub) -> None:
    """nginx refuses an over-long request line itself, and its error log would quote it: it logs only crit."""
    query = f"SAMLRequest={'A' * 10_000}-marker-c0de&RelayState={RELAY_STATE}&Signature=sig-marker-77"
    for base in (hub.public, hub.direct):
        assert requests.get(f"{base}/SAML2/SSO?{query}", timeout=5).status_code == 414
    wait_for_line(hub.nginx.access_log, '" 414 ')
    for log in (hub.nginx.access_log, hub.nginx.error_log, hub.access_log, hub.output):
        check_clean(log.read_text(errors="replace"), [RELAY_STATE, "marker-c0de", "sig-marker-77", "AAAAAAAAAAAA"])


def test_nothing_the_hub_or_gunicorn_wrote_holds_the_query(hub: ProxiedHub) -> None:
    """Their other output too: gunicorn's error log and the hub's own log, at the level it runs at."""
    secrets = signed_request(hub, hub.public) + signed_request(hub, hub.direct)
    wait_for_line(hub.access_log, '"GET /SAML2/SSO" 303')
    check_clean(hub.output.read_text(errors="replace"), secrets)
    check_clean(hub.nginx.error_log.read_text(errors="replace") if hub.nginx.error_log.exists() else "", secrets)


def test_a_request_line_gunicorn_cannot_read_gets_our_page_and_is_not_quoted(hub: ProxiedHub) -> None:
    host, port = hub.direct.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"GET /SAML2/SSO?RelayState={RELAY_STATE} HTTP/1.1 and-more\r\nHost: hub\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 400 ") and "X-Frame-Options: DENY" in head.splitlines()
    assert BeautifulSoup(body, "html.parser").select_one("h1").get_text(strip=True) == PAGES[400][1]  # type: ignore[union-attr]
    wait_for_line(hub.output, "Refused a request gunicorn could not read")
    check_clean(hub.output.read_text(errors="replace") + hub.access_log.read_text(errors="replace"), [RELAY_STATE])
