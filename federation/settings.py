"""Settings every app shares: defaults, then the environment, then what a caller (a test) passes in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from federation.config import DEFAULT_FEDERATION_FILE, DEFAULT_KEYS_DIR


class AppSettings(BaseModel):
    """Settings every app in the federation shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    federation_file: Path = DEFAULT_FEDERATION_FILE
    keys_dir: Path = DEFAULT_KEYS_DIR
    urls: dict[str, str] = Field(default_factory=dict)
    redis_url: str | None = None
    log_level: str = "INFO"
    # Where audit events go: the ida.audit log stream, or a Redis stream (REDIS_URL's server, key <app>:audit).
    audit_sink: Literal["log", "redis"] = "log"
    # How XML signatures and encryption are computed: in process (python-xmlsec), or by forking xmlsec1 the way
    # pysaml2 does by default (kept to compare against; see federation/saml/crypto_xmlsec1.py).
    crypto_backend: Literal["inprocess", "xmlsec1"] = "inprocess"
    testing: bool = False
    # The stub matching service answers this late for anyone born in 1968 (see stub_service.matching_service).
    slow_matching_seconds: float = Field(default=15.0, ge=0, le=120)
    # How often each process writes the dashboard's counters to the store (0: at every event; hub/stats.py).
    stats_flush_seconds: float = Field(default=1.0, ge=0, le=60)

    @classmethod
    def build(cls, overrides: Mapping[str, Any] | None = None) -> AppSettings:
        values: dict[str, Any] = {}
        env = os.environ
        if env.get("FEDERATION_FILE"):
            values["federation_file"] = Path(env["FEDERATION_FILE"])
        if env.get("KEYS_DIR"):
            values["keys_dir"] = Path(env["KEYS_DIR"])
        if env.get("REDIS_URL"):
            values["redis_url"] = env["REDIS_URL"]
        if env.get("SLOW_MATCHING_SECONDS"):
            values["slow_matching_seconds"] = float(env["SLOW_MATCHING_SECONDS"])
        if env.get("AUDIT_SINK"):
            values["audit_sink"] = env["AUDIT_SINK"]
        if env.get("CRYPTO_BACKEND"):
            values["crypto_backend"] = env["CRYPTO_BACKEND"]
        if env.get("STATS_FLUSH_SECONDS"):
            values["stats_flush_seconds"] = float(env["STATS_FLUSH_SECONDS"])
        if env.get("LOG_LEVEL"):
            values["log_level"] = env["LOG_LEVEL"]
        values.update(overrides or {})
        return cls.model_validate(values)
