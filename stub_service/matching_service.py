"""Each department's matching service: the hub's SOAP AttributeQuery in, a signed match or created answer out.

``POST /<department>/matching-service/POST`` answers match / no-match (cycles 0, 1 and 3); ``POST
/<department>/matching-service/account-creation/POST`` makes a record from the verified dataset and answers
created / create-failure. Each request is handed that department alone (its entry, its services, its records,
its keys): a query for another department's service is refused. Anything it cannot accept gets a 400 in plain
words, never a traceback.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, abort, request

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
from stub_service.departments import Department
from stub_service.services import services

logger = logging.getLogger(__name__)
blueprint = Blueprint("matching_service", __name__)


def _department(department: str) -> Department:
    found = services().departments.get(department)
    if found is None:
        abort(404)
    return found


def _read(department: Department, url: str, *, account_creation: bool) -> CheckedQuery:
    entry = services().runtime.federation.file.department(department.id)
    cycle3_names: set[Cycle3AttributeName] = {
        service.cycle3_attribute
        for service in (entry.relying_services if entry else [])
        if service.cycle3_attribute is not None
    }
    return read_query(
        request.get_data(),
        runtime=services().runtime,
        entry=department.matching_service,
        url=url,
        cycle3_names=cycle3_names,
        account_creation=account_creation,
        now=now(),
        services=department.service_entity_ids,
        store=department.store,
    )


def _answer(department: Department, query: CheckedQuery, status: str, sub_status: str) -> Response:
    body = answer(
        query=query,
        runtime=services().runtime,
        entry=department.matching_service,
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


@blueprint.post("/<department>/matching-service/POST")
def attribute_query(department: str) -> Response:
    own = _department(department)
    query = _read(own, own.matching_service.url, account_creation=False)
    _maybe_slow(query)
    record = own.matcher.match(query.pairwise_id, query.dataset, query.cycle3)
    cycle = "0, 1" if query.cycle3 is None else "0, 3"
    result = "match" if record else "no-match"
    logger.info("Matching query answered: %s (cycles %s)", result, cycle, extra={"department": own.id})
    if record is None:
        return _answer(own, query, STATUS_RESPONDER, STATUS_NO_MATCH)
    return _answer(own, query, STATUS_SUCCESS, STATUS_MATCH)


@blueprint.post("/<department>/matching-service/account-creation/POST")
def account_creation(department: str) -> Response:
    own = _department(department)
    url = own.matching_service.account_creation_url
    if url is None:
        return Response("This matching service does not create accounts.\n", 404, mimetype="text/plain")
    query = _read(own, url, account_creation=True)
    record = own.matcher.create(query.pairwise_id, query.dataset, query.cycle3)
    logger.info(
        "Account creation query answered: %s (%d attributes requested)",
        "created" if record else "create-failure",
        len(query.requested),
        extra={"department": own.id},
    )
    if record is None:
        return _answer(own, query, STATUS_RESPONDER, STATUS_CREATE_FAILURE)
    return _answer(own, query, STATUS_SUCCESS, STATUS_CREATED)
