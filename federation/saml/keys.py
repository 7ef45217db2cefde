"""Our keys and the federation's public keys, as libxmlsec1 needs them, each parsed once per process.

Both crypto backends use these (``federation.saml.crypto`` and ``federation.saml.crypto_xmlsec1``), so neither
imports the other's module for them.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xmlsec as _xmlsec
from cryptography.hazmat.primitives import serialization

from federation.config import Certificate

# python-xmlsec's bundled stubs hide its constants (Transform, KeyFormat…); use the module untyped.
xmlsec: Any = _xmlsec

_key_lock = threading.Lock()
_public_keys: dict[bytes, xmlsec.Key] = {}


def _bare_public_key(cert: Certificate) -> xmlsec.Key:
    """The certificate's public key alone. Contexts take a copy of their key, certificate and all, on every
    operation (about 45 µs for an X.509 copy); the certificate adds nothing to a key we set ourselves."""
    spki = cert.cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return xmlsec.Key.from_memory(spki, xmlsec.KeyFormat.PEM, None)


def public_key(cert: Certificate) -> xmlsec.Key:
    """Parse a certificate's key once per process; contexts take a copy when it is assigned."""
    with _key_lock:
        key = _public_keys.get(cert.pem)
        if key is None:
            key = _bare_public_key(cert)
            _public_keys[cert.pem] = key
        return key


_managers: dict[bytes, xmlsec.KeysManager] = {}


def recipient_manager(recipient: Certificate) -> xmlsec.KeysManager:
    """A keys manager holding one recipient's public key. Building one costs about 8 ms (libxmlsec sets up an
    X.509 store), so each is built once per process; encryption contexts only read from it."""
    with _key_lock:
        manager = _managers.get(recipient.pem)
        if manager is None:
            manager = xmlsec.KeysManager()
            manager.add_key(_bare_public_key(recipient))
            _managers[recipient.pem] = manager
        return manager


def _x509_certificate_text(cert: Certificate) -> str:
    """The certificate as libxmlsec writes it in ``ds:X509Certificate``: base64 DER, 64 characters a line."""
    encoded = base64.b64encode(cert.cert.public_bytes(serialization.Encoding.DER)).decode("ascii")
    return "".join(encoded[i : i + 64] + "\n" for i in range(0, len(encoded), 64))


@dataclass
class KeyPair:
    """One of our own private keys with its certificate, loaded once.

    The signing key is held without its certificate: a signature context copies its key on every signature,
    and copying the certificate too cost about 90 µs a signature. The in-process backend writes the
    certificate into the signature's KeyInfo itself, exactly as libxmlsec would have.
    """

    key_path: Path
    certificate: Certificate
    _key: xmlsec.Key = field(init=False, repr=False)
    _manager: xmlsec.KeysManager = field(init=False, repr=False)
    _certificate_text: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        pem = self.key_path.read_bytes()
        self._key = xmlsec.Key.from_memory(pem, xmlsec.KeyFormat.PEM, None)
        self._manager = xmlsec.KeysManager()
        self._manager.add_key(xmlsec.Key.from_memory(pem, xmlsec.KeyFormat.PEM, None))
        self._certificate_text = _x509_certificate_text(self.certificate)
