"""The running apps take up a changed federation file without a restart; a file that fails validation is refused.

Each test runs the three apps on a copy of the federation file (and of the keys), edits the copy as an operator's
command would (a new file put in place atomically) and watches the running apps take it up: a service enrolled
while they run signs a citizen in, a suspended service or company gets a clear page, a broken file is refused
with a logged error while journeys go on, and a journey in flight when the file changes finishes.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from federation.config import DEFAULT_FEDERATION_FILE
from keys.pki import Role, Usage, issue_leaf
from tests.journeys.drive import PAYE, Journey
from tests.support import Citizen, LiveFederation, start_federation, stop

RELOAD_SECONDS = 0.1
NEW_SLUG = "apply-for-a-budgeting-advance"


@pytest.fixture()
def editable(keys_dir: Path, tmp_path: Path) -> Iterator[tuple[LiveFederation, Path]]:
    keys = tmp_path / "keys"
    shutil.copytree(keys_dir, keys)
    federation_file = tmp_path / "federation.yaml"
    shutil.copyfile(DEFAULT_FEDERATION_FILE, federation_file)
    live, servers = start_federation(
        keys, None, federation_file=federation_file, federation_reload_seconds=RELOAD_SECONDS
    )
    yield live, federation_file
    stop(servers)


def edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the federation file as a command would: the whole new file put in place in one rename."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    temporary = path.with_suffix(".new")
    temporary.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    os.replace(temporary, path)


def department(data: dict[str, Any], department_id: str) -> dict[str, Any]:
    return next(d for d in data["departments"] if d["id"] == department_id)


def service(data: dict[str, Any], slug: str) -> dict[str, Any]:
    return next(s for d in data["departments"] for s in d["relying_services"] if f"/{slug}/" in s["entity_id"])


def eventually(check: Callable[[], bool], seconds: float = 5) -> float:
    """Poll ``check`` (each call a request, which is when an app looks at the file) until it holds; how long."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "the apps did not take up the change"
        time.sleep(RELOAD_SECONDS / 2)
    return time.monotonic() - started


def test_a_service_enrolled_while_the_apps_run_signs_a_citizen_in(editable: tuple[LiveFederation, Path]) -> None:
    live, path = editable
    for usage in (Usage.SIGNING, Usage.ENCRYPTION):
        issue_leaf(live.keys_dir, f"{NEW_SLUG}-{usage.value}", Role.RP, usage)
    base = live.urls["stub_service"]
    new_service = {
        "entity_id": f"{base}/{NEW_SLUG}/SAML2/metadata",
        "display_name": "Apply for a Budgeting Advance",
        "service_url": f"{base}/{NEW_SLUG}/",
        "assertion_consumer_urls": [f"{base}/{NEW_SLUG}/SAML2/SSO/Response/POST"],
        "level_of_assurance": "LEVEL_2",
        "signing_certificates": [f"{NEW_SLUG}-signing.crt"],
        "encryption_certificate": f"{NEW_SLUG}-encryption.crt",
    }
    citizen = Citizen()
    assert citizen.get(f"{base}/{NEW_SLUG}/").status == 404
    edit(path, lambda data: department(data, "dwp")["relying_services"].append(new_service))
    eventually(lambda: citizen.get(f"{base}/{NEW_SLUG}/").status == 200)

    journey = Journey(live, service=NEW_SLUG)
    outcome = journey.to_service(journey.sign_in("alice"))
    assert outcome.text("#outcome-status") == "Matched"
    assert outcome.text("#record-reference") == "SP-2001"  # a DWP service: DWP's matching service and records


def test_a_file_that_fails_validation_is_refused_and_the_running_federation_stays(
    editable: tuple[LiveFederation, Path], caplog: pytest.LogCaptureFixture
) -> None:
    live, path = editable
    with caplog.at_level(logging.ERROR, logger="federation.runtime"):
        edit(path, lambda data: service(data, PAYE).update(level_of_assurance="LEVEL_9"))
        eventually(lambda: Citizen().get(live.urls["hub"] + "/").status == 200 and "refused" in caplog.text)
        path.write_text("departments: [this is not\n", encoding="utf-8")  # not even YAML
        eventually(lambda: Citizen().get(live.urls["hub"] + "/").status == 200 and caplog.text.count("refused") >= 2)
    assert "departments[0].relying_services[0].level_of_assurance" in caplog.text
    journey = Journey(live, service=PAYE)
    assert journey.to_service(journey.sign_in("alice")).text("#record-reference") == "PAYE-1001"


def test_a_journey_in_flight_when_the_file_changes_finishes(editable: tuple[LiveFederation, Path]) -> None:
    live, path = editable
    journey = Journey(live, service=PAYE)
    back_to_hub = journey.sign_in_without_waiting("alice")  # at the company, its answer not yet posted
    edit(path, lambda data: service(data, "claim-a-tax-refund").update(display_name="Claim back tax"))
    eventually(lambda: "Claim back tax" in Citizen().get(live.urls["hub"] + "/").text(".govuk-main-wrapper"))
    final = journey.citizen.wait(journey.citizen.submit(back_to_hub, selector="#saml-form"))
    assert journey.to_service(final).text("#record-reference") == "PAYE-1001"


