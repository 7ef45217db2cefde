"""This app's settings: the federation's shared ones, and what only a company on its own SAML stack needs.

Built once at start-up, as every app's are: defaults, then the environment, then what ``create_app`` is given.
Its entry in the federation file is the identity provider whose SSO URL lies under ``urls.stub_idp_pysaml2``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from federation.config import Federation, FederationConfigError, IdentityProviderEntry
from federation.settings import AppSettings
from stub_idp_pysaml2.idp_server import IdpSetup

URL_NAME = "stub_idp_pysaml2"
# Only the Redis ACL user the stub IDPs share (docs/redis.md) may reach these keys, and registered test users
# are kept there: this company accepts them as every stub IDP does.
STORE_PREFIX = "stub-idp"


class Pysaml2IdpSettings(BaseModel):
    """``shared``: the settings every app has. ``hub_metadata_file``: a pinned copy of the hub's metadata, read
    as it is, instead of fetching it from the hub and checking its signature (tests; an operator who pins it).
    ``encryption_certificate``: this company's own encryption certificate, in the keys directory (the federation
    file names none for identity providers: the hub never encrypts to them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shared: AppSettings
    hub_metadata_file: Path | None = None
    encryption_certificate: str = "stub-idp-pysaml2-encryption.crt"

    @classmethod
    def build(cls, config: Mapping[str, Any] | None = None) -> Pysaml2IdpSettings:
        values = dict(config or {})
        own = {name: values.pop(name) for name in ("hub_metadata_file", "encryption_certificate") if name in values}
        return cls(shared=AppSettings.build(values), **own)


def own_entry(federation: Federation) -> IdentityProviderEntry:
    """This company's entry in the federation file; FederationConfigError naming the file if there is not one."""
    base = federation.file.urls.get(URL_NAME, "").rstrip("/")
    entries = [idp for idp in federation.file.identity_providers if base and idp.sso_url.startswith(base + "/")]
    if len(entries) != 1:
        raise FederationConfigError(
            f"{federation.source}: expected one identity provider whose sso_url is under urls.{URL_NAME} "
            f"({base or 'not set'}), found {len(entries)}"
        )
    return entries[0]


def idp_setup(settings: Pysaml2IdpSettings, federation: Federation, entry: IdentityProviderEntry) -> IdpSetup:
    """What pysaml2 is told. The first signing certificate the federation file lists is the one to sign with."""
    keys = federation.keys_dir
    encryption = keys / settings.encryption_certificate
    return IdpSetup(
        entity_id=entry.entity_id,
        sso_url=entry.sso_url,
        signing_key=federation.private_key_path(entry.signing_certificates[0]),
        signing_certificate=keys / entry.signing_certificates[0],
        encryption_key=encryption.with_suffix(".key"),
        encryption_certificate=encryption,
        hub_entity_id=federation.hub.entity_id,
        hub_metadata_url=federation.hub.entity_id,  # the hub publishes its metadata at its entity ID
        metadata_signing_certificate=keys / federation.file.metadata_signing_certificate,
        hub_metadata_file=settings.hub_metadata_file,
        crypto_backend=settings.shared.crypto_backend,
        clock_skew_seconds=federation.hub.clock_skew_seconds,
    )


@functools.cache
def pid_secret(setup: IdpSetup) -> bytes:
    """The key behind this company's persistent IDs: stable across restarts, workers and signing-key rollovers
    (it comes from the encryption key, which the hub never sees and no rollover changes), different per company."""
    return hashlib.sha256(
        b"stub-idp-pysaml2-pid\n" + setup.entity_id.encode() + b"\n" + setup.encryption_key.read_bytes()
    ).digest()
