"""The toolkits' settings, as a department would write them from the hub's metadata and its own keys.

docs/integration-guide.md quotes these (trimmed): keep the two in step.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

from onelogin.saml2.constants import OneLogin_Saml2_Constants  # type: ignore[import-untyped]
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser  # type: ignore[import-untyped]
from saml2 import BINDING_HTTP_POST
from saml2.saml import NAMEID_FORMAT_PERSISTENT
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from federation.verify.loa import LevelOfAssurance

LEVEL_2 = LevelOfAssurance.LEVEL_2.uri
ENTITY_DESCRIPTOR = "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor"


def python3_saml_settings(
    *, entity_id: str, acs_url: str, hub_metadata: str, key_pem: str, cert_pem: str
) -> dict[str, Any]:
    """python3-saml, set up for the hub: signed requests, signed and encrypted assertions, SHA-256, level 2.

    python3-saml has one key pair for signing requests and decrypting assertions, so the service registers
    the same certificate as both its signing and its encryption certificate.
    """
    # The hub's metadata lists its one SSO URL under both HTTP-Redirect and HTTP-POST; login() redirects there.
    hub = OneLogin_Saml2_IdPMetadataParser.parse(
        hub_metadata, required_sso_binding=OneLogin_Saml2_Constants.BINDING_HTTP_POST
    )["idp"]
    return {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": entity_id,
            "assertionConsumerService": {"url": acs_url, "binding": OneLogin_Saml2_Constants.BINDING_HTTP_POST},
            "NameIDFormat": OneLogin_Saml2_Constants.NAMEID_PERSISTENT,
            "x509cert": cert_pem,
            "privateKey": key_pem,
        },
        "idp": hub,
        "security": {
            "authnRequestsSigned": True,
            "wantMessagesSigned": True,
            "wantAssertionsSigned": True,
            "wantAssertionsEncrypted": True,
            "wantNameId": True,
            "wantAttributeStatement": True,
            "signatureAlgorithm": OneLogin_Saml2_Constants.RSA_SHA256,
            "digestAlgorithm": OneLogin_Saml2_Constants.SHA256,
            "rejectDeprecatedAlgorithm": True,
            "requestedAuthnContext": [LEVEL_2],
            "requestedAuthnContextComparison": "minimum",
            "failOnAuthnContextMismatch": True,
        },
    }


def python3_saml_default_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with the toolkit's defaults put back, except what the hub cannot do without: keys and
    signed requests.

    python3-saml then asks for NameID Format ``…:1.1:nameid-format:unspecified`` and a RequestedAuthnContext
    of ``PasswordProtectedTransport`` with ``Comparison="exact"``.
    """
    defaults = copy.deepcopy(settings)
    del defaults["sp"]["NameIDFormat"]
    defaults["security"] = {"authnRequestsSigned": True}
    return defaults


def pysaml2_config(
    *,
    entity_id: str,
    acs_urls: list[str],
    hub_metadata_url: str,
    metadata_signing_cert: Path,
    signing: tuple[Path, Path],
    encryption: tuple[Path, Path],
) -> dict[str, Any]:
    """pysaml2, set up for the hub: metadata fetched and its signature checked, SHA-256 (pysaml2 signs with
    SHA-1 unless told otherwise, which the hub refuses), persistent NameIDs, level 2 at least.

    ``signing`` and ``encryption`` are (private key, certificate) file pairs.
    """
    return {
        "entityid": entity_id,
        "name": "pysaml2 interoperability service",
        "xmlsec_binary": shutil.which("xmlsec1"),
        "key_file": str(signing[0]),
        "cert_file": str(signing[1]),
        "encryption_keypairs": [{"key_file": str(encryption[0]), "cert_file": str(encryption[1])}],
        # node_name: pysaml2 looks for the signature on an EntitiesDescriptor unless told otherwise.
        "metadata": {
            "remote": [{"url": hub_metadata_url, "cert": str(metadata_signing_cert), "node_name": ENTITY_DESCRIPTOR}]
        },
        "allow_unknown_attributes": True,
        "accepted_time_diff": 60,
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": [(url, BINDING_HTTP_POST) for url in acs_urls]},
                "authn_requests_signed": True,
                "want_response_signed": True,
                "want_assertions_signed": True,
                "allow_unsolicited": False,
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "name_id_policy_format": NAMEID_FORMAT_PERSISTENT,
                "requested_authn_context": {"authn_context_class_ref": [LEVEL_2], "comparison": "minimum"},
            }
        },
    }


def pysaml2_default_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with pysaml2's defaults put back, except keys, metadata, signed requests and SHA-256.

    pysaml2 then sends no NameIDPolicy and no RequestedAuthnContext, but a ProviderName (its ``name``).
    """
    defaults = copy.deepcopy(config)
    sp = defaults["service"]["sp"]
    for option in ("want_response_signed", "want_assertions_signed", "allow_unsolicited", "name_id_format"):
        del sp[option]
    del sp["name_id_policy_format"]
    del sp["requested_authn_context"]
    return defaults
