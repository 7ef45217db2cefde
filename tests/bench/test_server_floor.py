"""``python -m bench.server_floor`` measures gunicorn, as the hub runs it, serving the page it is given."""

from __future__ import annotations

import math

import pytest

from bench.server_floor import APPS, PAGE, bare_wsgi, create_flask_app, main, measure


def test_both_apps_serve_the_same_page() -> None:
    seen: list[str] = []
    assert b"".join(bare_wsgi({}, lambda status, headers: seen.append(status))) == PAGE
    response = create_flask_app().test_client().get("/")
    assert seen == ["200 OK"] and response.status_code == 200 and response.data == PAGE


def test_gunicorn_cpu_per_request_is_measured_from_its_processes() -> None:
    per_request = measure(APPS["bare WSGI function"], requests_total=120, clients=4, workers=1)
    # Some CPU must have been spent (the processes' accounting ticks in 10 ms steps over 120 requests), and far
    # less than a second a request.
    assert math.isfinite(per_request) and 0 < per_request < 1_000_000


def test_the_command_prints_a_row_per_app(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--requests", "80", "--clients", "2", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert all(f"| {name} |" in out for name in APPS)
