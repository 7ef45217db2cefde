"""Personal data sealed at rest: AES-256-GCM under the hub's data keys, bound to the record that holds it.

A sealed value is ``<key ID>.<base64url(nonce ‖ ciphertext ‖ tag)>``: the key ID says which key opens it, so
keys can be rotated (every key in the keys directory opens; one seals). Each value is sealed with associated
data naming where it is kept (``journey:<ID>``, say): moved to another record, it no longer opens. The keys
come from the keys directory (``keys.pki.read_data_keys``) and are never written to the store.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from federation.errors import FederationError
from keys.pki import DATA_KEY_BYTES, DATA_KEY_ID, read_data_keys

NONCE_BYTES = 12


class UnsealError(FederationError):
    """A sealed value that cannot be opened: its key is gone, or it was altered or moved to another record."""

    description = "Your session could not be read. Go back to the service you were using and start again."


class Sealer:
    """Seals with the active data key; opens with any key it holds.

    A random 96-bit nonce per value: NIST SP 800-38D allows 2^32 values under one key with random nonces. The hub
    seals a handful of values for each journey that reaches matching, so a key rotated yearly stays far below that
    at any realistic volume (docs/operations.md, "Data keys").
    """

    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if active not in keys:
            raise ValueError("the active data key must be one of the keys")
        if any(len(key) != DATA_KEY_BYTES or not DATA_KEY_ID.fullmatch(key_id) for key_id, key in keys.items()):
            raise ValueError("data keys are 256-bit, with IDs of letters, digits, - and _")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active = active

    @classmethod
    def from_keys_dir(cls, keys_dir: Path) -> Sealer:
        """The data keys ``python -m keys`` writes; ``keys.pki.DataKeyError`` names the file if one is unusable."""
        keys, active = read_data_keys(keys_dir)
        return cls(keys, active)

    @classmethod
    def ephemeral(cls) -> Sealer:
        """One random key held only in this process: for a repository made without the hub's keys (tests)."""
        return cls({"ephemeral": AESGCM.generate_key(bit_length=256)}, "ephemeral")

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    def seal(self, plaintext: bytes, context: str) -> str:
        """``plaintext`` sealed with the active key, opening only with the same ``context``."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = nonce + self._keys[self.active].encrypt(nonce, plaintext, context.encode())
        return f"{self.active}.{base64.urlsafe_b64encode(sealed).decode('ascii').rstrip('=')}"

    def open(self, sealed: str, context: str) -> bytes:
        """The plaintext of a value ``seal`` made with this ``context``; UnsealError, naming no value, otherwise."""
        key_id, _, body = sealed.partition(".")
        aead = self._keys.get(key_id)
        if aead is None:
            raise UnsealError("sealed with a data key this process does not hold")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError) as exc:
            raise UnsealError("sealed value is not base64") from exc
        if len(raw) < NONCE_BYTES + 16:
            raise UnsealError("sealed value is too short")
        try:
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except InvalidTag as exc:
            raise UnsealError("sealed value does not open: altered, or sealed for another record") from exc
