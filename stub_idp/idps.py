"""Which identity providers from the federation file this app serves, and at which ``/<slug>``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from federation.config import Evidence, IdentityProviderEntry
from federation.runtime import Runtime
from federation.words import N_
from keys.pki import Role, ca_file

EVIDENCE_LABELS = {
    Evidence.PHOTO_ID: N_("Photo ID: a UK passport or photocard driving licence"),
    Evidence.MOBILE_PHONE: N_("A smartphone that can install an app"),
    Evidence.UK_ADDRESS: N_("A UK address and a credit record there"),
}


@dataclass(frozen=True)
class StubIdp:
    """One certified company played by this app: its federation entry and the secret behind its PIDs."""

    slug: str
    entry: IdentityProviderEntry
    secret: bytes

    @property
    def evidence(self) -> list[str]:
        """What the company needs, as catalogue messages: the page shows them in its language."""
        return [EVIDENCE_LABELS[item] for item in self.entry.evidence_required]


def stub_idps(runtime: Runtime, base_url: str) -> dict[str, StubIdp]:
    """Every identity provider whose SSO URL lies under ``base_url``, keyed by the first path segment."""
    idps = {}
    for entry in runtime.federation.file.identity_providers:
        if not entry.sso_url.startswith(base_url + "/"):
            continue
        slug = entry.sso_url[len(base_url) + 1 :].split("/", 1)[0]
        idps[slug] = StubIdp(slug=slug, entry=entry, secret=_pid_secret(runtime, entry))
    return idps


def _pid_secret(runtime: Runtime, entry: IdentityProviderEntry) -> bytes:
    """Stable across restarts, workers and signing-key rollovers, different per IDP.

    Derived from the IDP CA's private key (which the test PKI writes and no rollover changes) and the entity
    ID; where only the IDP's own keys are deployed, from its oldest listed signing key.
    """
    ca_key = (runtime.federation.keys_dir / ca_file(Role.IDP)).with_suffix(".key")
    if not ca_key.exists():
        ca_key = runtime.federation.private_key_path(entry.signing_certificates[-1])
    return hashlib.sha256(b"stub-idp-pid\n" + entry.entity_id.encode() + b"\n" + ca_key.read_bytes()).digest()
