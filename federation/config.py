"""The federation file: who is in the federation, where they are and which certificates they sign with.

Every app reads the same file at start-up. It is validated once, with errors that name the file and the
field, and every certificate it names is checked against its role's chain before anything listens.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from federation.verify.cycle3 import Cycle3AttributeName
from federation.verify.loa import LevelOfAssurance
from keys.pki import CertificateError, Role, Usage, check_chain

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FEDERATION_FILE = REPO_ROOT / "federation.yaml"
DEFAULT_KEYS_DIR = REPO_ROOT / "keys" / "generated"

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")

Url = Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")]
EntityId = Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^\S+$")]
CertPath = Annotated[str, Field(min_length=1)]


class FederationConfigError(Exception):
    """The federation file, or a certificate it names, cannot be used. The message names file and field."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubEntry(_Entry):
    entity_id: EntityId
    sso_url: Url
    acs_url: Url
    signing_certificates: list[CertPath] = Field(min_length=1)
    encryption_certificate: CertPath
    clock_skew_seconds: int = Field(default=60, ge=0, le=600)
    journey_minutes: int = Field(default=90, ge=1, le=24 * 60)
    matching_timeout_seconds: float = Field(default=10, gt=0, le=120)
    # How long ago an identity provider may have authenticated the citizen (its AuthnInstant), before clock skew.
    authn_max_age_minutes: int = Field(default=60, ge=1, le=24 * 60)

    @property
    def base_url(self) -> str:
        return self.sso_url.rsplit("/SAML2/", 1)[0]


class Evidence(StrEnum):
    """What a citizen may have; each IDP declares what it needs (the hub's questionnaire asks)."""

    PHOTO_ID = "photo_id"  # a UK passport or photocard driving licence
    MOBILE_PHONE = "mobile_phone"  # a smartphone that can install an app
    UK_ADDRESS = "uk_address"  # a UK address and a credit record there


class IdentityProviderEntry(_Entry):
    entity_id: EntityId
    display_name: str = Field(min_length=1)
    description: str = ""
    sso_url: Url
    signing_certificates: list[CertPath] = Field(min_length=1)
    levels_of_assurance: list[LevelOfAssurance] = Field(min_length=1)
    evidence_required: list[Evidence] = Field(default_factory=list)
    # AES-CBC for this company's encrypted assertions, as well as AES-GCM. Off unless set: CBC has no integrity,
    # the basis of the known attacks on XML Encryption (docs/security.md). Only for a company that cannot yet
    # send AES-GCM, for as short a time as it takes.
    allow_aes_cbc: bool = False


class MatchingServiceEntry(_Entry):
    entity_id: EntityId
    url: Url
    account_creation_url: Url | None = None
    signing_certificates: list[CertPath] = Field(min_length=1)
    encryption_certificate: CertPath


class AccountCreationAttribute(StrEnum):
    """What a service may ask to receive when it creates an account for someone it could not match."""

    FIRST_NAME = "firstname"
    MIDDLE_NAME = "middlename"
    SURNAME = "surname"
    DATE_OF_BIRTH = "dateofbirth"
    CURRENT_ADDRESS = "currentaddress"
    ADDRESS_HISTORY = "addresshistory"
    CYCLE_3 = "cycle_3"


class Profile(StrEnum):
    """What the service's SAML toolkit expects (docs/integration-guide.md, GOV.UK Verify's two profiles).

    simple: one hub-issued, hub-signed assertion, as any off-the-shelf service provider expects.
    full: the matching service's own signed assertion, passed through and re-encrypted by the hub.
    Either way the Response itself is signed by the hub.
    """

    SIMPLE = "simple"
    FULL = "full"


