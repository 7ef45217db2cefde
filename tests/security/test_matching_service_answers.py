"""The hub refuses any answer from a matching service that is not a clear, signed answer to its own query.

The matching service here is a hostile one the test runs on loopback (a party we do not control), so the
hub's real back-channel code is exercised over real HTTP.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from werkzeug.wrappers import Request, Response

from federation.config import Profile
from federation.errors import MatchingServiceError
from federation.runtime import Runtime, load_runtime
from federation.saml.build import Subject, assertion, response, soap_envelope
from federation.saml.checks import soap_body
from federation.saml.xml import (
    MAX_MESSAGE_BYTES,
    STATUS_MATCH,
    STATUS_NO_MATCH,
    STATUS_RESPONDER,
    STATUS_SUCCESS,
    now,
    q,
)
from federation.settings import AppSettings
from federation.verify.full_profile import RelyingServiceRequest, read_request_extension
from federation.verify.loa import LevelOfAssurance
from federation.verify.mds import MatchingDataset
from hub.matching import MatchAnswer, MatchResult, MatchSubject, back_channel, build_query, send_query
from tests.factories import key_pair
from tests.support import UNREACHABLE, federation_file_with, serve, stop, url_of

PAIRWISE = "a" * 64
HTTP = back_channel()  # one pool for every query here, as a hub worker has: a bad answer must not spoil it
Answer = Callable[[etree._Element, Runtime], "bytes | tuple[int, bytes]"]
DATASET = MatchingDataset.model_validate(
    {"first_names": [{"value": "Alice"}], "surnames": [{"value": "Smith"}], "dates_of_birth": [{"value": "1980-05-14"}]}
)


class HostileMatcher:
    def __init__(self) -> None:
        self.answer: Answer | None = None
        self.runtime: Runtime | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        assert self.answer is not None and self.runtime is not None
        result = self.answer(soap_body(request.get_data()), self.runtime)
        status, body = result if isinstance(result, tuple) else (200, result)
        return Response(body, status=status, mimetype="text/xml")(environ, start_response)


@pytest.fixture(scope="module")
def matcher(keys_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileMatcher]:
    app = HostileMatcher()
    server = serve(app)
    settings = AppSettings(
        keys_dir=keys_dir,
        urls={**UNREACHABLE, "stub_service": url_of(server)},
        federation_file=federation_file_with(tmp_path_factory.mktemp("federation"), matching_timeout_seconds=1),
    )
    app.runtime = load_runtime(settings, store_prefix="hub")
    yield app
    stop([server])


def _send(matcher: HostileMatcher, answer: Answer, profile: Profile = Profile.SIMPLE) -> MatchAnswer:
    """Ask the hostile matcher, for a service of ``profile``, through the hub's real back channel."""
    matcher.answer = answer
    runtime = matcher.runtime
    assert runtime is not None
    service = next(s for s in runtime.federation.file.relying_services if s.profile is profile)
    request = RelyingServiceRequest(service.entity_id, service.default_acs_url, "_service_request")
    subject = MatchSubject(PAIRWISE, LevelOfAssurance.LEVEL_2, request)
    query = build_query(runtime=runtime, service=service, subject=subject, dataset=DATASET)
    return send_query(runtime=runtime, service=service, query=query, http=HTTP, subject=subject)


def _ask(matcher: HostileMatcher, answer: Answer) -> MatchResult:
    return _send(matcher, answer).result


def _signed_answer(
    *,
    status: str = STATUS_SUCCESS,
    sub_status: str | None = STATUS_MATCH,
    signer: str = "hmrc-msa-signing.crt",
    issuer: str | None = None,
    in_response_to: str | None = None,
    sign: bool = True,
) -> Answer:
    def answer(query: etree._Element, runtime: Runtime) -> bytes:
        from federation.saml.crypto import sign as sign_element

        service = runtime.federation.file.relying_services[0]
        message = response(
            issuer=issuer or service.matching_service.entity_id,
            destination=None,
            in_response_to=in_response_to or query.get("ID", ""),
            moment=now(),
            status=status,
            sub_status=sub_status,
        )
        if sign:
            sign_element(message, key_pair(runtime.federation, signer))
        return soap_envelope(message)

    return answer


def test_genuine_match_and_no_match_are_understood(matcher: HostileMatcher) -> None:
    assert _ask(matcher, _signed_answer()) is MatchResult.MATCH
    assert _ask(matcher, _signed_answer(status=STATUS_RESPONDER, sub_status=STATUS_NO_MATCH)) is MatchResult.NO_MATCH


