"""The stub identity provider's test users, seeded from ``data/users.json`` (listed in the README)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter

from federation.loa import LevelOfAssurance
from federation.mds import MatchingDataset

USERS_FILE = Path(__file__).resolve().parent / "data" / "users.json"


class TestUser(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str
    password: str
    level: LevelOfAssurance
    exercises: str = ""
    dataset: MatchingDataset


def load_users(path: Path = USERS_FILE) -> dict[str, TestUser]:
    users = TypeAdapter(list[TestUser]).validate_python(json.loads(path.read_text(encoding="utf-8")))
    return {user.username: user for user in users}


def check_password(user: TestUser | None, password: str) -> bool:
    expected = user.password if user else "no such user"
    return hmac.compare_digest(expected.encode(), password.encode()) and user is not None


def persistent_id(secret: bytes, idp_entity_id: str, username: str) -> str:
    """Pseudo-random, stable per identity provider and user, and unlinkable across providers."""
    return hmac.new(secret, f"{idp_entity_id}\n{username}".encode(), hashlib.sha256).hexdigest()
