"""What the hub's pages say, beyond what axe can check: time limits, where each button goes, why a journey ended,
and the answers the server refuses; and the waiting page's JSON for its script."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from bs4 import BeautifulSoup, Tag
from flask import Flask
from flask.testing import FlaskClient

from federation.config import Federation
from federation.verify.loa import LevelOfAssurance
from federation.verify.mds import MatchingDataset
from hub.journey import Journey, JourneyRepository, Stage
from hub.journey_views import NO_EVIDENCE_CHOSEN, NONE_AND_EVIDENCE_CHOSEN
from hub.services import services
from tests.factories import b64, service_authn_request
from tests.support import check_page

PAYE = "Check your PAYE tax"  # the service service_authn_request speaks for: level 2, cycle 3 (NINO)
IDP_ONE = "Stub Identity Provider One"
DATASET = MatchingDataset.model_validate(
    {"first_names": [{"value": "A"}], "surnames": [{"value": "B"}], "dates_of_birth": [{"value": "1980-01-01"}]}
)
L2 = LevelOfAssurance.LEVEL_2


@pytest.fixture()
def journeys(app: Flask) -> JourneyRepository:
    return services(app).journeys


@pytest.fixture()
def started(client: FlaskClient, federation: Federation) -> Callable[[], Journey]:
    """Start a journey for Check your PAYE tax in ``client``; the function returns the journey as stored now."""
    response = client.post("/SAML2/SSO", data={"SAMLRequest": b64(service_authn_request(federation))})
    assert response.status_code == 303
    cookie = client.get_cookie("hub_journey")
    assert cookie is not None
    hub_journeys = services(client.application).journeys
    return lambda: hub_journeys.load(cookie.value)


def _idp_one(federation: Federation) -> str:
    return next(idp.entity_id for idp in federation.file.identity_providers if idp.display_name == IDP_ONE)


def _moved(journeys: JourneyRepository, journey: Journey, move: Callable[[Journey], object]) -> Journey:
    move(journey)
    journeys.save(journey)
    return journey


def _matching(journeys: JourneyRepository, journey: Journey, federation: Federation) -> Journey:
    """The journey as the identity provider's answer leaves it: at IDP one, identity confirmed, matching."""
    journey.choose_company(_idp_one(federation), "_idp_request")
    journey.idp_answered(Stage.MATCHING, pairwise_id="p" * 64, level=L2, dataset=DATASET)
    journeys.save(journey)
    return journey


def _at_idp_outcome(journeys: JourneyRepository, journey: Journey, federation: Federation, stage: Stage) -> Journey:
    journey.choose_company(_idp_one(federation), "_idp_request")
    return _moved(journeys, journey, lambda j: j.idp_answered(stage))


def _text(node: Tag | None) -> str:
    assert node is not None
    return node.get_text(" ", strip=True)


def _main(soup: BeautifulSoup) -> str:
    return _text(soup.select_one("main"))


# ---- the start page and the questions --------------------------------------------------------------------------


def test_start_page_says_how_long_the_citizen_has_and_starts_with_start_now(
    client: FlaskClient, started: Callable[[], Journey], federation: Federation
) -> None:
    started()
    soup = check_page(client.get("/start"))
    minutes = federation.hub.journey_minutes
    assert _text(soup.select_one("#time-limit")) == (
        f"You have {minutes} minutes to finish, from when {PAYE} sent you here. After that, for your security, "
        "you will need to start again."
    )
    button = soup.select_one("main a.govuk-button")
    assert button is not None and _text(button) == "Start now" and "govuk-button--start" in button["class"]
    assert button["href"] == "/which-of-these-do-you-have"


def test_evidence_question_refuses_none_of_these_with_another_answer(
    client: FlaskClient, started: Callable[[], Journey]
) -> None:
    """GOV.UK Frontend unticks the others when 'None of these' is ticked; without JavaScript both arrive."""
    csrf = started().csrf_token
    response = client.post("/which-of-these-do-you-have", data={"csrf_token": csrf, "evidence": ["photo_id", "none"]})
    soup = check_page(response, 400)
    assert _text(soup.select_one(".govuk-error-summary a[href='#evidence']")) == NONE_AND_EVIDENCE_CHOSEN
    assert NONE_AND_EVIDENCE_CHOSEN in _text(soup.select_one("#evidence-error"))
    assert {str(box["value"]) for box in soup.select("input[name=evidence][checked]")} == {"photo_id", "none"}
    assert started().evidence is None  # the contradiction was not recorded

    nothing = check_page(client.post("/which-of-these-do-you-have", data={"csrf_token": csrf}), 400)
    assert _text(nothing.select_one(".govuk-error-summary a[href='#evidence']")) == NO_EVIDENCE_CHOSEN
    none_alone = client.post("/which-of-these-do-you-have", data={"csrf_token": csrf, "evidence": ["none"]})
    assert none_alone.status_code == 303 and started().evidence == []


