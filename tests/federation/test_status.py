"""Every app answers /_status: on its public port only whether it is alive; on the hub's operations port also
the store, how many days each certificate has left, and the metadata's validity."""

from __future__ import annotations

import pytest
from flask import Flask

import hub
import stub_idp
import stub_service
from hub import operations
from tests.support import RedisServer


@pytest.mark.parametrize("factory", [hub.create_app, stub_idp.create_app, stub_service.create_app])
def test_public_status_says_only_whether_the_app_is_alive(app_config: dict[str, object], factory: object) -> None:
    app: Flask = factory(app_config)  # type: ignore[operator]
    response = app.test_client().get("/_status")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_operations_status_reports_store_and_certificate_expiry(app_config: dict[str, object]) -> None:
    response = operations.create_app(app_config).test_client().get("/_status")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["store_ok"] is True and body["store"] == "in-process"
    assert 360 <= body["soonest_certificate_expiry_days"] <= 366
    assert "hub-signing.crt" in body["certificate_days_to_expiry"]
    assert body["metadata"]["valid"] is True and body["metadata"]["valid_for_days"] == 7
    assert 360 <= body["metadata"]["signing_certificate_days_to_expiry"] <= 366


def test_status_is_503_when_redis_is_down(app_config: dict[str, object], redis_server: RedisServer) -> None:
    public = hub.create_app({**app_config, "redis_url": redis_server.url}).test_client()
    internal = operations.create_app({**app_config, "redis_url": redis_server.url}).test_client()
    assert public.get("/_status").status_code == 200
    redis_server.stop()
    try:
        assert (public.get("/_status").status_code, public.get("/_status").get_json()) == (
            503,
            {"status": "unavailable"},
        )
        response = internal.get("/_status")
        assert response.status_code == 503 and response.get_json()["store_ok"] is False
    finally:
        redis_server.start()
