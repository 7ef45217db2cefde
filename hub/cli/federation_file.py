"""Reading the federation file without the certificate checks, for commands that must look at bad certificates.

``federation.config.load_federation`` stops at the first certificate that is expired or from the wrong CA, as
an app starting up must. Listing expiring certificates, or checking a relying service's entry, has to carry on
past them, so these read the same file the same way (``x-`` anchors dropped, ``${name}`` filled from ``urls``)
and leave the certificates to the caller.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from federation.config import FederationConfigError, FederationFile, read_federation_file, validate_federation_file
from hub.cli.common import CliError


def read_raw(path: Path) -> dict[str, Any]:
    """The file as plain data with placeholders filled, not validated: an entry may be as broken as it likes."""
    try:
        return read_federation_file(path)
    except FederationConfigError as exc:
        raise CliError(str(exc)) from exc


def read_unchecked(path: Path) -> FederationFile:
    """The validated file, certificates not yet opened."""
    try:
        return validate_federation_file(path)
    except FederationConfigError as exc:
        raise CliError(str(exc)) from exc