def test_choose_page_says_the_citizen_leaves_gov_uk_and_comes_back(
    client: FlaskClient, started: Callable[[], Journey]
) -> None:
    started()
    soup = check_page(client.get("/choose-a-certified-company"))
    next_step = _text(soup.select_one("#what-happens-next"))
    assert "You will leave GOV.UK and go to the company’s website to prove your identity." in next_step
    assert f"the company will send you back here and we will take you to {PAYE}" in next_step
    assert _text(soup.select_one("form .govuk-button")) == "Continue"  # no company named before one is chosen


def test_hand_over_to_the_company_names_it_and_says_what_happens_there(
    client: FlaskClient, started: Callable[[], Journey], federation: Federation
) -> None:
    csrf = started().csrf_token
    response = client.post("/choose-a-certified-company", data={"csrf_token": csrf, "company": _idp_one(federation)})
    soup = check_page(response)
    assert _text(soup.select_one("h1")) == f"Continue to {IDP_ONE}"
    assert _text(soup.select_one("#saml-form .govuk-button")) == f"Continue to {IDP_ONE}"
    paragraphs = [_text(p) for p in soup.select("main p")]
    assert paragraphs == [
        f"You chose {IDP_ONE} to prove your identity. It will not be told which service you are using.",
        f"You will leave GOV.UK for {IDP_ONE}’s website. When you have finished there, {IDP_ONE} will send you "
        "back to GOV.UK.",
    ]


# ---- the waiting page and its script's question ----------------------------------------------------------------


def test_waiting_page_reloads_only_without_javascript(
    client: FlaskClient, started: Callable[[], Journey], journeys: JourneyRepository, federation: Federation
) -> None:
    _matching(journeys, started(), federation)
    response = client.get("/response-processing")
    soup = check_page(response)
    assert "Refresh" not in response.headers  # a browser running scripts would honour it too
    assert response.headers["Cache-Control"] == "no-store"
    refresh = soup.select("noscript meta[http-equiv='refresh']")
    assert [str(meta["content"]) for meta in refresh] == ["2;url=/response-processing"]
    assert refresh[0].find_parent("head") is not None
    assert len(soup.select("meta[http-equiv='refresh']")) == 1  # none outside <noscript>
    waiting = soup.select_one("#waiting-page")
    assert waiting is not None and waiting["data-status-url"] == "/response-processing/status"
    region = soup.select("[role='status'], [aria-live]")
    assert [node.get("id") for node in region] == ["waiting-status"]  # the one live region
    assert _text(soup.select_one("main a[href='/response-processing']")) == "Check again"
    assert federation.hub.matching_timeout_seconds == 10
    assert "If it takes more than 10 seconds, we will stop waiting and tell you what you can do." in _main(soup)
    script = soup.select_one("script[src='/static/waiting-page.js']")
    assert script is not None and script.has_attr("defer") and not script.has_attr("nonce")  # same-origin file
    served = client.get("/static/waiting-page.js")
    assert served.status_code == 200 and served.mimetype in ("text/javascript", "application/javascript")
    assert "aria-live" not in served.get_data(as_text=True)  # it speaks through the page's region, adds none
    served.close()


def test_waiting_status_says_whether_matching_has_answered_and_where_to_go(
    client: FlaskClient, started: Callable[[], Journey], journeys: JourneyRepository, federation: Federation
) -> None:
    journey = _matching(journeys, started(), federation)
    waiting = client.get("/response-processing/status")
    assert waiting.status_code == 200 and waiting.mimetype == "application/json"
    assert waiting.headers["Cache-Control"] == "no-store"
    assert waiting.get_json() == {"answered": False, "next": "/response-processing"}

    _moved(journeys, journey, lambda j: j.matching_answered(Stage.AWAITING_CYCLE3))
    assert client.get("/response-processing/status").get_json() == {"answered": True, "next": "/further-information"}


