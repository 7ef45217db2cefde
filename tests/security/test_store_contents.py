"""What the hub's store holds at every step of every branch of the journey, in Redis and in process.

After each response the citizen's browser gets (from any of the three apps, redirects included), every key and
value in the store is read: in Redis by SCAN and by type (GET, HGETALL, XRANGE, ...), in process from the
store's own dict. Then, for that snapshot:

- no personal value of the journey's citizen is there in plain text (names, dates of birth, address lines,
  postcodes, the cycle 3 answer, the pairwise identifier, the identity provider's persistent ID), nor the hub's
  data key;
- every sealed value opens, only for its own record, and holds only what the record's stage needs: the dataset
  and the cycle 3 answer only while matching is open, the pairwise identifier until the service is answered,
  the matching service's assertion and the new account's attributes only after a success; a record holding the
  dataset lives at most 15 minutes;

and once the service has been answered nothing of the journey is left, sealed or not.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from federation.sealing import Sealer
from federation.store import MemoryStore
from federation.verify.pairwise import pairwise_identifier
from hub.services import services
from keys.pki import read_data_keys
from stub_idp.users import load_users
from tests.journeys.drive import PAYE, PENSION, REFUND, SELF_ASSESSMENT, Journey, idp_entity
from tests.support import LiveFederation, Page, RedisServer, federation_file_with, start_federation

# What the test expects of each stage, written out here rather than read from hub.journey.
MATCHING_OPEN = {"matching", "creating-account", "awaiting-cycle3"}
SUCCESS = {"matched", "account-created"}
ALLOWED_AT = {
    "dataset": MATCHING_OPEN,
    "cycle3_value": MATCHING_OPEN,
    "pairwise_id": MATCHING_OPEN | SUCCESS,
    "service_assertion": SUCCESS,
    "account_attributes": {"account-created"},
}
DATASET_SECONDS = 15 * 60


@dataclass(frozen=True)
class Branch:
    service: str
    username: str = "alice"
    level: str | None = None
    gpg45_status: str = "DF01"
    cycle3: str | None = None  # the answer to give if asked; None: say "I do not have this"
    idp_outcome: str | None = None  # a failure at the IDP instead of signing in
    ends: str = ""  # the outcome the service shows


BRANCHES = {
    "matched": Branch(PAYE, "alice", ends="Matched"),
    "matched-full-profile": Branch(SELF_ASSESSMENT, "alice", ends="Matched"),
    "no-match": Branch(REFUND, "bob", ends="No match"),
    "cycle3-matched": Branch(PAYE, "erin", cycle3="se 12 34 56 c", ends="Matched"),
    "cycle3-no-match": Branch(PAYE, "bob", cycle3="AB 65 43 21 C", ends="No match"),
    "cycle3-declined": Branch(PAYE, "bob", ends="Not signed in"),
    "account-created-full-profile": Branch(SELF_ASSESSMENT, "bob", ends="Account created"),
    "account-created-after-cycle3": Branch(PENSION, "bob", cycle3="AB 65 43 21 C", ends="Account created"),
    "account-creation-failed": Branch(SELF_ASSESSMENT, "harry", ends="Not signed in"),
    "matching-timed-out": Branch(PAYE, "sam", ends="Not signed in"),
    "level-refused": Branch(PAYE, "carol", ends="Not signed in"),
    "fraud": Branch(PAYE, "dan", level="LEVEL_X", gpg45_status="FI01", ends="Not signed in"),
    "idp-cancelled": Branch(PAYE, idp_outcome="cancel", ends="Not signed in"),
    "idp-authn-failed": Branch(PAYE, idp_outcome="authn-failed", ends="Authentication failed"),
    "idp-pending": Branch(PAYE, idp_outcome="pending", ends="Not signed in"),
    "idp-requester-error": Branch(PAYE, idp_outcome="requester-error", ends="Request error"),
}


@dataclass
class Hub:
    """The live federation, and a way to read every key and value the store holds, with each one's time to live."""

    live: LiveFederation
    dump: Callable[[], dict[str, tuple[Any, float | None]]]

    @property
    def sealer(self) -> Sealer:
        sealer: Sealer = services(self.live.apps["hub"]).sealer
        return sealer


