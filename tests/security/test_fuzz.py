"""Fuzzing every SAML endpoint of every app: whatever arrives, the answer is never a 5xx or a traceback."""

from __future__ import annotations

import base64
import zlib
from urllib.parse import quote_plus

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from federation.config import Federation
from federation.saml.build import soap_envelope
from federation.saml.xml import to_bytes
from tests.factories import service_authn_request
from tests.security.test_xml_entry_points import XINCLUDE

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

xml_ish = st.one_of(
    st.binary(max_size=512),
    st.text(alphabet="<>/=\"' abcdefgsamlp:ID&;!-[]?xmlns", max_size=300).map(str.encode),
    st.sampled_from(
        [
            b"<samlp:Response/>",
            b"<x ID='a'><y ID='a'/></x>",
            b"<?xml version='1.0' encoding='UTF-16'?><a/>",
            b"<a xmlns='urn:oasis:names:tc:SAML:2.0:protocol'><Status/></a>",
        ]
    ),
)


# Other encodings and DTD constructs (tests/security/test_xml_entry_points.py has the full matrix): random
# combinations, inside genuine messages as well as on their own.
CODECS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "latin-1", "cp1252"]
PROLOGS = [
    "",
    "<!DOCTYPE r>",
    '<!DOCTYPE r [<!ENTITY e "x">]>',
    '<!DOCTYPE r [<!ENTITY % z SYSTEM "file:///dev/zero"> %z;]>',
    '<!DOCTYPE r SYSTEM "file:///etc/hostname">',
    '<!DOCTYPE r PUBLIC "-//x//EN" "http://127.0.0.1:9/x.dtd">',
]
DECLARATIONS = ["", '<?xml version="1.0"?>', *(f'<?xml version="1.0" encoding="{c}"?>' for c in CODECS)]


def _hostile(genuine: bytes) -> st.SearchStrategy[bytes]:
    """A message (genuine, or random text) behind a random declaration and DTD, in a random encoding."""
    body = st.one_of(st.just(genuine.decode()), st.text(max_size=200), st.just(f"<r>{XINCLUDE}</r>"))
    return st.tuples(st.sampled_from(DECLARATIONS), st.sampled_from(PROLOGS), body, st.sampled_from(CODECS)).map(
        lambda t: (t[0] + t[1] + t[2]).encode(t[3], errors="replace")
    )


def _mutations(genuine: bytes) -> st.SearchStrategy[bytes]:
    """A genuine message with random bytes changed, cut short or spliced: close enough to get deep inside."""
    return st.tuples(st.integers(0, len(genuine) - 1), st.binary(min_size=1, max_size=8), st.booleans()).map(
        lambda t: genuine[: t[0]] + t[1] + (b"" if t[2] else genuine[t[0] + len(t[1]) :])
    )


