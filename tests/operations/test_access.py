"""The dashboard and /metrics live on the internal operations app only, optionally behind a shared token."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import requests
from flask import Flask

from hub import operations
from hub.operations import alongside
from tests.support import bind, free_port, serve, stop, url_of


@pytest.fixture()
def guarded(app_config: dict[str, object]) -> Flask:
    return operations.create_app({**app_config, "operations_token": "correct horse battery staple"})


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_public_hub_does_not_answer_metrics_or_the_dashboard(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/metrics").status_code == 404
    for path in ("/", "/?period=week"):  # the hub's home page, never the dashboard
        home = client.get(path)
        assert home.status_code == 200 and "Hub performance" not in home.get_data(as_text=True)
    assert not [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("operations.")]


def test_operations_app_serves_dashboard_metrics_and_status(app_config: dict[str, object]) -> None:
    client = operations.create_app(app_config).test_client()
    assert client.get("/").status_code == 200
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "ida_request_seconds" in metrics.get_data(as_text=True)
    assert client.get("/_status").get_json()["status"] == "ok"


def test_with_a_token_set_every_page_asks_for_it(guarded: Flask) -> None:
    client = guarded.test_client()
    for path in ("/", "/metrics", "/?period=hour"):
        refused = client.get(path)
        assert refused.status_code == 401, path
        assert refused.headers["WWW-Authenticate"].startswith('Basic realm="Hub operations"')
    assert "Sign in to see this page" in client.get("/").get_data(as_text=True)
    wrong = {"Authorization": "Bearer correct horse battery stapler"}
    assert client.get("/", headers=wrong).status_code == 401
    assert client.get("/", headers={"Authorization": _basic("ops", "wrong")}).status_code == 401
    assert client.get("/", headers={"Authorization": "Basic not-base64!"}).status_code == 401


def test_the_token_works_as_a_bearer_token_or_a_basic_password(guarded: Flask) -> None:
    client = guarded.test_client()
    bearer = {"Authorization": "Bearer correct horse battery staple"}
    assert client.get("/metrics", headers=bearer).status_code == 200
    assert (
        client.get("/", headers={"Authorization": _basic("anyone", "correct horse battery staple")}).status_code == 200
    )


def test_status_and_assets_stay_open_for_load_balancers_and_the_sign_in_page(guarded: Flask) -> None:
    client = guarded.test_client()
    assert client.get("/_status").status_code == 200
    for asset in ("/assets/govuk-frontend.min.css", "/static/operations.css"):
        with client.get(asset) as response:
            assert response.status_code == 200, asset


def test_one_process_serves_the_hub_publicly_and_the_dashboard_on_the_internal_port_only(keys_dir: Path) -> None:
    """``make run`` without Redis: the hub's process answers on both ports, by the port a request arrived on."""
    servers = [bind(), bind()]  # the public port and the internal one, held before the app is built
    public, internal = url_of(servers[0]), url_of(servers[1])
    internal_port = servers[1].server_port
    both = alongside.create_app(internal_port, {"keys_dir": keys_dir, "urls": {"hub": public}, "testing": True})
    for server in servers:
        serve(both, server)
    try:
        dashboard = requests.get(internal + "/", timeout=10)
        assert dashboard.status_code == 200 and "Hub performance" in dashboard.text
        assert requests.get(internal + "/metrics", timeout=10).status_code == 200
        home = requests.get(public + "/", timeout=10)
        assert home.status_code == 200 and "Hub performance" not in home.text  # the hub's home page
        assert requests.get(public + "/metrics", timeout=10).status_code == 404
        # The Host header cannot pick the internal app: the listening socket decides.
        spoofed = requests.get(public + "/metrics", headers={"Host": f"127.0.0.1:{internal_port}"}, timeout=10)
        assert spoofed.status_code == 404
        assert requests.get(public + "/SAML2/metadata", timeout=10).status_code == 200
    finally:
        stop(servers)


def test_the_hub_and_operations_app_in_one_process_share_the_store(keys_dir: Path) -> None:
    both = alongside.create_app(free_port(), {"keys_dir": keys_dir, "testing": True})
    assert both.public.extensions["runtime"].store is both.internal.extensions["runtime"].store  # type: ignore[attr-defined]
