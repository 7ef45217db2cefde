"""Prometheus metrics: journeys by outcome, IDP and service, latency, crypto counts, errors.

The hub only counts; /metrics is served by the operations app on its internal port, never by the public hub.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub import operations
from tests.journeys.drive import Journey
from tests.support import start_federation

pytestmark = pytest.mark.live  # its tests start the federation (or gunicorn) themselves


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_journeys_and_operations_and_carry_nothing_personal(keys_dir: Path) -> None:
    live, servers = start_federation(keys_dir, None)
    scrape = operations.create_app(runtime=live.apps["hub"].extensions["runtime"]).test_client()
    try:
        hub_url = live.urls["hub"]
        journey = Journey(live)
        before = _samples(scrape.get("/metrics").get_data(as_text=True))
        outcome = journey.to_service(journey.sign_in("alice"))
        journey.citizen.http.post(hub_url + "/SAML2/SSO", data={"SAMLRequest": "garbage"}, timeout=10)
        text = scrape.get("/metrics").get_data(as_text=True)
        public = journey.citizen.http.get(hub_url + "/metrics", timeout=10)
    finally:
        for server in servers:
            server.shutdown()
    assert public.status_code == 404  # the public hub does not serve /metrics
    after = _samples(text)
    service = f"{live.urls['stub_service']}/check-your-paye-tax/SAML2/metadata"
    idp = f"{live.urls['stub_idp']}/stub-idp-one/SAML2/metadata"
    key = ("ida_journeys_total", (("idp", idp), ("outcome", "matched"), ("relying_service", service)))
    assert after[key] - before.get(key, 0) == 1
    signs = ("ida_crypto_operations_total", (("operation", "sign"),))
    assert after[signs] - before.get(signs, 0) >= 5
    assert any(name == "ida_matching_seconds_count" for name, _ in after)
    assert any(
        name == "ida_request_seconds_count" and ("endpoint", "saml.idp_response") in labels for name, labels in after
    )
    assert any(name == "ida_errors_total" and ("error", "InvalidSamlMessageError") in labels for name, labels in after)
    for personal in ("Alice", "Smith", "1980-05-14", outcome.text("#pairwise-id")):
        assert personal not in text