class RelyingServiceEntry(_Entry):
    entity_id: EntityId
    display_name: str = Field(min_length=1)
    service_url: Url
    assertion_consumer_urls: list[Url] = Field(min_length=1)
    level_of_assurance: LevelOfAssurance
    signing_certificates: list[CertPath] = Field(min_length=1)
    encryption_certificate: CertPath
    matching_service: MatchingServiceEntry
    cycle3_attribute: Cycle3AttributeName | None = None
    account_creation_attributes: list[AccountCreationAttribute] = Field(default_factory=list)
    other_ways: str = Field(default="", description="how to use the service without proving identity online")
    profile: Profile = Profile.SIMPLE

    @property
    def default_acs_url(self) -> str:
        return self.assertion_consumer_urls[0]

    @model_validator(mode="after")
    def _account_creation_needs_a_url(self) -> RelyingServiceEntry:
        if self.account_creation_attributes and self.matching_service.account_creation_url is None:
            raise ValueError("account_creation_attributes needs matching_service.account_creation_url")
        if AccountCreationAttribute.CYCLE_3 in self.account_creation_attributes and self.cycle3_attribute is None:
            raise ValueError("account_creation_attributes names cycle_3 but the service has no cycle3_attribute")
        return self


class FederationFile(_Entry):
    urls: dict[str, Url] = Field(default_factory=dict)
    hub: HubEntry
    metadata_signing_certificate: CertPath
    identity_providers: list[IdentityProviderEntry] = Field(min_length=1)
    relying_services: list[RelyingServiceEntry] = Field(min_length=1)

    @field_validator("identity_providers", "relying_services")
    @classmethod
    def _unique_entity_ids(cls, entries: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for entry in entries:
            if entry.entity_id in seen:
                raise ValueError(f"entity_id {entry.entity_id!r} appears more than once")
            seen.add(entry.entity_id)
        return entries

    @model_validator(mode="after")
    def _no_shared_entity_ids(self) -> FederationFile:
        # A department's one matching service may serve several of its services; nothing else is shared.
        ids = [self.hub.entity_id]
        ids += [idp.entity_id for idp in self.identity_providers]
        ids += [rp.entity_id for rp in self.relying_services]
        ids += sorted({rp.matching_service.entity_id for rp in self.relying_services})
        if len(ids) != len(set(ids)):
            raise ValueError(
                "every entity (hub, identity provider, relying service, matching service) needs its own entity_id"
            )
        return self


@dataclass(frozen=True)
class Certificate:
    """A checked certificate: where it came from, the parsed object and its PEM bytes for xmlsec."""

    path: Path
    cert: x509.Certificate

    @cached_property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def is_current(self, moment: dt.datetime | None = None) -> bool:
        """Whether the certificate is within its dates now: one that expired since start-up vouches for nothing."""
        moment = moment or dt.datetime.now(dt.UTC)
        return self.cert.not_valid_before_utc <= moment <= self.cert.not_valid_after_utc

    @cached_property
    def der_base64(self) -> str:
        return "".join(self.pem.decode().strip().splitlines()[1:-1])


@dataclass(frozen=True)
class Federation:
    """The validated federation file plus every certificate it names, loaded and chain-checked."""

    file: FederationFile
    source: Path
    keys_dir: Path
    certificates: Mapping[str, Certificate]

    @property
    def hub(self) -> HubEntry:
        return self.file.hub

    def cert(self, relative: str) -> Certificate:
        return self.certificates[relative]

    def certs(self, relatives: list[str]) -> list[Certificate]:
        return [self.certificates[r] for r in relatives]

    def identity_provider(self, entity_id: str) -> IdentityProviderEntry | None:
        return next((idp for idp in self.file.identity_providers if idp.entity_id == entity_id), None)

    def relying_service(self, entity_id: str) -> RelyingServiceEntry | None:
        return next((rp for rp in self.file.relying_services if rp.entity_id == entity_id), None)

    def private_key_path(self, certificate: str) -> Path:
        """An entity's private key lies beside its certificate with the ending ``.key``."""
        return (self.keys_dir / certificate).with_suffix(".key")


def _substitute(node: Any, urls: Mapping[str, str], where: str) -> Any:
    if isinstance(node, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in urls:
                raise FederationConfigError(f"{where}: ${{{name}}} is used but urls.{name} is not set")
            return urls[name].rstrip("/")

        return _PLACEHOLDER.sub(replace, node)
    if isinstance(node, list):
        return [_substitute(item, urls, where) for item in node]
    if isinstance(node, dict):
        return {key: _substitute(value, urls, where) for key, value in node.items()}
    return node


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


@dataclass(frozen=True)
class CertificateUse:
    """One place the federation file names a certificate."""

    field: str
    entry: str
    relative: str
    role: Role
    usage: Usage


def certificate_uses(file: FederationFile) -> list[CertificateUse]:
    """Every certificate the file names, where, for whom, under which CA and for what."""
    sign, encrypt = Usage.SIGNING, Usage.ENCRYPTION
    uses = [
        CertificateUse(f"hub.signing_certificates[{i}]", "hub", c, Role.HUB, sign)
        for i, c in enumerate(file.hub.signing_certificates)
    ]
    uses.append(CertificateUse("hub.encryption_certificate", "hub", file.hub.encryption_certificate, Role.HUB, encrypt))
    uses.append(
        CertificateUse(
            "metadata_signing_certificate", "metadata", file.metadata_signing_certificate, Role.METADATA, sign
        )
    )
    for i, idp in enumerate(file.identity_providers):
        uses += [
            CertificateUse(f"identity_providers[{i}].signing_certificates[{j}]", idp.display_name, c, Role.IDP, sign)
            for j, c in enumerate(idp.signing_certificates)
        ]
    for i, rp in enumerate(file.relying_services):
        base, name, msa = f"relying_services[{i}]", rp.display_name, rp.matching_service
        # One department's matching service may serve several of its services: name it once, by entity ID.
        matcher = f"matching service {msa.entity_id}"
        uses += [
            CertificateUse(f"{base}.signing_certificates[{j}]", name, c, Role.RP, sign)
            for j, c in enumerate(rp.signing_certificates)
        ]
        uses.append(CertificateUse(f"{base}.encryption_certificate", name, rp.encryption_certificate, Role.RP, encrypt))
        uses += [
            CertificateUse(f"{base}.matching_service.signing_certificates[{j}]", matcher, c, Role.RP, sign)
            for j, c in enumerate(msa.signing_certificates)
        ]
        uses.append(
            CertificateUse(
                f"{base}.matching_service.encryption_certificate",
                matcher,
                msa.encryption_certificate,
                Role.RP,
                encrypt,
            )
        )
    return uses


def read_federation_file(path: Path, urls: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The file as plain data: ``x-`` anchor keys dropped, ``urls`` merged, ``${name}`` filled; not validated."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FederationConfigError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise FederationConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise FederationConfigError(f"{path}: expected a mapping at the top level")
    merged_urls = {**(raw.get("urls") or {}), **(urls or {})}
    # Top-level keys starting "x-" hold YAML anchors for reuse (as in docker-compose); they are not fields.
    raw = {**{k: v for k, v in raw.items() if not str(k).startswith("x-")}, "urls": merged_urls}
    substituted: dict[str, Any] = _substitute(raw, merged_urls, str(path))
    return substituted


def validate_federation_file(path: Path, urls: Mapping[str, str] | None = None) -> FederationFile:
    """The validated file, its certificates not yet opened (tools that must look past a bad one start here)."""
    try:
        return FederationFile.model_validate(read_federation_file(path, urls))
    except ValidationError as exc:
        problems = "; ".join(f"{_field_path(err['loc'])}: {err['msg']}" for err in exc.errors())
        raise FederationConfigError(f"{path}: {problems}") from exc


def load_federation(
    path: Path = DEFAULT_FEDERATION_FILE,
    *,
    keys_dir: Path = DEFAULT_KEYS_DIR,
    urls: Mapping[str, str] | None = None,
) -> Federation:
    """Read, validate and chain-check the federation file. Raises FederationConfigError naming file and field."""
    file = validate_federation_file(path, urls)
    certificates: dict[str, Certificate] = {}
    for use in certificate_uses(file):
        cert_path = keys_dir / use.relative
        try:
            certificates[use.relative] = Certificate(cert_path, check_chain(cert_path, use.role, keys_dir))
        except CertificateError as exc:
            raise FederationConfigError(f"{path}: {use.field}: certificate {exc.path}: {exc.reason}") from exc
    return Federation(file=file, source=path, keys_dir=keys_dir, certificates=certificates)