def test_waiting_status_reaches_the_time_out_exit_as_the_page_does(
    client: FlaskClient, started: Callable[[], Journey], journeys: JourneyRepository, federation: Federation
) -> None:
    journey = _matching(journeys, started(), federation)
    journey.attempt_started = time.time() - federation.hub.matching_timeout_seconds - 5  # the wait has run out
    journeys.save(journey)
    answer = client.get("/response-processing/status").get_json()
    assert answer == {"answered": True, "next": "/could-not-check-your-details"}
    assert started().stage is Stage.MATCHING_ERROR
    exit_page = check_page(client.get(answer["next"]))
    assert _text(exit_page.select_one("h1")) == "Sorry, there is a problem with the service"
    assert exit_page.select_one("form[action='/return-to-service'] .govuk-button") is not None  # a way on


def test_waiting_status_without_a_journey_answers_as_the_page_would(client: FlaskClient) -> None:
    response = client.get("/response-processing/status")
    assert _text(check_page(response, 400).select_one("h1")) == "You need to start again"


# ---- cycle 3 ---------------------------------------------------------------------------------------------------


def _at_cycle3(journeys: JourneyRepository, journey: Journey, federation: Federation) -> Journey:
    return _moved(
        journeys, _matching(journeys, journey, federation), lambda j: j.matching_answered(Stage.AWAITING_CYCLE3)
    )


def test_cycle3_page_has_a_back_link_and_says_why_and_how_long_before_the_field(
    client: FlaskClient, started: Callable[[], Journey], journeys: JourneyRepository, federation: Federation
) -> None:
    _at_cycle3(journeys, started(), federation)
    soup = check_page(client.get("/further-information"))
    back = soup.select_one("a.govuk-back-link")
    assert back is not None and back["href"] == "/choose-a-certified-company"
    assert _text(soup.select_one("h1")) == "What is your National Insurance number?"
    order = [node.get("id") for node in soup.select("h1, #cycle3-reason, #cycle3-time-left, input#cycle3")]
    assert order == [None, "cycle3-reason", "cycle3-time-left", "cycle3"]
    assert _text(soup.select_one("#cycle3-reason")).startswith(
        f"{IDP_ONE} has confirmed your identity, but {PAYE} could not find your record"
    )
    assert _text(soup.select_one("#cycle3-time-left")).startswith("You have 15 minutes to answer.")
    label = soup.select_one("label[for='cycle3']")
    assert _text(label) == "What is your National Insurance number?"  # the field's name, read with it


def test_cycle3_time_left_is_what_remains_of_the_journey_when_that_is_less(
    client: FlaskClient, started: Callable[[], Journey], journeys: JourneyRepository, federation: Federation
) -> None:
    journey = _at_cycle3(journeys, started(), federation)
    journey.started_at = time.time() - federation.hub.journey_minutes * 60 + 4 * 60 + 30  # 4½ minutes left
    journeys.save(journey)
    time_left = check_page(client.get("/further-information")).select_one("#cycle3-time-left")
    assert _text(time_left).startswith("You have 5 minutes to answer.")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("", "Enter your National Insurance number"),
        ("qq 12 34 56 c", "Enter your own National Insurance number, not the example"),
        ("QQ123456C", "Enter your own National Insurance number, not the example"),
        ("QQ 12 34 56 A", "Enter a National Insurance number in the correct format"),
        ("SE 12 34 56", "Enter a National Insurance number in the correct format"),
    ],
)
def test_cycle3_answer_is_refused_with_a_message_that_says_what_is_wrong(
    client: FlaskClient,
    started: Callable[[], Journey],
    journeys: JourneyRepository,
    federation: Federation,
    answer: str,
    message: str,
) -> None:
    journey = _at_cycle3(journeys, started(), federation)
    response = client.post("/further-information", data={"csrf_token": journey.csrf_token, "cycle3": answer})
    soup = check_page(response, 400)
    assert _text(soup.select_one(".govuk-error-summary a[href='#cycle3']")) == message
    assert started().stage is Stage.AWAITING_CYCLE3


