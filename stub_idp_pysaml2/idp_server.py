"""pysaml2's identity provider (``saml2.server.Server``), configured from a dict for the Verify profile.

What the hub is, where it answers and which keys it signs and encrypts with come from its signed metadata, as
they would for any company on its own SAML stack: fetched from the hub's entity ID (the hub publishes its
metadata there) and checked against the federation's metadata-signing certificate, or read from a pinned copy.
The server is built when first needed, so this app can start before the hub, and again after
``METADATA_REFRESH`` so that a new hub key is picked up.

Two things pysaml2 does not do the way the profile needs, each changed in one place here:

- ``Entity._encrypt_assertion`` always asks for 3DES with a ``des-192`` session key, which the hub refuses:
  ``VerifyIdpServer`` asks for AES-256-GCM (RSA-OAEP for the key), and nothing else of pysaml2's changes;
- it keeps every assertion it makes in process memory (for AssertionIDRequest and AuthnQuery, which the hub
  never sends): the matching dataset would stay there for the life of the process, so they are switched off.
"""

from __future__ import annotations

import copy
import logging
import shutil
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.utils import CryptographyDeprecationWarning
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.mdstore import MetadataStore
from saml2.saml import NAME_FORMAT_UNSPECIFIED, NAMEID_FORMAT_PERSISTENT
from saml2.sigver import (
    RSA_OAEP_MGF1P,
    EncryptError,
    RSACrypto,
    get_pem_wrapped_unwrapped,
    import_rsa_key_from_file,
    make_temp,
    pre_encryption_part,
)
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from federation.config import IdentityProviderEntry
from stub_idp_pysaml2.attributes import VerifyAttributeConverter
from stub_idp_pysaml2.errors import HubMetadataError, released
from stub_idp_pysaml2.xmlsec_backend import InProcessBackend

with warnings.catch_warnings():
    # saml2.server imports its symmetric-cipher helpers, which name a mode cryptography has deprecated (CFB);
    # nothing here uses them. Ignored for this import only, so the warning counts everywhere else.
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from saml2.server import Server

logger = logging.getLogger(__name__)

AES256_GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
ENTITY_DESCRIPTOR = "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor"
METADATA_REFRESH = 60 * 60  # seconds: the hub re-signs its metadata hourly and it is valid for 7 days
RETRY_AFTER_FAILURE = 60  # seconds before trying to fetch the hub's metadata again after a failure
ASSERTION_MINUTES = 5


@dataclass(frozen=True)
class IdpSetup:
    """Everything pysaml2 is told: who this identity provider is, its keys, and where the hub's metadata is."""

    entity_id: str
    sso_url: str
    signing_key: Path
    signing_certificate: Path
    encryption_key: Path
    encryption_certificate: Path
    hub_entity_id: str
    # The hub's metadata: fetched from hub_metadata_url and checked with metadata_signing_certificate, unless a
    # pinned copy is named (a file the operator checked, which pysaml2 reads as it is).
    hub_metadata_url: str
    metadata_signing_certificate: Path
    hub_metadata_file: Path | None = None
    crypto_backend: str = "inprocess"  # or "xmlsec1": pysaml2's own, forking the xmlsec1 command
    clock_skew_seconds: int = 60


def pysaml2_config(setup: IdpSetup) -> dict[str, Any]:
    """The IdP's pysaml2 configuration (``IdPConfig().load``), without metadata: that is loaded once the right
    crypto backend is in place (``build_server``)."""
    in_process = setup.crypto_backend == "inprocess"
    return {
        "entityid": setup.entity_id,
        # pysaml2 insists on a backend it knows. XMLSecurity's constructor needs nothing installed, and is
        # replaced by ours before any use; xmlsec1 needs the command.
        "crypto_backend": "XMLSecurity" if in_process else "xmlsec1",
        "xmlsec_binary": None if in_process else shutil.which("xmlsec1"),
        "key_file": str(setup.signing_key),
        "cert_file": str(setup.signing_certificate),
        "encryption_keypairs": [
            {"key_file": str(setup.encryption_key), "cert_file": str(setup.encryption_certificate)}
        ],
        "only_use_keys_in_metadata": True,
        "accepted_time_diff": setup.clock_skew_seconds,
        "http_client_timeout": 10,
        "service": {
            "idp": {
                "endpoints": {
                    "single_sign_on_service": [
                        (setup.sso_url, BINDING_HTTP_POST),
                        (setup.sso_url, BINDING_HTTP_REDIRECT),
                    ]
                },
                "want_authn_requests_signed": True,
                # pysaml2 reads these in the service's section; elsewhere they are ignored and it signs with SHA-1.
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "sign_response": True,
                "sign_assertion": True,
                "encrypt_assertion": True,
                "encrypt_assertion_self_contained": True,
                "policy": {
                    "default": {
                        "lifetime": {"minutes": ASSERTION_MINUTES},
                        "name_form": NAME_FORMAT_UNSPECIFIED,
                        "nameid_format": NAMEID_FORMAT_PERSISTENT,
                    }
                },
            }
        },
    }


