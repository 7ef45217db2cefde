"""Every XML entry point of every app refuses documents in other encodings and documents with DTD constructs,
quickly, and says why in its log.

The matrix: encodings (UTF-8, UTF-8 with a byte order mark, UTF-16LE/BE with and without one, UTF-32, and a
declared encoding that is not the real one) × constructs (a DOCTYPE, an internal subset with an entity, a
parameter entity naming ``file:///dev/zero``, an external subset naming it, XInclude) × entry points (the hub's
SSO over POST and Redirect, its ACS, the matching service's answer, metadata, the stub IDP's SSO, the stub
service's ACS and matching service). Before the fix a UTF-16 document with the parameter entity kept a thread
reading /dev/zero for ever.
"""

from __future__ import annotations

import base64
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from werkzeug.wrappers import Response

from federation.config import Federation
from federation.errors import MatchingServiceError
from federation.runtime import Runtime, load_runtime
from federation.saml.metadata import MetadataError, read_metadata
from federation.saml.xml import XmlError, _parser, now, parse, to_bytes
from federation.settings import AppSettings
from federation.verify.full_profile import RelyingServiceRequest
from federation.verify.loa import LevelOfAssurance
from hub.cli.selfcheck_metadata import metadata_findings
from hub.matching import MatchSubject, back_channel, build_query, send_query
from keys.pki import Role, ca_file, load_certificate
from tests.factories import service_authn_request
from tests.security.test_matching_service_answers import DATASET, PAIRWISE
from tests.support import UNREACHABLE, federation_file_with, serve, stop, url_of

ROOT = (
    '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_x" Version="2.0">{inner}</samlp:Response>'
)
XINCLUDE = '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/hostname" parse="text"/>'
CONSTRUCTS: dict[str, tuple[str, str]] = {
    "doctype": ("<!DOCTYPE samlp:Response>", ""),
    "internal-subset": ('<!DOCTYPE r [<!ENTITY who "victim">]>', "&who;"),
    "parameter-entity": ('<!DOCTYPE r [<!ENTITY % zero SYSTEM "file:///dev/zero"> %zero;]>', ""),
    "external-subset": ('<!DOCTYPE r SYSTEM "file:///dev/zero">', ""),
    "xinclude": ("", XINCLUDE),
}
BOM_UTF8 = b"\xef\xbb\xbf"


# Bounded, not timed: a parse that followed /dev/zero or expanded entities would run until memory or the
# test's time-out gave out; a refusal takes milliseconds, and this bound leaves room for a loaded 2-core machine
# (one refusal took 1.43 s while a benchmark kept both cores busy).
BOUNDED_SECONDS = 5


def _encoded(text: str, declared: str | None, codec: str, bom: bytes = b"") -> bytes:
    declaration = f'<?xml version="1.0" encoding="{declared}"?>' if declared else ""
    return bom + (declaration + text).encode(codec)


# name → how a document's text becomes bytes: (declared encoding, codec, byte order mark)
ENCODINGS: dict[str, tuple[str | None, str, bytes]] = {
    "utf-8": ("UTF-8", "utf-8", b""),
    "utf-8-bom": ("UTF-8", "utf-8", BOM_UTF8),
    "utf-16le-bom": ("UTF-16", "utf-16-le", b"\xff\xfe"),
    "utf-16be-bom": ("UTF-16", "utf-16-be", b"\xfe\xff"),
    "utf-16le-no-bom": ("UTF-16", "utf-16-le", b""),
    "utf-16be-no-bom": ("UTF-16", "utf-16-be", b""),
    "utf-32": ("UTF-32", "utf-32", b""),  # Python's utf-32 codec writes its own byte order mark
    "declared-utf-16-sent-utf-8": ("UTF-16", "utf-8", b""),
    "declared-latin-1-sent-utf-8": ("ISO-8859-1", "utf-8", b""),
    "declared-utf-8-sent-utf-16": ("UTF-8", "utf-16", b""),
}


def hostile(encoding: str, construct: str) -> bytes:
    prolog, inner = CONSTRUCTS[construct]
    declared, codec, bom = ENCODINGS[encoding]
    return _encoded(prolog + ROOT.format(inner=inner), declared, codec, bom)