def test_back_from_cycle3_lets_the_citizen_choose_another_company_and_forgets_the_first(
    client: FlaskClient, started: Callable[[], Journey], journeys: JourneyRepository, federation: Federation
) -> None:
    journey = _at_cycle3(journeys, started(), federation)
    choose = check_page(client.get("/choose-a-certified-company"))
    assert _text(choose.select_one("h1")) == "Choose a certified company"
    other = next(idp.entity_id for idp in federation.file.identity_providers if idp.display_name != IDP_ONE)
    handed_over = client.post("/choose-a-certified-company", data={"csrf_token": journey.csrf_token, "company": other})
    assert check_page(handed_over).select_one("#saml-form") is not None
    now = started()
    assert now.stage is Stage.AT_IDP and now.idp_entity_id == other
    assert now.dataset is None and now.pairwise_id is None  # what the first company proved has gone


# ---- exit pages and the way back to the service ----------------------------------------------------------------


def test_requester_error_has_its_own_title_says_what_happened_and_offers_another_company(
    client: FlaskClient, started: Callable[[], Journey], journeys: JourneyRepository, federation: Federation
) -> None:
    _at_idp_outcome(journeys, started(), federation, Stage.REQUESTER_ERROR)
    soup = check_page(client.get("/something-went-wrong"))
    assert _text(soup.select_one("h1")) == f"A technical problem stopped {IDP_ONE} checking your identity"
    assert f"{IDP_ONE} could not deal with the request we sent it" in _main(soup)
    assert "This was not caused by anything you did." in _main(soup)
    assert soup.select_one('main a.govuk-button[href="/choose-a-certified-company"]') is not None
    assert _text(soup.select_one("form[action='/return-to-service'] button.govuk-button")) == f"Go back to {PAYE}"


def test_level_refused_says_why_in_plain_english(
    client: FlaskClient, started: Callable[[], Journey], journeys: JourneyRepository, federation: Federation
) -> None:
    _at_idp_outcome(journeys, started(), federation, Stage.LEVEL_REFUSED)
    soup = check_page(client.get("/identity-not-proved-to-the-level-needed"))
    assert "level" not in _main(soup).lower()
    assert f"{PAYE} needs a more thorough check of your identity than {IDP_ONE} gave" in _main(soup)


def test_hand_over_to_the_service_names_it_and_says_what_comes_next(
    client: FlaskClient, started: Callable[[], Journey], journeys: JourneyRepository, federation: Federation
) -> None:
    journey = _at_idp_outcome(journeys, started(), federation, Stage.CANCELLED)
    soup = check_page(client.post("/return-to-service", data={"csrf_token": journey.csrf_token}))
    assert _text(soup.select_one("h1")) == f"Returning you to {PAYE}"
    assert _text(soup.select_one("#saml-form .govuk-button")) == f"Continue to {PAYE}"
    assert [_text(p) for p in soup.select("main p")] == [
        f"You will now go back to {PAYE}. It will tell you what happens next."
    ]


# ---- pages without a journey -----------------------------------------------------------------------------------


def test_page_not_found_says_to_check_a_pasted_address_and_links_to_the_home_page(client: FlaskClient) -> None:
    soup = check_page(client.get("/no-such-page"), 404)
    assert "If you pasted the web address, check you copied the entire address." in _main(soup)
    home = soup.select_one("main a[href='/']")
    assert home is not None and _text(home) == "Go to the GOV.UK Sign in home page"


def test_start_again_says_why_journeys_end_and_always_offers_a_way_on(client: FlaskClient) -> None:
    """Without the hub_service cookie the hub does not know the citizen's service: its home page lists them."""
    soup = check_page(client.get("/choose-a-certified-company"), 400)
    assert _text(soup.select_one("h1")) == "You need to start again"
    reasons = [_text(item) for item in soup.select("#why-journeys-end + ul li")]
    assert reasons == [
        "90 minutes after it started",
        "15 minutes after we asked you for one more detail, if you did not give it",
        "when we have sent you back to the service you were using",
    ]
    assert soup.select_one("main a.govuk-button") is None  # no service to go back to
    home = soup.select_one("main a#find-your-service")
    assert home is not None and home["href"] == "/" and _text(home) == "Find the service you were using"
    assert check_page(client.get(str(home["href"]))).select("#services li a")  # which lists the services


def test_start_again_with_the_service_cookie_sends_the_citizen_back_to_it(
    client: FlaskClient, started: Callable[[], Journey]
) -> None:
    started()
    client.delete_cookie("hub_journey")  # as when the journey has gone
    soup = check_page(client.get("/start"), 400)
    button = soup.select_one("main a.govuk-button")
    assert button is not None and _text(button) == f"Go back to {PAYE}"
    assert soup.select_one("#why-journeys-end") is not None
    assert soup.select_one("#find-your-service") is None
