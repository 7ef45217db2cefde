"""An operator's workspace: a private copy of the keys and the federation file, and the live federation on it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from federation.config import DEFAULT_FEDERATION_FILE, Certificate
from federation.saml.keys import KeyPair
from hub.cli import main
from keys.pki import load_certificate
from tests.support import LiveFederation, start_federation


@dataclass
class Workspace:
    keys: Path
    federation_file: Path

    def cli(self, *argv: str) -> int:
        """Run ``ida-hub`` in this process against this workspace's files."""
        return main([*argv, "--federation-file", str(self.federation_file), "--keys-dir", str(self.keys)])

    def key_pair(self, certificate: str) -> KeyPair:
        path = self.keys / certificate
        return KeyPair(path.with_suffix(".key"), Certificate(path, load_certificate(path)))

    def certificate(self, name: str) -> Certificate:
        path = self.keys / name
        return Certificate(path, load_certificate(path))


@pytest.fixture()
def workspace(tmp_path: Path, keys_dir: Path) -> Workspace:
    """The session's keys are shared by every test: a rollover works on its own copy, and its own file."""
    keys = tmp_path / "keys"
    shutil.copytree(keys_dir, keys)
    federation_file = tmp_path / "federation.yaml"
    shutil.copyfile(DEFAULT_FEDERATION_FILE, federation_file)
    return Workspace(keys, federation_file)


@contextmanager
def running(workspace: Workspace) -> Iterator[LiveFederation]:
    """The three apps started on the workspace's files, as a deploy and restart would; stopped afterwards."""
    live, servers = start_federation(workspace.keys, None, federation_file=workspace.federation_file)
    try:
        yield live
    finally:
        for server in servers:
            server.shutdown()
