"""Editing the federation file in place, as the commands that change it do (key rollover, enrolment).

Round trip with ruamel.yaml, so comments, anchors and order are kept; the edited text is loaded as an app would
load it before it replaces the file, in one rename, so the file is always either the old one or the new one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ruamel.yaml import YAML

from federation.config import FederationConfigError, load_federation
from hub.cli.common import CliError


def round_trip_yaml() -> YAML:
    """The YAML reader and writer that keeps the file as its authors wrote it."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def replace_checked(path: Path, text: str, keys_dir: Path, issued: list[Path]) -> None:
    """Write ``text`` beside ``path``, load it as an app would, then rename it over ``path``. If it would not
    load, ``path`` is left as it was and the files in ``issued`` (keys made for the edit) are deleted."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o777)
        load_federation(Path(temporary), keys_dir=keys_dir)
        os.replace(temporary, path)
    except (FederationConfigError, OSError) as exc:
        Path(temporary).unlink(missing_ok=True)
        delete(issued)
        why = str(exc).removeprefix(f"{temporary}: ")
        deleted = "; the certificates and keys it had issued were deleted" if issued else ""
        raise CliError(f"{path} left as it was: the edited file would not load ({why}){deleted}") from exc


def delete(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