# What federation.saml.xml.parse says when it refuses one of these: the refusal must come from the parser's checks.
PARSER_REFUSALS = (
    "document is not UTF-8",
    "characters XML does not allow",
    "declares an encoding other than UTF-8",
    "DOCTYPE or other declaration",
    "XInclude element",
)


# ---- the entry points ------------------------------------------------------------------------------------


class HostileAnswers:
    """A matching service on loopback that answers every query with the document it is given."""

    def __init__(self) -> None:
        self.body = b""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return Response(self.body, mimetype="text/xml")(environ, start_response)


@pytest.fixture(scope="module")
def matcher(keys_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HostileAnswers, Runtime]]:
    answers = HostileAnswers()
    server = serve(answers)
    settings = AppSettings(
        keys_dir=keys_dir,
        urls={**UNREACHABLE, "stub_service": url_of(server)},
        federation_file=federation_file_with(tmp_path_factory.mktemp("federation"), matching_timeout_seconds=2),
    )
    yield answers, load_runtime(settings, store_prefix="hub")
    stop([server])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _deflated(data: bytes) -> str:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return quote_plus(_b64(compressor.compress(data) + compressor.flush()))


def _with_journey(client: FlaskClient, federation: Federation) -> FlaskClient:
    """A citizen's browser with a journey at the hub: the ACS reads a Response only for a journey."""
    started = client.post("/SAML2/SSO", data={"SAMLRequest": _b64(to_bytes(service_authn_request(federation)))})
    assert started.status_code == 303
    return client


Deliver = Callable[[dict[str, Flask], Federation, bytes], int]


def hub_sso_post(apps: dict[str, Flask], _: Federation, data: bytes) -> int:
    return apps["hub"].test_client().post("/SAML2/SSO", data={"SAMLRequest": _b64(data)}).status_code


def hub_sso_redirect(apps: dict[str, Flask], _: Federation, data: bytes) -> int:
    return apps["hub"].test_client().get(f"/SAML2/SSO?SAMLRequest={_deflated(data)}").status_code


def hub_acs(apps: dict[str, Flask], federation: Federation, data: bytes) -> int:
    client = _with_journey(apps["hub"].test_client(), federation)
    return client.post("/SAML2/SSO/Response/POST", data={"SAMLResponse": _b64(data)}).status_code


def stub_idp_sso(apps: dict[str, Flask], _: Federation, data: bytes) -> int:
    return apps["stub_idp"].test_client().post("/stub-idp-one/SAML2/SSO", data={"SAMLRequest": _b64(data)}).status_code


def stub_service_acs(apps: dict[str, Flask], _: Federation, data: bytes) -> int:
    path = "/check-your-paye-tax/SAML2/SSO/Response/POST"
    return apps["stub_service"].test_client().post(path, data={"SAMLResponse": _b64(data)}).status_code


def stub_matching_service(apps: dict[str, Flask], _: Federation, data: bytes) -> int:
    client = apps["stub_service"].test_client()
    return client.post("/hmrc/matching-service/POST", data=data, content_type="text/xml").status_code


HTTP_ENTRY_POINTS: dict[str, Deliver] = {
    "hub SSO POST": hub_sso_post,
    "hub SSO Redirect": hub_sso_redirect,
    "hub ACS": hub_acs,
    "stub IDP SSO": stub_idp_sso,
    "stub service ACS": stub_service_acs,
    "stub matching service": stub_matching_service,
}
MATRIX = [(encoding, construct) for encoding in ENCODINGS for construct in CONSTRUCTS]


def _refusal_logged(caplog: pytest.LogCaptureFixture) -> bool:
    return any(reason in record.getMessage() for record in caplog.records for reason in PARSER_REFUSALS)


@pytest.mark.parametrize("entry_point", sorted(HTTP_ENTRY_POINTS))
def test_every_http_entry_point_refuses_other_encodings_and_dtd_constructs_quickly(
    apps: dict[str, Flask], federation: Federation, caplog: pytest.LogCaptureFixture, entry_point: str
) -> None:
    deliver = HTTP_ENTRY_POINTS[entry_point]
    slow, wrong = [], []
    for encoding, construct in MATRIX:
        caplog.clear()
        with caplog.at_level(logging.INFO):
            started = time.monotonic()
            status = deliver(apps, federation, hostile(encoding, construct))
            seconds = time.monotonic() - started
        if seconds > BOUNDED_SECONDS:
            slow.append((encoding, construct, round(seconds, 2)))
        if status != 400 or not _refusal_logged(caplog):
            wrong.append((encoding, construct, status))
    assert not wrong, wrong
    assert not slow, slow


