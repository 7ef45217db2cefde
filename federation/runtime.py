"""What every app needs at run time: its settings, the checked federation, its own keys and its store."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from federation.config import Federation, load_federation
from federation.saml.crypto import use_backend
from federation.saml.keys import KeyPair
from federation.settings import AppSettings
from federation.store import Store, make_store

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: AppSettings
    federation: Federation
    store: Store
    _key_pairs: dict[str, KeyPair] = field(default_factory=dict)

    def key_pair(self, certificate: str) -> KeyPair:
        """Our private key for ``certificate`` (a path relative to the keys directory), loaded once."""
        pair = self._key_pairs.get(certificate)
        if pair is None:
            pair = KeyPair(self.federation.private_key_path(certificate), self.federation.cert(certificate))
            self._key_pairs[certificate] = pair
        return pair

    @property
    def skew(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.federation.hub.clock_skew_seconds)


def load_runtime(settings: AppSettings, store_prefix: str) -> Runtime:
    use_backend(settings.crypto_backend)
    federation = load_federation(settings.federation_file, keys_dir=settings.keys_dir, urls=settings.urls)
    logger.info(
        "Federation loaded from %s: %d identity providers, %d relying services; crypto: %s",
        settings.federation_file,
        len(federation.file.identity_providers),
        len(federation.file.relying_services),
        settings.crypto_backend,
    )
    return Runtime(settings=settings, federation=federation, store=make_store(settings.redis_url, store_prefix))
