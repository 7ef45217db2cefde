"""The department's matching service: the hub's SOAP AttributeQuery in, a signed match or created answer out.

``POST /matching-service/POST`` answers match / no-match (cycles 0, 1 and 3); ``POST
/matching-service/account-creation/POST`` makes a record from the verified dataset and answers created /
create-failure. Anything it cannot accept gets a 400 in plain words, never a traceback.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, request

from federation.config import MatchingServiceEntry
from federation.errors import FederationError
from federation.saml.xml import (
    STATUS_CREATE_FAILURE,
    STATUS_CREATED,
    STATUS_MATCH,
    STATUS_NO_MATCH,
    STATUS_RESPONDER,
    STATUS_SUCCESS,
    now,
)
from federation.verify.cycle3 import Cycle3AttributeName
from stub_service.attribute_queries import CheckedQuery, answer, read_query
from stub_service.matcher import Matcher
from stub_service.services import services

logger = logging.getLogger(__name__)
blueprint = Blueprint("matching_service", __name__)


def _entry() -> MatchingServiceEntry:
    return services().matching_service


def _matcher() -> Matcher:
    return services().matcher


def _read(url: str, *, account_creation: bool) -> CheckedQuery:
    variants = services().variants.values()
    cycle3_names: set[Cycle3AttributeName] = {
        v.entry.cycle3_attribute for v in variants if v.entry.cycle3_attribute is not None
    }
    return read_query(
        request.get_data(),
        runtime=services().runtime,
        entry=_entry(),
        url=url,
        cycle3_names=cycle3_names,
        account_creation=account_creation,
        now=now(),
        services={v.entry.entity_id for v in variants},
    )


def _answer(query: CheckedQuery, status: str, sub_status: str) -> Response:
    runtime, entry = services().runtime, _entry()
    body = answer(
        query=query,
        runtime=runtime,
        entry=entry,
        status=status,
        sub_status=sub_status,
        moment=now(),
    )
    return Response(body, mimetype="text/xml")


@blueprint.errorhandler(FederationError)
def _refuse(error: FederationError) -> tuple[Response, int]:
    """The hub gets a short reason in plain words; the detail goes to the log only."""
    logger.warning("Matching query refused: %s (%s)", type(error).__name__, error.detail)
    text = f"The matching service could not accept this query. {error.description}\n"
    return Response(text, mimetype="text/plain"), error.http_status


SLOW_BIRTH_YEAR = 1968


def _maybe_slow(query: CheckedQuery) -> None:
    """GOV.UK Verify's test service answered slowly for anyone born in 1968, so testers can see the hub's
    waiting page and its time limit; so does this one."""
    if any(d.verified and d.value.year == SLOW_BIRTH_YEAR for d in query.dataset.dates_of_birth):
        runtime = services().runtime
        time.sleep(runtime.settings.slow_matching_seconds)


@blueprint.post("/matching-service/POST")
def attribute_query() -> Response:
    query = _read(_entry().url, account_creation=False)
    _maybe_slow(query)
    record = _matcher().match(query.pairwise_id, query.dataset, query.cycle3)
    cycle = "0, 1" if query.cycle3 is None else "0, 3"
    logger.info("Matching query answered: %s (cycles %s)", "match" if record else "no-match", cycle)
    if record is None:
        return _answer(query, STATUS_RESPONDER, STATUS_NO_MATCH)
    return _answer(query, STATUS_SUCCESS, STATUS_MATCH)


@blueprint.post("/matching-service/account-creation/POST")
def account_creation() -> Response:
    url = _entry().account_creation_url
    if url is None:
        return Response("This matching service does not create accounts.\n", 404, mimetype="text/plain")
    query = _read(url, account_creation=True)
    record = _matcher().create(query.pairwise_id, query.dataset, query.cycle3)
    logger.info(
        "Account creation query answered: %s (%d attributes requested)",
        "created" if record else "create-failure",
        len(query.requested),
    )
    if record is None:
        return _answer(query, STATUS_RESPONDER, STATUS_CREATE_FAILURE)
    return _answer(query, STATUS_SUCCESS, STATUS_CREATED)
