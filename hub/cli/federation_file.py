"""Reading the federation file without the certificate checks, for commands that must look at bad certificates.

``federation.config.load_federation`` stops at the first certificate that is expired or from the wrong CA, as
an app starting up must. Listing expiring certificates, or checking a relying service's entry, has to carry on
past them, so these read the same file the same way (``x-`` anchors dropped, ``${name}`` filled from ``urls``)
and leave the certificates to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federation.config import FederationConfigError, FederationFile, read_federation_file, validate_federation_file
from hub.cli.common import CliError
from keys.pki import Role, Usage


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


@dataclass(frozen=True)
class CertificateUse:
    """One place the federation file names a certificate."""

    field: str
    entry: str
    relative: str
    role: Role
    usage: Usage


def certificate_uses(file: FederationFile) -> list[CertificateUse]:
    """Every certificate the file names, where, for whom, under which CA and for what."""
    sign, encrypt = Usage.SIGNING, Usage.ENCRYPTION
    uses = [
        CertificateUse(f"hub.signing_certificates[{i}]", "hub", c, Role.HUB, sign)
        for i, c in enumerate(file.hub.signing_certificates)
    ]
    uses.append(CertificateUse("hub.encryption_certificate", "hub", file.hub.encryption_certificate, Role.HUB, encrypt))
    uses.append(
        CertificateUse(
            "metadata_signing_certificate", "metadata", file.metadata_signing_certificate, Role.METADATA, sign
        )
    )
    for i, idp in enumerate(file.identity_providers):
        uses += [
            CertificateUse(f"identity_providers[{i}].signing_certificates[{j}]", idp.display_name, c, Role.IDP, sign)
            for j, c in enumerate(idp.signing_certificates)
        ]
    for i, rp in enumerate(file.relying_services):
        base, name, msa = f"relying_services[{i}]", rp.display_name, rp.matching_service
        # One department's matching service may serve several of its services: name it once, by entity ID.
        matcher = f"matching service {msa.entity_id}"
        uses += [
            CertificateUse(f"{base}.signing_certificates[{j}]", name, c, Role.RP, sign)
            for j, c in enumerate(rp.signing_certificates)
        ]
        uses.append(CertificateUse(f"{base}.encryption_certificate", name, rp.encryption_certificate, Role.RP, encrypt))
        uses += [
            CertificateUse(f"{base}.matching_service.signing_certificates[{j}]", matcher, c, Role.RP, sign)
            for j, c in enumerate(msa.signing_certificates)
        ]
        uses.append(
            CertificateUse(
                f"{base}.matching_service.encryption_certificate",
                matcher,
                msa.encryption_certificate,
                Role.RP,
                encrypt,
            )
        )
    return uses