def check_no_server_error(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code < 500, response.status_code
    assert b"Traceback" not in response.get_data()


POST_ENDPOINTS = [
    ("hub", "/SAML2/SSO", "SAMLRequest"),
    ("hub", "/SAML2/SSO/Response/POST", "SAMLResponse"),
    ("stub_idp", "/stub-idp-one/SAML2/SSO", "SAMLRequest"),
    ("stub_service", "/check-your-paye-tax/SAML2/SSO/Response/POST", "SAMLResponse"),
]


@pytest.mark.parametrize(("app_name", "path", "field"), POST_ENDPOINTS)
def test_post_binding_endpoints_never_fail_with_a_server_error(
    apps: dict[str, Flask], federation: Federation, app_name: str, path: str, field: str
) -> None:
    client = apps[app_name].test_client()
    genuine = to_bytes(service_authn_request(federation))
    if path == "/SAML2/SSO/Response/POST":  # the ACS reads a Response only for a journey: give it one
        assert client.post("/SAML2/SSO", data={"SAMLRequest": base64.b64encode(genuine).decode()}).status_code == 303

    @FUZZ
    @given(
        st.one_of(xml_ish, _mutations(genuine), _hostile(genuine)),
        st.sampled_from(["b64", "raw", "b64-wrapped"]),
        st.text(max_size=100),
    )
    def check(payload: bytes, encoding: str, relay_state: str) -> None:
        value = base64.b64encode(payload).decode() if encoding != "raw" else payload.decode("latin-1")
        if encoding == "b64-wrapped":
            value = "\n".join(value[i : i + 76] for i in range(0, len(value), 76))
        check_no_server_error(client.post(path, data={field: value, "RelayState": relay_state}))

    check()


def test_redirect_binding_never_fails_with_a_server_error(apps: dict[str, Flask], federation: Federation) -> None:
    client = apps["hub"].test_client()
    genuine = to_bytes(service_authn_request(federation, signed=False))

    @FUZZ
    @given(st.one_of(xml_ish, _mutations(genuine), _hostile(genuine)), st.text(max_size=50), st.text(max_size=50))
    def check(payload: bytes, sig_alg: str, signature: str) -> None:
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        deflated = compressor.compress(payload) + compressor.flush()
        query = (
            f"SAMLRequest={quote_plus(base64.b64encode(deflated).decode())}&SigAlg={quote_plus(sig_alg)}"
            f"&Signature={quote_plus(signature)}"
        )
        check_no_server_error(client.get(f"/SAML2/SSO?{query}"))

    check()


def test_matching_service_never_fails_with_a_server_error(apps: dict[str, Flask], federation: Federation) -> None:
    client = apps["stub_service"].test_client()
    genuine = soap_envelope(service_authn_request(federation))

    @FUZZ
    @given(st.one_of(xml_ish, _mutations(genuine), _hostile(genuine.split(b"?>", 1)[1])))
    def check(payload: bytes) -> None:
        for path in ("/hmrc/matching-service/POST", "/hmrc/matching-service/account-creation/POST"):
            check_no_server_error(client.post(path, data=payload, content_type="text/xml"))

    check()


def test_journey_pages_never_fail_with_a_server_error(apps: dict[str, Flask]) -> None:
    client = apps["hub"].test_client()
    paths = [
        "/start",
        "/which-of-these-do-you-have",
        "/choose-a-certified-company",
        "/response-processing",
        "/response-processing/status",
        "/further-information",
        "/further-information/cancel",
        "/return-to-service",
        "/sign-in-failed",
    ]

    @FUZZ
    @given(
        st.sampled_from(paths),
        st.dictionaries(
            st.sampled_from(["csrf_token", "company", "evidence", "cycle3"]), st.text(max_size=40), max_size=4
        ),
        st.text(max_size=60),
    )
    def check(path: str, form: dict[str, str], cookie: str) -> None:
        client.set_cookie("hub_journey", cookie.encode("ascii", "ignore").decode() or "x")
        check_no_server_error(client.post(path, data=form))
        check_no_server_error(client.get(path))

    check()


def test_journey_forms_with_a_live_journey_never_fail_with_a_server_error(
    apps: dict[str, Flask], federation: Federation
) -> None:
    from bs4 import BeautifulSoup

    client = apps["hub"].test_client()
    client.post(
        "/SAML2/SSO", data={"SAMLRequest": base64.b64encode(to_bytes(service_authn_request(federation))).decode()}
    )
    page = BeautifulSoup(client.get("/which-of-these-do-you-have").get_data(as_text=True), "html.parser")
    token = str(page.select_one('input[name="csrf_token"]')["value"])  # type: ignore[index]

    @FUZZ
    @given(
        st.sampled_from(["/which-of-these-do-you-have", "/choose-a-certified-company"]),
        st.lists(st.text(max_size=80), max_size=4),
        st.text(max_size=200),
    )
    def check(path: str, evidence: list[str], company: str) -> None:
        response = client.post(path, data={"csrf_token": token, "evidence": evidence, "company": company})
        check_no_server_error(response)

    check()
