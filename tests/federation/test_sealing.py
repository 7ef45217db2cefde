"""Sealing personal data at rest: AES-256-GCM bound to its record, data key files, and rotating keys."""

from __future__ import annotations

import base64
import datetime as dt
import stat
from pathlib import Path

import pytest

from federation.sealing import Sealer, UnsealError
from keys.__main__ import main as keys_main
from keys.pki import DATA_KEYS_DIR, DataKeyError, new_data_key, read_data_keys

JAN = dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC)
FEB = dt.datetime(2026, 2, 5, 9, 30, tzinfo=dt.UTC)


def test_a_sealed_value_opens_only_for_the_record_it_was_sealed_for() -> None:
    sealer = Sealer.ephemeral()
    sealed = sealer.seal(b'{"surname":"Smith"}', "journey:one")
    assert "Smith" not in sealed
    assert sealer.open(sealed, "journey:one") == b'{"surname":"Smith"}'
    with pytest.raises(UnsealError, match="another record"):
        sealer.open(sealed, "journey:two")


def test_the_same_value_sealed_twice_looks_different() -> None:
    sealer = Sealer.ephemeral()
    assert sealer.seal(b"Smith", "journey:one") != sealer.seal(b"Smith", "journey:one")


@pytest.mark.parametrize("damage", ["flip", "truncate", "not-base64", "no-key-id", "empty"])
def test_an_altered_value_does_not_open(damage: str) -> None:
    sealer = Sealer.ephemeral()
    sealed = sealer.seal(b"Smith", "journey:one")
    key_id, _, body = sealed.partition(".")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[-1] ^= 1
    altered = {
        "flip": f"{key_id}.{base64.urlsafe_b64encode(bytes(raw)).decode()}",
        "truncate": sealed[:20],
        "not-base64": f"{key_id}.!!!!",
        "no-key-id": body,
        "empty": "",
    }[damage]
    with pytest.raises(UnsealError):
        sealer.open(altered, "journey:one")


def test_every_key_opens_and_the_active_one_seals() -> None:
    old, new = b"o" * 32, b"n" * 32
    before = Sealer({"old": old}, "old")
    sealed_before = before.seal(b"Smith", "journey:one")
    after = Sealer({"old": old, "new": new}, "new")
    assert after.open(sealed_before, "journey:one") == b"Smith"
    sealed_after = after.seal(b"Smith", "journey:one")
    assert sealed_after.startswith("new.")
    with pytest.raises(UnsealError, match="does not hold"):  # a process that has not got the new key yet
        before.open(sealed_after, "journey:one")
    retired = Sealer({"new": new}, "new")  # the old key removed
    with pytest.raises(UnsealError, match="does not hold"):
        retired.open(sealed_before, "journey:one")


def test_a_sealer_refuses_keys_that_are_not_256_bit_or_an_active_key_it_lacks() -> None:
    with pytest.raises(ValueError, match="256-bit"):
        Sealer({"short": b"k" * 16}, "short")
    with pytest.raises(ValueError, match="active"):
        Sealer({"one": b"k" * 32}, "two")


def test_a_data_key_file_is_256_random_bits_readable_only_by_its_owner(tmp_path: Path) -> None:
    key_id = new_data_key(tmp_path, now=JAN)
    path = tmp_path / DATA_KEYS_DIR / f"{key_id}.key"
    assert key_id == "20260105093000"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(base64.b64decode(path.read_text())) == 32
    with pytest.raises(DataKeyError, match="not overwriting"):
        new_data_key(tmp_path, now=JAN)
    keys, active = read_data_keys(tmp_path)
    assert list(keys) == [key_id] and active == key_id


def test_the_newest_data_key_seals_unless_one_is_named_active(tmp_path: Path) -> None:
    first, second = new_data_key(tmp_path, now=JAN), new_data_key(tmp_path, now=FEB)
    assert read_data_keys(tmp_path)[1] == second
    (tmp_path / DATA_KEYS_DIR / "active").write_text(first + "\n")
    keys, active = read_data_keys(tmp_path)
    assert active == first and set(keys) == {first, second}
    assert Sealer.from_keys_dir(tmp_path).seal(b"x", "c").startswith(f"{first}.")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no data key"),
        ({"short.key": base64.b64encode(b"k" * 16).decode()}, "must be 32 bytes"),
        ({"bad.key": "not base64!"}, "not readable"),
        ({"has.dot.key": base64.b64encode(b"k" * 32).decode()}, "name must be its ID"),
        ({"one.key": base64.b64encode(b"k" * 32).decode(), "active": "two"}, "names data key 'two'"),
    ],
)
def test_an_unusable_data_key_stops_start_up_naming_the_file(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    folder = tmp_path / DATA_KEYS_DIR
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_text(content)
    with pytest.raises(DataKeyError, match=message) as caught:
        Sealer.from_keys_dir(tmp_path)
    assert str(caught.value.path).startswith(str(folder))


def test_python_m_keys_adds_a_data_key_to_a_complete_set_and_another_on_request(
    keys_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(read_data_keys(keys_dir)[0]) == 1  # keys.pki.generate wrote one
    directory = tmp_path / "keys"
    assert keys_main(["--dir", str(directory)]) == 0
    assert len(read_data_keys(directory)[0]) == 1
    for key in (directory / DATA_KEYS_DIR).glob("*.key"):
        key.unlink()  # a set made before data keys existed
    assert keys_main(["--dir", str(directory)]) == 0
    assert "Keys already present" in capsys.readouterr().out
    keys, active = read_data_keys(directory)
    assert len(keys) == 1
    (directory / DATA_KEYS_DIR / f"{active}.key").rename(directory / DATA_KEYS_DIR / "19990101000000.key")
    assert keys_main(["--dir", str(directory), "--new-data-key"]) == 0
    keys, newest = read_data_keys(directory)
    assert len(keys) == 2 and newest != "19990101000000"
