"""/metrics on the operations app adds up every worker of a hub running under gunicorn.

The hub runs as production runs it, under gunicorn with two workers and ``PROMETHEUS_MULTIPROC_DIR``; the
operations app, in another process (here the test's), reads the same folder.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from hub import operations
from launcher.localrun import gunicorn_command, wait_for
from tests.support import free_port

pytestmark = pytest.mark.live  # its tests start the federation (or gunicorn) themselves

ENDPOINT = (("app", "hub"), ("endpoint", "federation.status"), ("status", "200"))


def _status_count(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "ida_request_seconds_count" and tuple(sorted(sample.labels.items())) == ENDPOINT
    )


def test_metrics_from_the_operations_app_add_up_every_hub_worker(
    keys_dir: Path, tmp_path: Path, app_config: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    port = free_port()
    env = {**os.environ, "KEYS_DIR": str(keys_dir), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    env.pop("REDIS_URL", None)
    hub = subprocess.Popen(
        gunicorn_command("hub:create_app()", f"127.0.0.1:{port}", 2, "--log-level", "warning"),
        env={**env, "LOG_LEVEL": "WARNING"},
    )
    try:
        assert wait_for("127.0.0.1", port, 60), "the hub did not start under gunicorn"
        sent = 0
        # New connections until both workers have answered (each writes its own file), then a few more.
        while sent < 400 and (len(list(metrics_dir.glob("histogram_*.db"))) < 2 or sent < 20):
            response = requests.get(f"http://127.0.0.1:{port}/_status", headers={"Connection": "close"}, timeout=10)
            assert response.status_code == 200
            sent += 1
        assert len(list(metrics_dir.glob("histogram_*.db"))) >= 2, "one worker answered everything"
    finally:
        hub.terminate()
        hub.wait(timeout=30)

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    scraped = operations.create_app(app_config).test_client().get("/metrics").get_data(as_text=True)
    assert _status_count(scraped) == sent
