from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from keys.__main__ import main as keys_main
from keys.pki import DEFAULT_LEAVES, CertificateError, Leaf, Role, check_chain, generate, is_complete, load_certificate


def test_every_leaf_chains_to_the_root_through_its_role_ca(keys_dir: Path) -> None:
    for leaf in DEFAULT_LEAVES:
        for usage in leaf.usages:
            cert = check_chain(keys_dir / f"{leaf.name}-{usage}.crt", leaf.role, keys_dir)
            key = cert.public_key()
            assert isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048
            assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)


def test_certificate_from_another_role_is_refused_naming_the_file(keys_dir: Path) -> None:
    path = keys_dir / "stub-idp-one-signing.crt"
    with pytest.raises(CertificateError) as caught:
        check_chain(path, Role.HUB, keys_dir)
    assert caught.value.path == path and "not issued by the hub CA" in str(caught.value)


def test_certificate_from_another_federation_is_refused(keys_dir: Path, tmp_path: Path) -> None:
    generate(tmp_path, [Leaf("hub", Role.HUB)])
    with pytest.raises(CertificateError, match="not issued by the hub CA"):
        check_chain(tmp_path / "hub-signing.crt", Role.HUB, keys_dir)


def test_expired_certificate_is_refused_naming_the_file(tmp_path: Path) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    generate(tmp_path, [Leaf("hub", Role.HUB)], leaf_days=2, now=long_ago)
    path = tmp_path / "hub-signing.crt"
    with pytest.raises(CertificateError, match="expired on") as caught:
        check_chain(path, Role.HUB, tmp_path)
    assert caught.value.path == path


def test_not_yet_valid_certificate_is_refused(tmp_path: Path) -> None:
    generate(tmp_path, [Leaf("hub", Role.HUB)], now=dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
    with pytest.raises(CertificateError, match="not valid until"):
        check_chain(tmp_path / "hub-signing.crt", Role.HUB, tmp_path)


def test_ca_certificate_is_not_accepted_as_an_entity(keys_dir: Path) -> None:
    with pytest.raises(CertificateError):
        check_chain(keys_dir / "hub-ca.crt", Role.HUB, keys_dir)


def test_garbage_file_is_reported_as_not_a_certificate(tmp_path: Path) -> None:
    path = tmp_path / "broken.crt"
    path.write_text("not a certificate")
    with pytest.raises(CertificateError, match="not a PEM X.509 certificate"):
        load_certificate(path)


def test_signing_and_encryption_keys_have_matching_key_usage(keys_dir: Path) -> None:
    signing = load_certificate(keys_dir / "hub-signing.crt").extensions.get_extension_for_class(x509.KeyUsage).value
    encryption = load_certificate(keys_dir / "hub-encryption.crt").extensions.get_extension_for_class(x509.KeyUsage)
    assert signing.digital_signature and not signing.key_encipherment
    assert encryption.value.key_encipherment and not encryption.value.digital_signature


def test_private_keys_are_readable_by_owner_only(keys_dir: Path) -> None:
    assert (keys_dir / "hub-signing.key").stat().st_mode & 0o077 == 0


def test_command_leaves_a_complete_set_alone_unless_forced(tmp_path: Path) -> None:
    assert keys_main(["--dir", str(tmp_path)]) == 0
    assert is_complete(tmp_path)
    before = (tmp_path / "hub-signing.crt").read_bytes()
    keys_main(["--dir", str(tmp_path)])
    assert (tmp_path / "hub-signing.crt").read_bytes() == before
    keys_main(["--dir", str(tmp_path), "--force"])
    assert (tmp_path / "hub-signing.crt").read_bytes() != before
