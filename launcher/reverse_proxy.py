"""nginx in front of the apps, from the one template in deploy/nginx, started as an ordinary process.

docker-compose.yml gives deploy/nginx/nginx.conf.template to the nginx image, which fills in its ``${IDA_…}``
placeholders from the environment. ``make run``, the tests and the benchmark fill them in here and run nginx
from a temporary folder of its own (configuration, pid file, temporary files, logs, the error pages), so it
needs no root-owned path and several can run at once. docs/reverse-proxy.md says why the proxy is there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

NGINX_DIR = Path(__file__).resolve().parent.parent / "deploy" / "nginx"
TEMPLATE = NGINX_DIR / "nginx.conf.template"
ERROR_PAGES = NGINX_DIR / "errors"
# The apps nginx fronts, as federation.yaml's urls name them. The operations app is not among them: its
# port is internal and is never proxied.
PROXIED = ("hub", "stub_idp", "stub_service")
_PLACEHOLDER = re.compile(r"\$\{(IDA_[A-Z0-9_]+)\}")
# Debian and most distributions install nginx in sbin, which is not on an ordinary user's PATH.
_SBIN = "/usr/sbin:/usr/local/sbin:/sbin"


class ProxyError(RuntimeError):
    """nginx is missing, or would not start with the rendered configuration."""


def find_nginx() -> str | None:
    """The nginx binary on PATH or in the usual sbin folders, if there is one."""
    return shutil.which("nginx") or shutil.which("nginx", path=_SBIN)


def render(values: Mapping[str, str], template: str | None = None) -> str:
    """The template with every ``${IDA_…}`` placeholder filled in; a placeholder without a value is an error."""
    text = TEMPLATE.read_text(encoding="utf-8") if template is None else template
    missing = sorted({name for name in _PLACEHOLDER.findall(text) if name not in values})
    if missing:
        raise ProxyError(f"{TEMPLATE.name}: no value for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def placeholders(directory: Path, sites: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """The template's values for a run in ``directory``: ``sites`` maps each proxied app to (where nginx
    listens, where the app's gunicorn listens), both ``host:port``."""
    if set(sites) != set(PROXIED):
        raise ProxyError(f"nginx fronts {', '.join(PROXIED)}; given {', '.join(sorted(sites))}")
    values = {
        "IDA_STATE_DIR": str(directory),
        "IDA_ACCESS_LOG": str(directory / "access.log"),
        "IDA_ERROR_LOG": str(directory / "error.log"),
        "IDA_ERROR_PAGES": str(directory / "errors"),
    }
    for name, (listen, upstream) in sites.items():
        values[f"IDA_{name.upper()}_LISTEN"] = listen
        values[f"IDA_{name.upper()}_UPSTREAM"] = upstream
    return values


@dataclass
class Nginx:
    """A running nginx and the folder it works in."""

    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def access_log(self) -> Path:
        return self.directory / "access.log"

    @property
    def error_log(self) -> Path:
        return self.directory / "error.log"

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # nginx's fast shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def start(sites: Mapping[str, tuple[str, str]], seconds: float = 10) -> Nginx:
    """Start nginx in front of ``sites`` (see ``placeholders``) in a temporary folder that ``stop`` removes,
    and wait until it listens on every port (nginx writes its pid file once it has them)."""
    binary = find_nginx()
    if binary is None:
        raise ProxyError("nginx is not installed (apt-get install nginx)")
    folder = Path(tempfile.mkdtemp(prefix="ida-hub-nginx-"))
    if os.geteuid() == 0:
        # Started as root, nginx runs its workers as an unprivileged user (nobody, unless it was built with
        # another), who must reach the error pages and temporary files: hence a folder of its own in the
        # system's temporary folder, which anyone may pass through.
        folder.chmod(0o755)
    shutil.copytree(ERROR_PAGES, folder / "errors", dirs_exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(render(placeholders(folder, sites)), encoding="utf-8")
    command = [binary, "-p", f"{folder}/", "-c", str(config), "-e", str(folder / "error.log"), "-g", "daemon off;"]
    with (folder / "stderr.log").open("wb") as stderr:
        nginx = Nginx(folder, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr))
    deadline = time.monotonic() + seconds
    while nginx.running() and time.monotonic() < deadline:
        pid_file = folder / "nginx.pid"
        if pid_file.exists() and pid_file.read_text().strip():
            return nginx
        time.sleep(0.05)
    said = " ".join((folder / "stderr.log").read_text(errors="replace").split())
    code = nginx.process.poll()
    nginx.stop()
    raise ProxyError(f"nginx did not start ({'still starting' if code is None else f'exit code {code}'}): {said}")
