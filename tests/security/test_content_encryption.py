"""AES-GCM is the only content encryption accepted by default; AES-CBC only from an identity provider that the
federation file allows it for (``allow_aes_cbc``), and then from that one alone.

The refusal in the default federation is a case of tests/security/test_idp_response_attacks.py
(``enc_aes256_cbc_content_by_default``); here a federation allows CBC for Stub IDP One only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import xmlsec
import yaml

from federation.config import DEFAULT_FEDERATION_FILE
from federation.saml.xml import q
from tests.security.conftest import Recorder, capture, check_refused, counts
from tests.security.forge import IDP_ONE, Captured, encrypt_with, resign
from tests.support import LiveFederation, start_federation


@pytest.fixture(scope="module")
def cbc_for_idp_one(
    keys_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveFederation, Recorder]]:
    data = yaml.safe_load(DEFAULT_FEDERATION_FILE.read_text(encoding="utf-8"))
    for idp in data["identity_providers"]:
        if "/stub-idp-one/" in idp["entity_id"]:
            idp["allow_aes_cbc"] = True
    path = tmp_path_factory.mktemp("cbc") / "federation.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    live, servers = start_federation(keys_dir, None, federation_file=path)
    recorder = Recorder(live.apps["stub_service"].wsgi_app)
    live.apps["stub_service"].wsgi_app = recorder  # type: ignore[method-assign]
    yield live, recorder
    for server in servers:
        server.shutdown()


def _in_cbc(captured: Captured, signer_cert: str) -> bytes:
    """The genuine Response with its assertions re-encrypted with AES-256-CBC and signed again by its IDP."""
    from federation.saml.xml import to_bytes

    response = captured.response
    items = captured.assertions(response)
    for node in response.findall(q("saml", "EncryptedAssertion")):
        response.remove(node)
    hub_cert = captured.live.federation.cert("hub-encryption.crt").pem
    for item in items:
        response.append(encrypt_with(item, hub_cert, xmlsec.Transform.AES256, xmlsec.Transform.RSA_OAEP))
    return to_bytes(resign(response, captured.key(signer_cert)))


def test_aes_cbc_is_accepted_from_the_identity_provider_allowed_to_use_it(
    cbc_for_idp_one: tuple[LiveFederation, Recorder],
) -> None:
    live, recorder = cbc_for_idp_one
    captured = capture(live)
    before = counts(recorder)
    response = captured.post(_in_cbc(captured, f"{IDP_ONE}-signing.crt"))
    assert response.status_code == 200 and response.url.endswith("/response-processing")
    assert counts(recorder)[0] == before[0] + 1  # matching went ahead


def test_aes_cbc_is_still_refused_from_every_other_identity_provider(
    cbc_for_idp_one: tuple[LiveFederation, Recorder],
) -> None:
    live, recorder = cbc_for_idp_one
    captured = capture(live, "stub-idp-two")
    before = counts(recorder)
    check_refused(captured.post(_in_cbc(captured, "stub-idp-two-signing.crt")), recorder, before)
