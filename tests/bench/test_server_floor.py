"""``python -m bench.server_floor`` measures gunicorn, as the hub runs it, serving the page it is given."""

from __future__ import annotations

import socket

import pytest

from bench.server_floor import APPS, PAGE, _drive, bare_wsgi, create_flask_app, main, measure

pytestmark = pytest.mark.live  # its tests start the federation (or gunicorn) themselves

BURN = "bench.server_floor:burn_2ms_wsgi"


def test_both_apps_serve_the_same_page() -> None:
    seen: list[str] = []
    assert b"".join(bare_wsgi({}, lambda status, headers: seen.append(status))) == PAGE
    response = create_flask_app().test_client().get("/")
    assert seen == ["200 OK"] and response.status_code == 200 and response.data == PAGE


def test_the_cpu_an_app_spends_shows_in_the_figure_once() -> None:
    # 2 ms of CPU a request more must read as about 2,000 µs more: not missed (the master alone), not counted
    # twice, and not mixed with the clients' own CPU. 300 requests put the clock ticks' error near 5%.
    bare = measure(APPS["bare WSGI function"], requests_total=300, clients=4, workers=1)
    burning = measure(BURN, requests_total=300, clients=4, workers=1)
    assert 0 < bare < 2000
    assert 1600 < burning - bare < 2600


def test_a_client_that_fails_fails_the_run_rather_than_lowering_the_figure() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, never listening: every connection is refused
        with pytest.raises(RuntimeError, match="a client failed: ConnectionError"):
            _drive(f"http://127.0.0.1:{port}/", 3, 2)


def test_the_command_prints_a_row_per_app(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--requests", "80", "--clients", "2", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert all(f"| {name} |" in out for name in APPS)
