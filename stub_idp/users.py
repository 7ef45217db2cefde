"""The stub identity provider's test users: seeded from ``data/users.json`` and registered by testers.

Seeded users are listed in the README and on the index page. Registered users live in the app's store
(Redis when configured) so that every worker sees them; they keep only a hash of their password.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, model_validator
from werkzeug.security import check_password_hash, generate_password_hash

from federation.store import Store
from federation.verify.loa import LevelOfAssurance
from federation.verify.mds import MatchingDataset

USERS_FILE = Path(__file__).resolve().parent / "data" / "users.json"
REGISTERED_USER_SECONDS = 30 * 24 * 60 * 60
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{2,39}")
_NO_SUCH_USER_HASH = generate_password_hash(secrets.token_urlsafe(16))


class TestUser(BaseModel):
    """A person the stub IDP can vouch for: credentials, the level they were verified to and their dataset."""

    __test__ = False  # not a pytest test class, whatever its name
    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str
    password: str = ""  # seeded users: the published test password
    password_hash: str = ""  # registered users: only a hash is kept
    registration_id: str = ""  # registered users: random, so a re-used username is a new person
    level: LevelOfAssurance
    exercises: str = ""
    dataset: MatchingDataset

    @model_validator(mode="after")
    def _one_kind_of_password(self) -> TestUser:
        if bool(self.password) == bool(self.password_hash):
            raise ValueError("a test user needs either password or password_hash")
        return self


def load_users(path: Path = USERS_FILE) -> dict[str, TestUser]:
    users: list[TestUser] = TypeAdapter(list[TestUser]).validate_python(json.loads(path.read_text(encoding="utf-8")))
    return {user.username: user for user in users}


def check_password(user: TestUser | None, password: str) -> bool:
    """Compare in constant time; an unknown user costs as much as a registered one."""
    if user is None or user.password_hash:
        matches = check_password_hash(user.password_hash if user else _NO_SUCH_USER_HASH, password)
        return matches and user is not None
    return hmac.compare_digest(user.password.encode(), password.encode())


def persistent_id(secret: bytes, idp_entity_id: str, user: TestUser) -> str:
    """Pseudo-random, stable per identity provider and user, and unlinkable across providers."""
    subject = user.username if not user.registration_id else f"{user.username}\n{user.registration_id}"
    return hmac.new(secret, f"{idp_entity_id}\n{subject}".encode(), hashlib.sha256).hexdigest()


def new_registered_user(*, username: str, password: str, level: LevelOfAssurance, dataset: MatchingDataset) -> TestUser:
    """A tester's new user: the password is hashed here and never stored."""
    return TestUser(
        username=username,
        password_hash=generate_password_hash(password),
        registration_id=secrets.token_hex(16),
        level=level,
        exercises="Registered by a tester",
        dataset=dataset,
    )


class UserDirectory:
    """Finds a user among the seeded ones first, then the registered ones; usernames are unique across both."""

    def __init__(self, seeded: dict[str, TestUser], store: Store) -> None:
        self._seeded = seeded
        self._store = store

    @property
    def seeded(self) -> list[TestUser]:
        return list(self._seeded.values())

    def find(self, username: str) -> TestUser | None:
        if username in self._seeded:
            return self._seeded[username]
        if not USERNAME_PATTERN.fullmatch(username):
            return None
        stored = self._store.get(f"user:{username}")
        if stored is None:
            return None
        try:
            return TestUser.model_validate(stored)
        except ValidationError:
            return None

    def is_taken(self, username: str) -> bool:
        return self.find(username) is not None

    def register(self, user: TestUser) -> bool:
        """Keep a new user for 30 days; False if the username is already someone's."""
        if user.username in self._seeded:
            return False
        # Reserve the name first so two testers registering the same name at once cannot both win.
        if not self._store.add_once(f"username:{user.username}", REGISTERED_USER_SECONDS):
            return False
        self._store.put(f"user:{user.username}", user.model_dump(mode="json", by_alias=True), REGISTERED_USER_SECONDS)
        return True