def test_matching_service_answers_in_other_encodings_or_with_dtd_constructs_are_refused(
    matcher: tuple[HostileAnswers, Runtime],
) -> None:
    answers, runtime = matcher
    service = runtime.federation.file.relying_services[0]
    subject = MatchSubject(
        PAIRWISE, LevelOfAssurance.LEVEL_2, RelyingServiceRequest(service.entity_id, service.default_acs_url, "_r")
    )
    http = back_channel()
    wrong = []
    for encoding, construct in MATRIX:
        answers.body = hostile(encoding, construct)
        query = build_query(runtime=runtime, service=service, subject=subject, dataset=DATASET)
        started = time.monotonic()
        with pytest.raises(MatchingServiceError) as refused:
            send_query(runtime=runtime, service=service, query=query, http=http, subject=subject)
        if time.monotonic() - started > 1 or not any(reason in refused.value.detail for reason in PARSER_REFUSALS):
            wrong.append((encoding, construct, refused.value.detail))
    assert not wrong, wrong


def test_metadata_in_other_encodings_or_with_dtd_constructs_is_refused(federation: Federation, keys_dir: Path) -> None:
    """Both readers: the hub's trusted metadata, and a relying service's metadata in ``ida-hub self-check``."""
    certificates = [federation.cert(federation.file.metadata_signing_certificate)]
    ca = load_certificate(keys_dir / ca_file(Role.RP))
    for encoding, construct in MATRIX:
        data = hostile(encoding, construct)
        with pytest.raises(MetadataError, match="metadata rejected: ") as refused:
            read_metadata(data, certificates, now())
        assert any(reason in str(refused.value) for reason in PARSER_REFUSALS), (encoding, construct)
        _, findings = metadata_findings(data, "service.xml", ca, now())
        assert [finding.code for finding in findings] == ["metadata-unreadable"], (encoding, construct)


# ---- the parser's own layers -----------------------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "construct"), MATRIX)
def test_parse_refuses_every_encoding_and_construct(encoding: str, construct: str) -> None:
    with pytest.raises(XmlError) as refused:
        parse(hostile(encoding, construct))
    assert any(reason in str(refused.value) for reason in PARSER_REFUSALS)


@pytest.mark.parametrize(
    "document",
    [
        b"<a>plain</a>",
        BOM_UTF8 + b"<a>with a byte order mark</a>",
        b'<?xml version="1.0" encoding="utf-8"?><a>declared</a>',
        b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?><a>single quotes</a>",
        "<a>Siân Gruffudd, Łódź, 東京</a>".encode(),
        b"<a><!-- a comment --><![CDATA[<!-- not markup -->]]></a>",
    ],
)
def test_parse_accepts_utf8_documents(document: bytes) -> None:
    assert parse(document).tag == "a"


def test_the_parser_itself_loads_no_file_even_past_the_text_checks() -> None:
    """Defence in depth: were the text checks bypassed, the parser's resolver still refuses ``file://``."""
    for document in (
        b'<!DOCTYPE r [<!ENTITY % zero SYSTEM "file:///dev/zero"> %zero;]><r/>',
        b'<!DOCTYPE r SYSTEM "file:///etc/hostname"><r/>',
    ):
        started = time.monotonic()
        with pytest.raises(XmlError, match="external resource"):
            etree.fromstring(document, parser=_parser())
        assert time.monotonic() - started < BOUNDED_SECONDS
    # A general entity is never expanded at all (and parse() refuses the DOCTYPE that declares it).
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else "localhost"
    root = etree.fromstring(b'<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/hostname">]><r>&e;</r>', parser=_parser())
    assert hostname not in "".join(root.itertext())


def test_the_parser_is_told_the_encoding_and_never_guesses() -> None:
    """Bytes that say UTF-16 in their declaration are read as UTF-8 by the parser itself (and fail there)."""
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring("<?xml version='1.0' encoding='UTF-16'?><a/>".encode("utf-16"), parser=_parser())