def _text(value: Any) -> Any:
    """Redis's bytes as text, all the way down."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, dict):
        return {_text(k): _text(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_text(item) for item in value]
    return value


def _redis_dump(client: redis.Redis) -> dict[str, tuple[Any, float | None]]:
    """Every key in Redis, read by its type, with its time to live in seconds (None: none)."""
    readers: dict[str, Callable[[bytes], Any]] = {
        "string": client.get,
        "hash": client.hgetall,
        "stream": client.xrange,
        "list": lambda key: client.lrange(key, 0, -1),
        "set": client.smembers,
        "zset": lambda key: client.zrange(key, 0, -1, withscores=True),
    }
    dump = {}
    for key in client.scan_iter(count=1000):
        kind = _text(client.type(key))
        ttl = client.pttl(key)
        dump[key.decode()] = (_text(readers[kind](key)), ttl / 1000 if ttl >= 0 else None)
    return dump


def _memory_dump(store: MemoryStore) -> dict[str, tuple[Any, float | None]]:
    """The in-process store's own dict: every value as held, with its time to live."""
    now = time.monotonic()
    return {
        f"hub:{key}": (json.loads(json.dumps(value)), expires - now)
        for key, (expires, value) in list(store._data.items())
        if expires > now
    }


@pytest.fixture(params=["redis", "in-process"])
def hub(request: pytest.FixtureRequest, keys_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """The federation, new for each branch (an account made for bob is found by the next bob's matching), with
    the hub's wait for matching cut to 4 seconds (sam's answer takes 6; a loaded 2-core machine running the
    xmlsec1 backend has taken more than 2 for an ordinary answer): on Redis with the audit trail in a Redis
    stream, or with each app's in-process store."""
    federation_file = federation_file_with(tmp_path_factory.mktemp("federation"), matching_timeout_seconds=4)
    settings: dict[str, object] = {"federation_file": federation_file, "slow_matching_seconds": 6}
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        server.client.flushall()
        live, servers = start_federation(keys_dir, server.url, audit_sink="redis", **settings)
        yield Hub(live, lambda: _redis_dump(server.client))
    else:
        live, servers = start_federation(keys_dir, None, **settings)
        store = live.apps["hub"].extensions["runtime"].store
        assert isinstance(store, MemoryStore)
        yield Hub(live, lambda: _memory_dump(store))
    for server_ in servers:
        server_.shutdown()


@dataclass
class Snapshot:
    step: str
    hub: dict[str, tuple[Any, float | None]]
    others: list[str] = field(default_factory=list)


def _record_every_step(journey: Journey, hub: Hub) -> list[Snapshot]:
    """A snapshot of the hub's store after every response the citizen's browser gets."""
    snapshots: list[Snapshot] = []

    def snapshot(response: requests.Response, *args: object, **kwargs: object) -> None:
        dump = hub.dump()
        ours = {key: value for key, value in dump.items() if key.startswith("hub:")}
        others = [key for key in dump if not key.startswith("hub:")]
        snapshots.append(Snapshot(f"{response.request.method} {response.url}", ours, others))

    journey.citizen.http.hooks["response"].append(snapshot)
    return snapshots


def _drive(journey: Journey, branch: Branch) -> Page:
    """The branch from the service's start page back to the service's outcome page."""
    if branch.idp_outcome is not None:
        return journey.return_to_service(journey.idp_outcome(branch.idp_outcome))
    page = journey.sign_in(branch.username, level=branch.level, gpg45_status=branch.gpg45_status)
    if page.soup.select_one("#cycle3") is not None:
        assert "You have 15 minutes to answer." in page.text("main form")
        if branch.cycle3 is None:
            cancel = next(f for f in page.soup.select("form") if str(f.get("action", "")).endswith("/cancel"))
            cancel["id"] = "cancel-form"
            page = journey.citizen.submit(page, selector="#cancel-form")
        else:
            page = journey.citizen.wait(journey.citizen.submit(page, {"cycle3": branch.cycle3}))
    if page.soup.select_one("#saml-form") is not None:
        return journey.to_service(page)
    return journey.return_to_service(page)


def _secrets(journey: Journey, branch: Branch, hub: Hub) -> set[str]:
    """The citizen's personal values, as the hub could hold them."""
    data = load_users()[branch.username].dataset.model_dump(mode="json")
    values = {str(item["value"]) for name in ("first_names", "middle_names", "surnames") for item in data[name]}
    values |= {str(item["value"]) for item in data["dates_of_birth"]}
    for address in data["current_addresses"] + data["previous_addresses"]:
        values |= {*address["lines"], *([address["postcode"]] if address["postcode"] else [])}
    if branch.cycle3:
        values |= {branch.cycle3, "".join(branch.cycle3.split()).upper()}
    if branch.idp_outcome is None and journey.idp_answer is not None:
        persistent_id = journey.idp_persistent_id()
        service = hub.live.federation.relying_service(
            f"{hub.live.urls['stub_service']}/{branch.service}/SAML2/metadata"
        )
        assert service is not None
        msa = service.matching_service.entity_id
        values |= {persistent_id, pairwise_identifier(idp_entity(hub.live, journey.idp), msa, persistent_id)}
    return values


def _opened(hub: Hub, key: str, value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A journey record without its sealed value, and that value opened (for the record's own key only)."""
    record = json.loads(value) if isinstance(value, str) else dict(value)
    sealed = record.pop("sealed", None)
    if sealed is None:
        return record, {}
    opened = json.loads(hub.sealer.open(sealed, key.removeprefix("hub:")))
    assert isinstance(opened, dict)
    return record, opened


def _check(snapshot: Snapshot, secrets: set[str], hub: Hub, data_keys: list[str]) -> list[str]:
    """What is wrong with one snapshot of the hub's store (nothing, if the list is empty)."""
    problems = []
    plain: dict[str, Any] = {}
    for key, (value, ttl) in snapshot.hub.items():
        if not key.startswith("hub:journey:"):
            plain[key] = value
            continue
        record, opened = _opened(hub, key, value)
        plain[key] = record
        stage = record["stage"]
        for name in opened:
            if stage not in ALLOWED_AT.get(name, set()):
                problems.append(f"{snapshot.step}: {key} keeps {name} at stage {stage}")
        if "dataset" in opened and (ttl is None or ttl > DATASET_SECONDS):
            problems.append(f"{snapshot.step}: {key} holds the dataset for {ttl} seconds")
        if set(opened) & set(record):
            problems.append(f"{snapshot.step}: {key} holds {set(opened) & set(record)} in plain text too")
    text = json.dumps(plain)
    for value in secrets:
        # Three-letter names (Bob) could turn up by chance in a random ID: look for them as JSON or XML text only.
        needles = [value] if len(value) >= 4 else [f'"{value}"', f">{value}<", f"\\u003e{value}\\u003c"]
        if any(needle in text or needle in " ".join(snapshot.hub) for needle in needles):
            problems.append(f"{snapshot.step}: {value!r} in plain text in the hub's store")
    problems += [f"{snapshot.step}: the data key is in the store" for key in data_keys if key in text]
    if any(not key.startswith(("stub-idp:", "stub-service:")) for key in snapshot.others):
        problems.append(f"{snapshot.step}: keys of no known app: {snapshot.others}")
    return problems


@pytest.mark.parametrize("name", list(BRANCHES))
def test_every_step_keeps_personal_data_sealed_only_while_needed_and_nothing_after(
    hub: Hub, name: str, keys_dir: Path
) -> None:
    branch = BRANCHES[name]
    journey = Journey(hub.live, service=branch.service)
    snapshots = _record_every_step(journey, hub)
    outcome = _drive(journey, branch)
    assert outcome.text("#outcome-status") == branch.ends
    secrets = _secrets(journey, branch, hub)
    keys = read_data_keys(keys_dir)[0].values()
    data_keys = [key.hex() for key in keys] + [base64.b64encode(key).decode() for key in keys]
    assert len(snapshots) >= 8
    problems = [problem for snapshot in snapshots for problem in _check(snapshot, secrets, hub, data_keys)]
    assert not problems, "\n".join(problems)
    if branch.cycle3 is not None or name in ("cycle3-declined", "matching-timed-out"):
        # The citizen waited while matching was open (at the question, or on the waiting page), so the data was
        # there to be found: sealed, and opened by this test. (A quick match concludes before the hub answers.)
        held = [
            _opened(hub, key, value)[1]
            for snapshot in snapshots
            for key, (value, _) in snapshot.hub.items()
            if key.startswith("hub:journey:")
        ]
        assert any("dataset" in opened for opened in held), "no snapshot caught the dataset while matching ran"
        assert any(secret in json.dumps(opened) for opened in held for secret in secrets)
    # The service has been answered: nothing of the journey is left, sealed or not, in any form.
    after = hub.dump()
    left = [key for key in after if key.startswith(("hub:journey:", "hub:outstanding:"))]
    assert not left, left
    everything = json.dumps({key: value for key, (value, _) in after.items() if key.startswith("hub:")})
    assert '"sealed"' not in everything
    assert not [value for value in secrets if len(value) >= 4 and value in everything]
