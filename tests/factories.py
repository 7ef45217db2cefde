"""Real signed messages for tests, made with the test PKI's keys."""

from __future__ import annotations

import base64
import datetime as dt

from lxml import etree

from federation.config import Federation
from federation.crypto import KeyPair, sign
from federation.messages import authn_request
from federation.xml import now, to_bytes


def key_pair(federation: Federation, certificate: str) -> KeyPair:
    return KeyPair(federation.private_key_path(certificate), federation.cert(certificate))


def service_authn_request(
    federation: Federation,
    *,
    signer: str = "stub-service-signing.crt",
    acs_url: str | None = None,
    destination: str | None = None,
    moment: dt.datetime | None = None,
    signed: bool = True,
) -> etree._Element:
    service = federation.file.relying_services[0]
    request = authn_request(
        issuer=service.entity_id,
        destination=destination or federation.hub.sso_url,
        acs_url=acs_url or service.default_acs_url,
        moment=moment or now(),
    )
    if signed:
        sign(request, key_pair(federation, signer))
    return request


def b64(element: etree._Element | bytes) -> str:
    data = element if isinstance(element, bytes) else to_bytes(element)
    return base64.b64encode(data).decode()