def _metadata_source(setup: IdpSetup) -> dict[str, Any]:
    if setup.hub_metadata_file is not None:
        return {"local": [str(setup.hub_metadata_file)]}
    return {
        "remote": [
            {
                "url": setup.hub_metadata_url,
                "cert": str(setup.metadata_signing_certificate),
                "node_name": ENTITY_DESCRIPTOR,  # pysaml2 looks for an EntitiesDescriptor's otherwise
            }
        ]
    }


class VerifyIdpServer(Server):  # type: ignore[misc]
    """pysaml2's IdP with AES-256-GCM for assertions and no in-memory copy of what it asserted."""

    def support_AssertionIDRequest(self) -> bool:
        return False

    def support_AuthnQuery(self) -> bool:
        return False

    def _encrypt_assertion(
        self, encrypt_cert: str | None, sp_entity_id: str | None, response: Any, node_xpath: str | None = None
    ) -> Any:
        """pysaml2's own, but with AES-256-GCM content encryption where it asks for 3DES."""
        certificates = (
            [(None, encrypt_cert)] if encrypt_cert else self.metadata.certs(sp_entity_id, "any", "encryption")
        )
        failures = []
        for name, certificate in certificates:
            wrapped, unwrapped = get_pem_wrapped_unwrapped(certificate)
            template = pre_encryption_part(
                msg_enc=AES256_GCM, key_enc=RSA_OAEP_MGF1P, key_name=name, encrypt_cert=unwrapped
            )
            with make_temp(wrapped.encode("ascii"), decode=False) as recipient:
                try:
                    return self.sec.encrypt_assertion(
                        response, recipient.name, template, key_type="aes-256", node_xpath=node_xpath
                    )
                except Exception as exc:  # pysaml2 tries the next certificate on any failure
                    failures.append(type(exc).__name__)
        raise EncryptError(f"no encryption certificate of the hub's would do: {failures or 'none listed'}")


def _in_process(security: Any, key_file: str) -> None:
    """Put the in-process backend into one of pysaml2's security contexts, with the RSA helper it would have made
    for the xmlsec1 backend (it checks HTTP-Redirect signatures)."""
    security.crypto = InProcessBackend()
    security.sec_backend = RSACrypto(import_rsa_key_from_file(key_file))


def build_server(setup: IdpSetup) -> VerifyIdpServer:
    """The IdP, with the hub's metadata loaded through the chosen backend. Raises whatever pysaml2 raises."""
    config = IdPConfig()
    config.load(copy.deepcopy(pysaml2_config(setup)))
    # Verify's dataset attributes, ahead of pysaml2's own converters for the same name format.
    config.attribute_converters.insert(0, VerifyAttributeConverter())
    metadata = MetadataStore(config.attribute_converters, config, http_client_timeout=config.http_client_timeout)
    if setup.crypto_backend == "inprocess":
        _in_process(metadata.security, str(setup.signing_key))
    metadata.imp(_metadata_source(setup))
    if setup.hub_metadata_file is None and not all(source.signed() for source in metadata.metadata.values()):
        # pysaml2 accepts unsigned remote metadata even when it is given a certificate to check it with.
        raise HubMetadataError("the hub's metadata is not signed")
    if setup.hub_entity_id not in metadata.keys():
        raise HubMetadataError("the hub's metadata does not describe the hub")
    config.metadata = metadata
    server = VerifyIdpServer(config=config)
    if setup.crypto_backend == "inprocess":
        _in_process(server.sec, str(setup.signing_key))
    return server


class IdentityProvider:
    """This company: its federation entry, what pysaml2 is told, and pysaml2's server, built when first needed and
    rebuilt hourly, or as soon as the federation file changes what it is told.

    If the hub's metadata cannot be had when it is due for a refresh, the server keeps the metadata it has
    (pysaml2 refuses it once past its ``validUntil``) and tries again a minute later.
    """

    def __init__(self, entry: IdentityProviderEntry, setup: IdpSetup) -> None:
        self._lock = threading.Lock()
        self._entry, self._setup = entry, setup
        self._server: VerifyIdpServer | None = None
        self._due = 0.0

    @property
    def entry(self) -> IdentityProviderEntry:
        return self._entry

    @property
    def setup(self) -> IdpSetup:
        return self._setup

    def reconfigure(self, entry: IdentityProviderEntry, setup: IdpSetup) -> None:
        """Take up a changed federation file: a new setup is built into a new server at the next request."""
        with self._lock:
            if setup != self._setup:
                self._due = 0.0
            self._entry, self._setup = entry, setup

    def server(self) -> VerifyIdpServer:
        with self._lock:
            moment = time.monotonic()
            if self._server is None or moment >= self._due:
                try:
                    self._server = build_server(self._setup)
                    self._due = moment + METADATA_REFRESH
                    logger.info("Hub metadata loaded", extra={"crypto_backend": self._setup.crypto_backend})
                except Exception as exc:  # pysaml2's errors have no common root
                    self._due = moment + RETRY_AFTER_FAILURE
                    if self._server is None:
                        raise HubMetadataError(f"hub metadata unavailable: {type(exc).__name__}") from released(exc)
                    logger.warning("Hub metadata not refreshed (%s); keeping what we have", type(exc).__name__)
            return self._server
