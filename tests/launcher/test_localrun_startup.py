"""``make run`` (``python -m launcher.localrun``) before it starts anything: the federation file in use, its ports,
each app's Redis, all checked first and said in plain words; then our own processes, not whatever else answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask

import hub
from federation.config import DEFAULT_FEDERATION_FILE
from federation.runtime import StoreUnreachableError
from launcher import localrun
from tests.support import free_port, serve, stop, url_of

REPO = Path(__file__).resolve().parents[2]


def _federation_file(directory: Path, edit: Callable[[dict[str, Any]], None] | None = None, **ports: int) -> Path:
    """A copy of the federation file with each app in ``ports`` at that loopback port, and ``edit`` made."""
    data = yaml.safe_load(DEFAULT_FEDERATION_FILE.read_text(encoding="utf-8"))
    data["urls"].update({name: f"http://127.0.0.1:{port}" for name, port in ports.items()})
    if edit is not None:
        edit(data)
    path = directory / "federation.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _free_ports() -> dict[str, int]:
    return {name: free_port() for name, _ in localrun.APPS}


def _make_run(federation_file: Path, keys_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m launcher.localrun`` as ``make run`` runs it, without nginx, on a free operations port."""
    environment = {
        **{name: value for name, value in os.environ.items() if not name.endswith("REDIS_URL")},
        "FEDERATION_FILE": str(federation_file),
        "KEYS_DIR": str(keys_dir),
        "OPERATIONS_PORT": str(free_port()),
        "NGINX": "0",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "launcher.localrun"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture()
def taken_port() -> Iterator[int]:
    """A loopback port someone else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_bad_federation_file_stops_make_run_with_the_field_and_the_rule_in_plain_words(
    keys_dir: Path, tmp_path: Path
) -> None:
    path = _federation_file(tmp_path, lambda d: d["identity_providers"][1].update(sso_url="not a url"))
    run = _make_run(path, keys_dir)
    assert run.returncode == 1
    said = run.stderr.strip()
    assert "Traceback" not in run.stdout + run.stderr
    assert said.startswith(f"The federation file {path} cannot be used, so nothing was started:")
    assert (
        "  - identity_providers[1].sso_url: must be an http:// or https:// URL with no spaces (it is 'not a url')"
        in said.splitlines()
    )
    assert "pattern" not in said and "^https?" not in said  # the rule in words, not its regex
    assert len(said.splitlines()) <= 5
    assert "Starting gunicorn" not in run.stdout + run.stderr


def test_ida_hub_config_check_says_the_rule_in_the_same_words(
    keys_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hub.cli import main as ida_hub

    path = _federation_file(tmp_path, lambda d: d["hub"].update(entity_id="has a space"))
    assert ida_hub(["config", "check", "--federation-file", str(path), "--keys-dir", str(keys_dir)]) == 1
    said = capsys.readouterr()
    assert "  - hub.entity_id: must be 1 to 1024 characters with no spaces (it is 'has a space')" in said.out
    assert "Traceback" not in said.out + said.err and "pattern" not in said.out


def test_the_ports_come_from_the_federation_file_in_use(
    keys_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ports = _free_ports()
    monkeypatch.setenv("FEDERATION_FILE", str(_federation_file(tmp_path, **ports)))
    monkeypatch.setenv("KEYS_DIR", str(keys_dir))
    urls = localrun.app_urls(localrun.load_checked(localrun.settings_from_environment()))
    assert urls == {
        **{name: f"http://127.0.0.1:{port}" for name, port in ports.items()},
        "operations": localrun.OPERATIONS_URL,
    }
    assert localrun.app_binds(urls, proxy=False)["hub"] == f"127.0.0.1:{ports['hub']}"


def test_a_taken_port_stops_start_up_naming_the_port_and_what_it_was_for(taken_port: int) -> None:
    urls = {"hub": f"http://127.0.0.1:{taken_port}", "operations": f"http://127.0.0.1:{free_port()}"}
    with pytest.raises(localrun.StartupError) as caught:
        localrun.check_ports(urls, proxy=False, source="/somewhere/federation.yaml")
    said = str(caught.value)
    assert said.splitlines()[0] == (
        f"Port {taken_port} on 127.0.0.1 is already in use by another program. "
        f"It is needed for the hub: its address http://127.0.0.1:{taken_port}."
    )
    assert "/somewhere/federation.yaml's urls" in said and said.endswith("Nothing was started.")


def test_a_taken_port_behind_nginx_is_named_too(taken_port: int) -> None:
    public = f"127.0.0.1:{free_port()}"
    with pytest.raises(localrun.StartupError, match=rf"Port {taken_port} .* the stub IDPs behind nginx"):
        localrun.check_ports(
            {"stub_idp": f"http://{public}"}, proxy=True, behind={"stub_idp": f"127.0.0.1:{taken_port}"}
        )


def test_make_run_stops_before_starting_anything_when_a_port_is_taken(
    keys_dir: Path, tmp_path: Path, taken_port: int
) -> None:
    path = _federation_file(tmp_path, **{**_free_ports(), "hub": taken_port})
    run = _make_run(path, keys_dir)
    assert run.returncode == 1
    assert f"Port {taken_port} on 127.0.0.1 is already in use by another program." in run.stderr
    assert "Traceback" not in run.stderr and "Starting gunicorn" not in run.stderr + run.stdout


def test_make_run_stops_naming_the_redis_url_that_did_not_answer_and_how_to_start_it(
    keys_dir: Path, tmp_path: Path
) -> None:
    redis_port = free_port()
    shared, own = f"redis://127.0.0.1:{redis_port}/0", f"redis://ida-hub:s3cret@127.0.0.1:{redis_port}/0"
    run = _make_run(_federation_file(tmp_path, **_free_ports()), keys_dir, REDIS_URL=shared, HUB_REDIS_URL=own)
    assert run.returncode == 1
    said = run.stderr
    assert f"Redis at redis://ida-hub:***@127.0.0.1:{redis_port}/0 (HUB_REDIS_URL) did not answer a PING." in said
    assert f"Redis at {shared} (REDIS_URL) did not answer a PING." in said  # the stubs' URL
    assert f"redis-server --port {redis_port} --bind 127.0.0.1" in said and "Nothing was started." in said
    assert "s3cret" not in said + run.stdout
    assert "Traceback" not in said and "Starting gunicorn" not in said + run.stdout


def test_an_app_whose_redis_does_not_answer_refuses_to_start(app_config: dict[str, object]) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(StoreUnreachableError, match=rf"Redis at {url} \(REDIS_URL\) did not answer"):
        hub.create_app({**app_config, "redis_url": url})


def test_readiness_is_our_process_answering_not_whatever_listens_on_the_port(app: Flask) -> None:
    """Someone else's hub answers on the port, but our process has exited: that is not "running"."""
    theirs = serve(app)
    ours = subprocess.Popen([sys.executable, "-c", "pass"])
    ours.wait(timeout=10)
    try:
        with pytest.raises(localrun.StartupError, match="the hub stopped while starting"):
            localrun.wait_until_serving(ours, url_of(theirs).removeprefix("http://"), "the hub", time.monotonic() + 30)
    finally:
        stop([theirs])


def test_readiness_waits_for_our_process_to_answer(tmp_path: Path) -> None:
    port = free_port()
    ours = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        localrun.wait_until_serving(ours, f"127.0.0.1:{port}", "a server", time.monotonic() + 30)  # a 404 answers
        assert ours.poll() is None  # it returned because our own process answered, and that process still runs
    finally:
        ours.terminate()
        ours.wait(timeout=10)
