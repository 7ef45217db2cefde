from __future__ import annotations

import datetime as dt

import pytest

from federation.config import Federation
from federation.saml.metadata import MetadataError, federation_metadata, hub_metadata, read_metadata
from federation.saml.xml import NS, now, q
from tests.factories import key_pair

WEEK = dt.timedelta(days=7)


def test_signed_metadata_in_date_is_trusted(federation: Federation) -> None:
    data = federation_metadata(federation, key_pair(federation, "metadata-signing.crt"), now(), WEEK)
    root = read_metadata(data, [federation.cert("metadata-signing.crt")], now())
    entities = root.findall(q("md", "EntityDescriptor"))
    assert len(entities) == 1 + len(federation.file.identity_providers)


def test_hub_metadata_publishes_both_roles_and_keys(federation: Federation) -> None:
    root = read_metadata(
        hub_metadata(federation, key_pair(federation, "metadata-signing.crt"), now(), WEEK),
        [federation.cert("metadata-signing.crt")],
        now(),
    )
    sp = root.find(q("md", "SPSSODescriptor"))
    assert sp is not None and sp.get("AuthnRequestsSigned") == "true"
    uses = sorted(k.get("use") for k in sp.findall(q("md", "KeyDescriptor")))
    assert uses == ["encryption", "signing"]
    assert root.find(f"{q('md', 'IDPSSODescriptor')}/{q('md', 'SingleSignOnService')}") is not None
    assert root.find(f".//{{{NS['ds']}}}Signature") is not None


def test_unsigned_metadata_is_refused(federation: Federation) -> None:
    data = hub_metadata(federation, key_pair(federation, "metadata-signing.crt"), now(), WEEK)
    start, end = data.index(b"<ds:Signature"), data.index(b"</ds:Signature>") + len(b"</ds:Signature>")
    with pytest.raises(MetadataError, match="signature"):
        read_metadata(data[:start] + data[end:], [federation.cert("metadata-signing.crt")], now())


def test_metadata_signed_by_another_key_is_refused(federation: Federation) -> None:
    data = hub_metadata(federation, key_pair(federation, "hub-signing.crt"), now(), WEEK)
    with pytest.raises(MetadataError, match="signature"):
        read_metadata(data, [federation.cert("metadata-signing.crt")], now())


def test_expired_metadata_is_refused(federation: Federation) -> None:
    data = hub_metadata(federation, key_pair(federation, "metadata-signing.crt"), now() - 2 * WEEK, WEEK)
    with pytest.raises(MetadataError, match="expired"):
        read_metadata(data, [federation.cert("metadata-signing.crt")], now())


def test_tampered_metadata_is_refused(federation: Federation) -> None:
    data = hub_metadata(federation, key_pair(federation, "metadata-signing.crt"), now(), WEEK)
    tampered = data.replace(b'/SAML2/SSO"', b'/SAML2/SSO-evil"', 1)
    with pytest.raises(MetadataError):
        read_metadata(tampered, [federation.cert("metadata-signing.crt")], now())
