"""Every app answers /_status: the store, how many days each certificate has left, and the metadata's validity."""

from __future__ import annotations

import pytest
from flask import Flask

import hub
import stub_idp
import stub_service
from tests.conftest import RedisServer


@pytest.mark.parametrize("factory", [hub.create_app, stub_idp.create_app, stub_service.create_app])
def test_status_reports_store_and_certificate_expiry(app_config: dict[str, object], factory: object) -> None:
    app: Flask = factory(app_config)  # type: ignore[operator]
    response = app.test_client().get("/_status")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["store_ok"] is True
    assert 360 <= body["soonest_certificate_expiry_days"] <= 366
    assert "hub-signing.crt" in body["certificate_days_to_expiry"]
    assert body["metadata"]["valid"] is True and body["metadata"]["valid_for_days"] == 7
    assert 360 <= body["metadata"]["signing_certificate_days_to_expiry"] <= 366


def test_status_is_503_when_redis_is_down(app_config: dict[str, object], redis_server: RedisServer) -> None:
    app = hub.create_app({**app_config, "redis_url": redis_server.url})
    client = app.test_client()
    assert client.get("/_status").status_code == 200
    redis_server.stop()
    try:
        response = client.get("/_status")
        assert response.status_code == 503 and response.get_json()["store_ok"] is False
    finally:
        redis_server.start()
