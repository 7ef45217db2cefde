from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from federation.config import DEFAULT_FEDERATION_FILE, FederationConfigError, load_federation
from federation.verify.loa import LevelOfAssurance


def _edited(tmp_path: Path, edit: object) -> Path:
    data = yaml.safe_load(DEFAULT_FEDERATION_FILE.read_text())
    edit(data)  # type: ignore[operator]
    path = tmp_path / "federation.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_default_federation_loads_with_three_idps(keys_dir: Path) -> None:
    federation = load_federation(keys_dir=keys_dir)
    assert len(federation.file.identity_providers) >= 3
    service = federation.file.relying_services[0]
    assert service.level_of_assurance is LevelOfAssurance.LEVEL_2
    assert federation.hub.entity_id == "http://127.0.0.1:8500/SAML2/metadata"


def test_urls_are_substituted_from_overrides(keys_dir: Path) -> None:
    federation = load_federation(keys_dir=keys_dir, urls={"hub": "https://hub.example:9443"})
    assert federation.hub.sso_url == "https://hub.example:9443/SAML2/SSO"


def test_bad_url_error_names_file_and_field(keys_dir: Path, tmp_path: Path) -> None:
    path = _edited(tmp_path, lambda d: d["identity_providers"][1].update(sso_url="not a url"))
    with pytest.raises(FederationConfigError) as caught:
        load_federation(path, keys_dir=keys_dir)
    assert str(path) in str(caught.value) and "identity_providers[1].sso_url" in str(caught.value)


def test_missing_field_and_unknown_field_are_named(keys_dir: Path, tmp_path: Path) -> None:
    def edit(d: dict) -> None:  # type: ignore[type-arg]
        del d["departments"][0]["relying_services"][0]["level_of_assurance"]
        d["hub"]["colour"] = "blue"

    with pytest.raises(FederationConfigError) as caught:
        load_federation(_edited(tmp_path, edit), keys_dir=keys_dir)
    assert "departments[0].relying_services[0].level_of_assurance: Field required" in str(caught.value)
    assert "hub.colour" in str(caught.value)


def test_unknown_level_of_assurance_is_refused(keys_dir: Path, tmp_path: Path) -> None:
    path = _edited(tmp_path, lambda d: d["identity_providers"][0].update(levels_of_assurance=["LEVEL_9"]))
    with pytest.raises(FederationConfigError, match=r"identity_providers\[0\].levels_of_assurance\[0\]"):
        load_federation(path, keys_dir=keys_dir)


def test_duplicate_entity_ids_are_refused(keys_dir: Path, tmp_path: Path) -> None:
    path = _edited(tmp_path, lambda d: d["identity_providers"].append(dict(d["identity_providers"][0])))
    with pytest.raises(FederationConfigError, match="appears more than once"):
        load_federation(path, keys_dir=keys_dir)


def test_certificate_of_the_wrong_role_stops_start_up_naming_field_and_file(keys_dir: Path, tmp_path: Path) -> None:
    path = _edited(tmp_path, lambda d: d["identity_providers"][0].update(signing_certificates=["hub-signing.crt"]))
    with pytest.raises(FederationConfigError) as caught:
        load_federation(path, keys_dir=keys_dir)
    message = str(caught.value)
    assert "identity_providers[0].signing_certificates[0]" in message
    assert str(keys_dir / "hub-signing.crt") in message and "not issued by the idp CA" in message


def test_missing_certificate_file_is_named(keys_dir: Path, tmp_path: Path) -> None:
    path = _edited(tmp_path, lambda d: d["hub"].update(encryption_certificate="nowhere.crt"))
    with pytest.raises(
        FederationConfigError, match=r"hub.encryption_certificate: certificate .*nowhere.crt: file not found"
    ):
        load_federation(path, keys_dir=keys_dir)


def test_unset_placeholder_is_named(keys_dir: Path, tmp_path: Path) -> None:
    path = _edited(tmp_path, lambda d: d["hub"].update(sso_url="${elsewhere}/SAML2/SSO"))
    with pytest.raises(FederationConfigError, match=r"urls.elsewhere is not set"):
        load_federation(path, keys_dir=keys_dir)


def test_missing_file_and_bad_yaml_are_reported(keys_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FederationConfigError, match="file not found"):
        load_federation(tmp_path / "absent.yaml", keys_dir=keys_dir)
    bad = tmp_path / "bad.yaml"
    bad.write_text("hub: [unclosed")
    with pytest.raises(FederationConfigError, match="not valid YAML"):
        load_federation(bad, keys_dir=keys_dir)
