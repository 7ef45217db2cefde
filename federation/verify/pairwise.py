"""The pairwise identifier a relying service sees instead of the identity provider's persistent ID."""

from __future__ import annotations

import hashlib


def pairwise_identifier(idp_entity_id: str, matching_service_entity_id: str, persistent_id: str) -> str:
    """Lowercase hex SHA-256 of IDP entity ID + matching service entity ID + IDP persistent ID.

    GOV.UK Verify's formula (its ``UserIdHashFactory``): plain concatenation, UTF-8, no separator. The same
    person gets a different identifier at each department and through each identity provider.
    """
    material = f"{idp_entity_id}{matching_service_entity_id}{persistent_id}".encode()
    return hashlib.sha256(material).hexdigest()
