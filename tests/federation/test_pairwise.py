from __future__ import annotations

from federation.verify.pairwise import pairwise_identifier

IDP = "http://127.0.0.1:8510/stub-idp-one/SAML2/metadata"
MSA = "http://127.0.0.1:8520/hmrc/matching-service/SAML2/metadata"


def test_formula_is_sha256_of_idp_then_matching_service_then_persistent_id() -> None:
    # Computed independently: printf '%s' 'idp-entitymsa-entitypid-123' | sha256sum
    assert (
        pairwise_identifier("idp-entity", "msa-entity", "pid-123")
        == "cc377ee3b2068d72af016b7e5e165cb148e0547340ed2790358fdb89e72961a2"
    )


def test_identifier_is_lowercase_hex_of_64_characters() -> None:
    value = pairwise_identifier(IDP, MSA, "abc")
    assert len(value) == 64 and value == value.lower() and int(value, 16) >= 0


def test_each_department_and_each_idp_gets_a_different_identifier() -> None:
    base = pairwise_identifier(IDP, MSA, "abc")
    assert pairwise_identifier(IDP, MSA + "/other", "abc") != base
    assert pairwise_identifier(IDP + "/other", MSA, "abc") != base
    assert pairwise_identifier(IDP, MSA, "abd") != base
