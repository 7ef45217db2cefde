"""The hub as it is deployed: under gunicorn with ``gunicorn_command``'s options, nginx in front from deploy/nginx.

For the tests of what the proxy and gunicorn refuse (test_proxy.py) and of what their logs keep
(test_access_log.py). The stubs are not run: nginx's servers for them point at a closed port.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from federation.config import DEFAULT_FEDERATION_FILE, Federation, load_federation
from launcher import reverse_proxy
from launcher.localrun import gunicorn_command, wait_for
from tests.support import UNREACHABLE, free_port

ROOT = Path(__file__).resolve().parents[2]
CLOSED = "127.0.0.1:9"  # the discard port: nothing listens there


@dataclass
class ProxiedHub:
    public: str  # nginx: the hub's address in the federation file
    direct: str  # the hub's own gunicorn, behind it
    federation: Federation
    access_log: Path  # gunicorn's
    output: Path  # everything else gunicorn and the hub wrote (gunicorn's error log, the hub's own log)
    nginx: reverse_proxy.Nginx

    def gunicorn_says(self) -> str:
        return self.output.read_text(errors="replace")[-3000:]


def wait_for_line(path: Path, fragment: str, seconds: float = 5, count: int = 1) -> str:
    """The log at ``path`` once ``count`` lines hold ``fragment`` (or ``seconds`` have passed): a log line is
    written as the response goes out, so it can land a moment after the client has read the response."""
    deadline = time.monotonic() + seconds
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        if text.count(fragment) >= count or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


@contextmanager
def proxied_hub(keys_dir: Path, directory: Path) -> Iterator[ProxiedHub]:
    if reverse_proxy.find_nginx() is None:
        pytest.fail("nginx is not installed: apt-get install nginx")
    public, direct = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    urls = {**UNREACHABLE, "hub": f"http://{public}"}
    data = yaml.safe_load(DEFAULT_FEDERATION_FILE.read_text(encoding="utf-8"))
    data["urls"] = urls
    federation_file = directory / "federation.yaml"
    federation_file.write_text(yaml.safe_dump(data), encoding="utf-8")
    access_log, output = directory / "gunicorn-access.log", directory / "gunicorn.log"
    # The suite's environment (CRYPTO_BACKEND, say), in-process state in the hub's one worker, the test PKI.
    env = {name: value for name, value in os.environ.items() if name != "REDIS_URL"}
    env.update(FEDERATION_FILE=str(federation_file), KEYS_DIR=str(keys_dir))
    command = gunicorn_command("hub:create_app()", direct, 1, "--access-logfile", str(access_log))
    with output.open("wb") as out:
        hub = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    nginx = None
    try:
        host, port = direct.split(":")
        if not wait_for(host, int(port), 30):
            pytest.fail(f"the hub did not start under gunicorn: {output.read_text(errors='replace')[-2000:]}")
        sites = {"hub": (public, direct), "stub_idp": (f"127.0.0.1:{free_port()}", CLOSED)}
        sites["stub_service"] = (f"127.0.0.1:{free_port()}", CLOSED)
        nginx = reverse_proxy.start(sites)
        federation = load_federation(DEFAULT_FEDERATION_FILE, keys_dir=keys_dir, urls=urls)
        yield ProxiedHub(f"http://{public}", f"http://{direct}", federation, access_log, output, nginx)
    finally:
        if nginx is not None:
            nginx.stop()
        hub.terminate()
        try:
            hub.wait(timeout=10)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait(timeout=10)