@pytest.mark.parametrize(
    "answer",
    [
        _signed_answer(sign=False),
        _signed_answer(signer="check-your-paye-tax-signing.crt"),
        _signed_answer(signer="hub-signing.crt"),
        _signed_answer(issuer="https://another-matcher.example"),
        _signed_answer(in_response_to="_someone_elses_query"),
        _signed_answer(status=STATUS_SUCCESS, sub_status=STATUS_NO_MATCH),
        _signed_answer(status=STATUS_SUCCESS, sub_status="urn:example:maybe"),
        _signed_answer(status=STATUS_RESPONDER, sub_status=STATUS_MATCH),
        lambda query, runtime: (500, b"<oops/>"),
        lambda query, runtime: b"not xml at all",
        lambda query, runtime: soap_envelope(query),
        lambda query, runtime: b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        lambda query, runtime: (302, b""),
        lambda query, runtime: _signed_answer()(query, runtime) + b" " * MAX_MESSAGE_BYTES,  # type: ignore[operator]
    ],
    ids=[
        "unsigned",
        "signed-by-the-service-key",
        "signed-by-the-hub-key",
        "wrong-issuer",
        "answers-another-query",
        "success-with-no-match",
        "unknown-status",
        "responder-with-match",
        "http-500",
        "not-xml",
        "echoes-the-query",
        "xxe",
        "redirect",
        "over-the-size-limit",
    ],
)
def test_answer_that_is_not_a_clear_signed_answer_is_refused(matcher: HostileMatcher, answer: Answer) -> None:
    with pytest.raises(MatchingServiceError):
        _ask(matcher, answer)
    assert _ask(matcher, _signed_answer()) is MatchResult.MATCH  # and the next query still gets through


def test_slow_matching_service_is_abandoned_at_the_configured_time(matcher: HostileMatcher) -> None:
    runtime = matcher.runtime
    assert runtime is not None
    limit = runtime.federation.hub.matching_timeout_seconds

    def slow(query: etree._Element, runtime: Runtime) -> bytes:
        time.sleep(limit + 2)
        return _signed_answer()(query, runtime)  # type: ignore[return-value]

    started = time.monotonic()
    with pytest.raises(MatchingServiceError, match="timeout"):
        _ask(matcher, slow)
    assert time.monotonic() - started < limit + 3  # abandoned at the limit, not when the answer came


# The full profile: the matching service's own assertion goes to the service, so the hub checks it as the
# service will (federation/verify/full_profile.py) before passing it on.
def _full_answer(
    *,
    count: int = 1,
    encrypted_to: str = "hub-encryption.crt",
    signer: str = "hmrc-msa-signing.crt",
    **change: str,
) -> Answer:
    """A signed match answer with ``count`` assertions for the service; ``change`` alters the assertion."""

    def answer(query: etree._Element, runtime: Runtime) -> bytes:
        from federation.saml.crypto import encrypt_assertion
        from federation.saml.crypto import sign as sign_element

        request = read_request_extension(query)
        assert request is not None, "a full-profile query names the service request"
        service = next(s for s in runtime.federation.file.relying_services if s.profile is Profile.FULL)
        msa = service.matching_service
        message = response(
            issuer=msa.entity_id,
            destination=None,
            in_response_to=query.get("ID", ""),
            moment=now(),
            status=STATUS_SUCCESS,
            sub_status=STATUS_MATCH,
        )
        fields = {
            "audience": request.entity_id,
            "recipient": request.acs_url,
            "in_response_to": request.request_id,
            "name_id": PAIRWISE,
            "level": LevelOfAssurance.LEVEL_2.uri,
            "issuer": msa.entity_id,
            **change,
        }
        for _ in range(count):
            item = assertion(
                issuer=fields["issuer"],
                subject=Subject(fields["name_id"], fields["in_response_to"], fields["recipient"]),
                audience=fields["audience"],
                moment=now(),
                lifetime=dt.timedelta(minutes=5),
                level=fields["level"],
            )
            sign_element(item, key_pair(runtime.federation, signer))
            if encrypted_to:
                message.append(encrypt_assertion(item, runtime.federation.cert(encrypted_to)))
            else:
                message.append(item)
        sign_element(message, key_pair(runtime.federation, "hmrc-msa-signing.crt"))
        return soap_envelope(message)

    return answer


def test_full_profile_match_passes_on_the_matching_services_signed_assertion(matcher: HostileMatcher) -> None:
    answer = _send(matcher, _full_answer(), Profile.FULL)
    assert answer.result is MatchResult.MATCH and answer.service_assertion is not None
    assert matcher.runtime is not None
    msa = matcher.runtime.federation.file.relying_services[2].matching_service
    assert etree.fromstring(answer.service_assertion).findtext(q("saml", "Issuer")) == msa.entity_id


@pytest.mark.parametrize(
    "answer",
    [
        _full_answer(count=0),
        _full_answer(count=2),
        _full_answer(encrypted_to=""),
        _full_answer(encrypted_to="check-your-paye-tax-encryption.crt"),
        _full_answer(signer="hub-signing.crt"),
        _full_answer(signer="check-your-paye-tax-signing.crt"),
        _full_answer(issuer="https://another-matcher.example"),
        _full_answer(audience="https://another-service.example"),
        _full_answer(recipient="https://another-service.example/acs"),
        _full_answer(in_response_to="_another_request"),
        _full_answer(name_id="b" * 64),
        _full_answer(level=LevelOfAssurance.LEVEL_1.uri),
    ],
    ids=[
        "no-assertion",
        "two-assertions",
        "not-encrypted",
        "encrypted-to-the-service",
        "signed-by-the-hub-key",
        "signed-by-the-service-key",
        "issued-by-another",
        "for-another-audience",
        "for-another-acs",
        "answers-another-request",
        "about-someone-else",
        "another-level",
    ],
)
def test_full_profile_assertion_not_fit_for_the_service_is_refused(matcher: HostileMatcher, answer: Answer) -> None:
    with pytest.raises(MatchingServiceError):
        _send(matcher, answer, Profile.FULL)
