"""Signing key rollovers on the live federation: journeys complete at every stage, and only the right keys count.

Each stage is an ``ida-hub keys rotate`` run on a private copy of the keys and federation file, followed by a
restart of the three apps on that copy, as an operator's deploy would do.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
import requests
from lxml import etree

from federation.errors import SignatureError
from federation.saml.crypto import sign, verify
from federation.saml.keys import KeyPair
from federation.saml.metadata import read_metadata
from federation.saml.xml import NS, STATUS_SUCCESS, now, parse, q, text_of
from hub.cli.journey import SCENARIOS, JourneyDriver, JourneyResult, SamlPost
from tests.operator.conftest import Workspace, running
from tests.support import LiveFederation

pytestmark = pytest.mark.live  # its tests start the federation (or gunicorn) themselves

TODAY = f"{now():%Y-%m-%d}"
PAYE = "check-your-paye-tax"


def signed_by(element: etree._Element, workspace: Workspace, certificate: str) -> bool:
    try:
        verify(element, [workspace.certificate(certificate)])
    except SignatureError:
        return False
    return True


def resigned(post: SamlPost, key: KeyPair) -> dict[str, str]:
    """The same message, its own signature replaced by one made with ``key`` (the assertions inside untouched)."""
    element = post.element
    for signature in element.findall(q("ds", "Signature")):
        element.remove(signature)
    sign(element, key)
    return {**post.fields, "SAMLResponse": base64.b64encode(etree.tostring(element)).decode()}


def journey(live: LiveFederation, stop_before: Callable[[SamlPost], bool] | None = None) -> JourneyDriver:
    return JourneyDriver(f"{live.urls['stub_service']}/{PAYE}/", stop_before=stop_before)


def matched(live: LiveFederation) -> JourneyResult:
    result = journey(live).run(SCENARIOS["match"])
    assert result.passed, result.problem
    assert result.saml_status == STATUS_SUCCESS and result.acs_status == 200
    return result


def hub_signer(result: JourneyResult, workspace: Workspace) -> set[str]:
    assert result.response is not None
    response = parse(result.response)
    return {name for name in ("hub-signing.crt", f"hub-signing-{TODAY}.crt") if signed_by(response, workspace, name)}


def metadata_signing_certificates(live: LiveFederation, workspace: Workspace) -> int:
    data = requests.get(f"{live.urls['hub']}/SAML2/metadata", timeout=10).content
    root = read_metadata(data, [workspace.certificate("metadata-signing.crt")], now())
    path = f"{{{NS['md']}}}IDPSSODescriptor/{{{NS['md']}}}KeyDescriptor[@use='signing']"
    return len(root.findall(path))


def to_service(post: SamlPost) -> bool:
    return "SAMLResponse" in post.fields and f"/{PAYE}/" in post.action


def to_hub(live: LiveFederation) -> Callable[[SamlPost], bool]:
    return lambda post: "SAMLResponse" in post.fields and post.action.startswith(live.urls["hub"])


def post_to_service(driver: JourneyDriver, post: SamlPost, fields: dict[str, str]) -> requests.Response:
    return driver.session.post(post.action, data=fields, timeout=30)


def held_before_the_service(live: LiveFederation) -> tuple[JourneyDriver, SamlPost]:
    """A matched journey stopped just before the browser posts the hub's Response to the service."""
    driver = journey(live, stop_before=to_service)
    stopped = driver.run(SCENARIOS["match"]).stopped_at
    assert stopped is not None
    return driver, stopped


def test_hub_signing_key_rolls_over_in_three_stages_without_a_failed_journey(workspace: Workspace) -> None:
    old, new = "hub-signing.crt", f"hub-signing-{TODAY}.crt"
    assert workspace.cli("keys", "rotate", "hub-signing", "add") == 0
    with running(workspace) as live:
        assert hub_signer(matched(live), workspace) == {old}  # published and accepted, not yet used
        assert metadata_signing_certificates(live, workspace) == 2
        # The stub service knows both: a Response signed with the new key is accepted already.
        driver, stopped = held_before_the_service(live)
        answer = post_to_service(driver, stopped, resigned(stopped, workspace.key_pair(new)))
        assert answer.status_code == 200 and "You are signed in" in answer.text

    assert workspace.cli("keys", "rotate", "hub-signing", "promote") == 0
    with running(workspace) as live:
        assert hub_signer(matched(live), workspace) == {new}
        assert metadata_signing_certificates(live, workspace) == 2
        # The old key is still accepted while apps restart and messages are on their way.
        driver, stopped = held_before_the_service(live)
        answer = post_to_service(driver, stopped, resigned(stopped, workspace.key_pair(old)))
        assert answer.status_code == 200 and "You are signed in" in answer.text

    assert workspace.cli("keys", "rotate", "hub-signing", "retire") == 0
    with running(workspace) as live:
        assert hub_signer(matched(live), workspace) == {new}
        assert metadata_signing_certificates(live, workspace) == 1
        driver, stopped = held_before_the_service(live)
        forged = resigned(stopped, workspace.key_pair(old))
        assert signed_by(parse(base64.b64decode(forged["SAMLResponse"])), workspace, old)
        refused = post_to_service(driver, stopped, forged)
        assert refused.status_code == 400 and "You are signed in" not in refused.text
        # Control: the same Response as the hub signed it is still accepted by that browser.
        answer = post_to_service(driver, stopped, stopped.fields)
        assert answer.status_code == 200 and "You are signed in" in answer.text


def idp_response(result: JourneyResult, idp_entity: str) -> etree._Element:
    for post in result.messages:
        element = post.element
        if "SAMLResponse" in post.fields and text_of(element.find(q("saml", "Issuer"))) == idp_entity:
            return element
    raise AssertionError("no IDP Response in the journey")


def test_hub_accepts_an_idp_response_signed_with_either_listed_key_and_not_a_retired_one(
    workspace: Workspace,
) -> None:
    old, new = "stub-idp-one-signing.crt", f"stub-idp-one-signing-{TODAY}.crt"
    assert workspace.cli("keys", "rotate", "stub-idp-one-signing", "add") == 0
    with running(workspace) as live:
        entity = f"{live.urls['stub_idp']}/stub-idp-one/SAML2/metadata"
        response = idp_response(matched(live), entity)
        assert signed_by(response, workspace, old) and not signed_by(response, workspace, new)
        # The IDP switches keys on its own schedule: the hub already accepts its new one.
        driver = journey(live, stop_before=to_hub(live))
        stopped = driver.run(SCENARIOS["match"]).stopped_at
        assert stopped is not None
        accepted = driver.session.post(stopped.action, data=resigned(stopped, workspace.key_pair(new)), timeout=30)
        assert accepted.status_code == 200 and accepted.url.startswith(live.urls["hub"])

    assert workspace.cli("keys", "rotate", "stub-idp-one-signing", "promote") == 0
    with running(workspace) as live:
        response = idp_response(matched(live), f"{live.urls['stub_idp']}/stub-idp-one/SAML2/metadata")
        assert signed_by(response, workspace, new) and not signed_by(response, workspace, old)

    assert workspace.cli("keys", "rotate", "stub-idp-one-signing", "retire") == 0
    with running(workspace) as live:
        driver = journey(live, stop_before=to_hub(live))
        stopped = driver.run(SCENARIOS["match"]).stopped_at
        assert stopped is not None
        refused = driver.session.post(stopped.action, data=resigned(stopped, workspace.key_pair(old)), timeout=30)
        assert refused.status_code == 400
        accepted = driver.session.post(stopped.action, data=stopped.fields, timeout=30)  # control: the new key
        assert accepted.status_code == 200
