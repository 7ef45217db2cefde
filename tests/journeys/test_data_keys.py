"""Rotating the hub's data key under live journeys: a journey sealed with the old key goes on at a hub that also
holds a new one, and at a hub that holds only the new one it is a lost journey ("You need to start again"),
never an error page."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient

import hub
from keys.pki import DATA_KEYS_DIR, new_data_key, read_data_keys
from tests.journeys.drive import Journey
from tests.support import TEST_SETTINGS, LiveFederation, RedisServer, start_federation


@pytest.fixture()
def rotated_keys(keys_dir: Path, tmp_path: Path) -> Path:
    """A copy of the test keys, to add data keys to and take them away."""
    directory = tmp_path / "keys"
    shutil.copytree(keys_dir, directory)
    return directory


@pytest.fixture()
def live(rotated_keys: Path, redis_server: RedisServer) -> Iterator[LiveFederation]:
    redis_server.client.flushall()
    federation, servers = start_federation(rotated_keys, redis_server.url)
    yield federation
    for server in servers:
        server.shutdown()


def _another_hub(live: LiveFederation, keys_dir: Path, redis_server: RedisServer) -> Flask:
    """A second hub process on the same Redis, started with the data keys in ``keys_dir``."""
    config = {"keys_dir": keys_dir, "urls": live.urls, "redis_url": redis_server.url, "testing": True}
    return hub.create_app({**config, **TEST_SETTINGS})


def _at_question(live: LiveFederation) -> str:
    """Erin's journey at the cycle 3 question, its dataset sealed in Redis; her journey cookie."""
    journey = Journey(live)
    assert journey.sign_in("erin").h1 == "What is your National Insurance number?"
    cookie = journey.citizen.http.cookies.get("hub_journey")
    assert cookie
    return cookie


def _client(app: Flask, cookie: str) -> FlaskClient:
    client = app.test_client()
    client.set_cookie("hub_journey", cookie)
    return client


def _h1(html: str) -> str:
    heading = BeautifulSoup(html, "html.parser").select_one("h1")
    assert heading is not None
    return heading.get_text(" ", strip=True)


def test_a_journey_sealed_with_the_old_key_goes_on_at_a_hub_that_also_holds_a_new_one(
    live: LiveFederation, rotated_keys: Path, redis_server: RedisServer
) -> None:
    old = read_data_keys(rotated_keys)[1]
    cookie = _at_question(live)
    new = new_data_key(rotated_keys, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    rolled = _client(_another_hub(live, rotated_keys, redis_server), cookie)
    question = rolled.get("/further-information")
    assert question.status_code == 200 and _h1(question.get_data(as_text=True)) == (
        "What is your National Insurance number?"
    )
    token = BeautifulSoup(question.get_data(as_text=True), "html.parser").select_one("input[name=csrf_token]")
    assert token is not None
    answered = rolled.post("/further-information", data={"csrf_token": str(token["value"]), "cycle3": "SE 12 34 56 C"})
    assert answered.status_code == 303
    sealed = [str(redis_server.client.get(key)) for key in redis_server.client.scan_iter("hub:journey:*")]
    assert sealed and all(f'"sealed":"{new}.' in value and f'"{old}.' not in value for value in sealed)
    final = rolled.get("/response-processing")
    for _ in range(50):
        if BeautifulSoup(final.get_data(as_text=True), "html.parser").select_one('meta[http-equiv="refresh"]') is None:
            break
        final = rolled.get("/response-processing")
    assert BeautifulSoup(final.get_data(as_text=True), "html.parser").select_one("#saml-form") is not None


def test_a_journey_sealed_with_a_key_that_is_gone_must_start_again(
    live: LiveFederation, rotated_keys: Path, redis_server: RedisServer
) -> None:
    old = read_data_keys(rotated_keys)[1]
    cookie = _at_question(live)
    new_data_key(rotated_keys, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    (rotated_keys / DATA_KEYS_DIR / f"{old}.key").unlink()  # retired too soon
    retired = _client(_another_hub(live, rotated_keys, redis_server), cookie)
    for path in ("/further-information", "/response-processing", "/start"):
        page = retired.get(path)
        assert page.status_code == 400, (path, page.status_code)
        assert _h1(page.get_data(as_text=True)) == "You need to start again"
