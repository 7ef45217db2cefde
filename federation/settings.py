"""Settings every app shares: defaults, then the environment, then what a caller (a test) passes in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from federation.config import DEFAULT_FEDERATION_FILE, DEFAULT_KEYS_DIR

# The environment variables the apps read, and the setting each one sets.
ENVIRONMENT = {
    "FEDERATION_FILE": "federation_file",
    "KEYS_DIR": "keys_dir",
    "REDIS_URL": "redis_url",
    "SLOW_MATCHING_SECONDS": "slow_matching_seconds",
    "AUDIT_SINK": "audit_sink",
    "CRYPTO_BACKEND": "crypto_backend",
    "STATS_FLUSH_SECONDS": "stats_flush_seconds",
    "STUB_SERVICE_RECORDS_DIR": "records_dir",
    "FEDERATION_RELOAD_SECONDS": "federation_reload_seconds",
    "STUB_IDP_CLOCK_OFFSET_SECONDS": "idp_clock_offset_seconds",
    "LOG_LEVEL": "log_level",
}


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
    # The stub service's department records: <dir>/<department id>.json (stub_service/data by default). A team
    # testing its integration before it has a matching service points this at its own test records.
    records_dir: Path | None = None
    # How often, at most, each process looks whether the federation file changed (0: never; a restart then).
    federation_reload_seconds: float = Field(default=1.0, ge=0, le=3600)
    # The stub IDPs' clock, moved this many seconds from the real time: a company whose clock is wrong.
    idp_clock_offset_seconds: float = Field(default=0, ge=-86400, le=86400)

    @classmethod
    def build(cls, overrides: Mapping[str, Any] | None = None) -> AppSettings:
        # pydantic turns each value into the field's type (a path, a number), and says which one is wrong.
        values: dict[str, Any] = {
            field: os.environ[name] for name, field in ENVIRONMENT.items() if os.environ.get(name)
        }
        values.update(overrides or {})
        return cls.model_validate(values)