def test_a_suspended_service_gets_a_clear_page_and_the_hub_keeps_no_journey(
    editable: tuple[LiveFederation, Path],
) -> None:
    live, path = editable
    edit(path, lambda data: service(data, PAYE).update(suspended=True))
    citizen = Citizen()
    eventually(lambda: "Check your PAYE tax" not in citizen.get(live.urls["hub"] + "/").text(".govuk-main-wrapper"))
    to_hub = citizen.submit(citizen.get(f"{live.urls['stub_service']}/{PAYE}/"))
    refused = citizen.submit(to_hub, selector="#saml-form")
    assert refused.status == 403
    assert refused.h1 == "You cannot prove your identity online for this service at the moment"
    edit(path, lambda data: service(data, PAYE).update(suspended=False))  # resumed
    eventually(lambda: "Check your PAYE tax" in citizen.get(live.urls["hub"] + "/").text(".govuk-main-wrapper"))
    journey = Journey(live, service=PAYE)
    assert journey.to_service(journey.sign_in("alice")).text("#record-reference") == "PAYE-1001"


def test_a_suspended_company_is_no_longer_offered_and_its_answers_get_a_clear_page(
    editable: tuple[LiveFederation, Path],
) -> None:
    live, path = editable
    journey = Journey(live, service=PAYE)  # chooses Stub IDP One
    back_to_hub = journey.sign_in_without_waiting("alice")

    def suspend(data: dict[str, Any]) -> None:
        next(idp for idp in data["identity_providers"] if "/stub-idp-one/" in idp["entity_id"]).update(suspended=True)

    edit(path, suspend)
    about = live.urls["hub"] + "/about-certified-companies"
    eventually(lambda: "Stub Identity Provider One" not in Citizen().get(about).text(".govuk-main-wrapper"))
    refused = journey.citizen.submit(back_to_hub, selector="#saml-form")
    assert refused.status == 403
    assert refused.h1 == "The company you chose cannot prove your identity at the moment"

    another = Journey(live, service=PAYE, idp="stub-idp-two")
    assert another.to_service(another.sign_in("alice")).text("#record-reference") == "PAYE-1001"
    with pytest.raises(AssertionError):
        Journey(live, service=PAYE).to_idp()  # Stub IDP One is not among the choices any more


def test_a_department_joins_while_the_apps_run_and_tests_against_a_file_of_its_own_records(
    keys_dir: Path, tmp_path: Path
) -> None:
    """A new team's department, before it has a matching service: the stub service plays one for it, matching
    against the team's file of test records (``STUB_SERVICE_RECORDS_DIR``/<department>.json)."""
    keys, records = tmp_path / "keys", tmp_path / "records"
    shutil.copytree(keys_dir, keys)
    records.mkdir()
    shutil.copyfile(DEFAULT_FEDERATION_FILE.parent / "stub_service" / "data" / "hmrc.json", records / "hmrc.json")
    shutil.copyfile(DEFAULT_FEDERATION_FILE.parent / "stub_service" / "data" / "dwp.json", records / "dwp.json")
    (records / "dvla.json").write_text(
        '{"new_reference_prefix": "DL-9", "records": [{"reference": "DL-ALICE-01", "first_name": "Alice", '
        '"surname": "Smith", "date_of_birth": "1980-05-14", "postcode": "SW1A 2AA", "details": {"Licence": "Full"}}]}',
        encoding="utf-8",
    )
    path = tmp_path / "federation.yaml"
    shutil.copyfile(DEFAULT_FEDERATION_FILE, path)
    live, servers = start_federation(
        keys, None, federation_file=path, federation_reload_seconds=RELOAD_SECONDS, records_dir=records
    )
    try:
        for stem, usage in (("dvla-msa", Usage.SIGNING), ("dvla-msa", Usage.ENCRYPTION)):
            issue_leaf(keys, f"{stem}-{usage.value}", Role.RP, usage)
        for usage in (Usage.SIGNING, Usage.ENCRYPTION):
            issue_leaf(keys, f"view-your-driving-licence-{usage.value}", Role.RP, usage)
        base = "${stub_service}"
        dvla = {
            "id": "dvla",
            "name": "Driver and Vehicle Licensing Agency",
            "matching_services": [
                {
                    "entity_id": f"{base}/dvla/matching-service/SAML2/metadata",
                    "url": f"{base}/dvla/matching-service/POST",
                    "signing_certificates": ["dvla-msa-signing.crt"],
                    "encryption_certificate": "dvla-msa-encryption.crt",
                }
            ],
            "relying_services": [
                {
                    "entity_id": f"{base}/view-your-driving-licence/SAML2/metadata",
                    "display_name": "View your driving licence",
                    "service_url": f"{base}/view-your-driving-licence/",
                    "assertion_consumer_urls": [f"{base}/view-your-driving-licence/SAML2/SSO/Response/POST"],
                    "level_of_assurance": "LEVEL_2",
                    "signing_certificates": ["view-your-driving-licence-signing.crt"],
                    "encryption_certificate": "view-your-driving-licence-encryption.crt",
                }
            ],
        }
        edit(path, lambda data: data["departments"].append(dvla))
        citizen = Citizen()
        eventually(lambda: citizen.get(f"{live.urls['stub_service']}/view-your-driving-licence/").status == 200)
        journey = Journey(live, service="view-your-driving-licence")
        outcome = journey.to_service(journey.sign_in("alice"))
        assert outcome.text("#record-reference") == "DL-ALICE-01"
        assert outcome.text("#record-licence") == "Full"
    finally:
        stop(servers)
