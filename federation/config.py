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
from typing import Annotated, Any, Self, TypeVar

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from federation.verify.cycle3 import Cycle3AttributeName
from federation.verify.loa import LevelOfAssurance
from keys.pki import CertificateError, Role, Usage, check_chain

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FEDERATION_FILE = REPO_ROOT / "federation.yaml"
DEFAULT_KEYS_DIR = REPO_ROOT / "keys" / "generated"

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def _rule(pattern: str, words: str) -> AfterValidator:
    """A string must match ``pattern`` in full; when it does not, the error says ``words``, not the regex, so
    whoever edits the federation file reads the rule (``Field(pattern=…)`` would print the regex)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if compiled.fullmatch(value) is None:
            raise PydanticCustomError("federation_rule", words)
        return value

    return AfterValidator(check)


Url = Annotated[str, _rule(r"https?://[^\s/]+(/\S*)?", "must be an http:// or https:// URL with no spaces")]
EntityId = Annotated[str, _rule(r"\S{1,1024}", "must be 1 to 1024 characters with no spaces")]
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


class WelshWords(_Entry):
    """An entry's words in Welsh, for pages in Welsh (docs/welsh.md): each one left out shows in English."""

    display_name: str = ""
    description: str = ""
    other_ways: str = ""
    name: str = ""


_Self = TypeVar("_Self", bound="_Entry")


def _in_language(entry: _Self, welsh: WelshWords, language: str) -> _Self:
    """``entry`` with its words in ``language`` where the file gives them: a copy, for a page; the same entry
    for English, or when it gives none."""
    if language != "cy":
        return entry
    words = {field: text for field, text in welsh.model_dump().items() if text and field in type(entry).model_fields}
    return entry.model_copy(update=words) if words else entry


class IdentityProviderEntry(_Entry):
    entity_id: EntityId
    display_name: str = Field(min_length=1)
    description: str = ""
    welsh: WelshWords = Field(default_factory=WelshWords)
    sso_url: Url
    signing_certificates: list[CertPath] = Field(min_length=1)
    levels_of_assurance: list[LevelOfAssurance] = Field(min_length=1)
    evidence_required: list[Evidence] = Field(default_factory=list)
    # AES-CBC for this company's encrypted assertions, as well as AES-GCM. Off unless set: CBC has no integrity,
    # the basis of the known attacks on XML Encryption (docs/security.md). Only for a company that cannot yet
    # send AES-GCM, for as short a time as it takes.
    allow_aes_cbc: bool = False
    # Suspended (a company that lost its certification, say): not offered, and its answers refused with a page.
    suspended: bool = False

    def in_language(self, language: str) -> IdentityProviderEntry:
        """This entry as a page in ``language`` shows it (its description, and its name if the company gives one)."""
        return _in_language(self, self.welsh, language)


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


class _ServiceFields(_Entry):
    """What a relying service's entry says about the service itself."""

    entity_id: EntityId
    display_name: str = Field(min_length=1)
    service_url: Url
    assertion_consumer_urls: list[Url] = Field(min_length=1)
    level_of_assurance: LevelOfAssurance
    signing_certificates: list[CertPath] = Field(min_length=1)
    encryption_certificate: CertPath
    cycle3_attribute: Cycle3AttributeName | None = None
    account_creation_attributes: list[AccountCreationAttribute] = Field(default_factory=list)
    other_ways: str = Field(default="", description="how to use the service without proving identity online")
    welsh: WelshWords = Field(default_factory=WelshWords)
    profile: Profile = Profile.SIMPLE
    # Suspended: the hub refuses its AuthnRequests with a page saying so (docs/operations.md, "Suspending").
    suspended: bool = False

    def in_language(self, language: str) -> Self:
        """This service as a page in ``language`` names it: its name and other ways to use it."""
        return _in_language(self, self.welsh, language)


class ServiceInFile(_ServiceFields):
    """A relying service as its department lists it: its matching service named by entity ID, or left out when
    the department has one."""

    matching_service: EntityId | None = None


class RelyingServiceEntry(_ServiceFields):
    """A relying service with its department's matching service filled in: what the apps use."""

    matching_service: MatchingServiceEntry
    department: str

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


DepartmentId = Annotated[str, _rule(r"[a-z][a-z0-9-]{0,31}", "must be a short lowercase name such as hmrc or dwp")]


class DepartmentEntry(_Entry):
    """A government department: its matching service(s) and its relying services. Each service belongs to
    exactly one department and each matching service to one; the pairwise identifier is per matching service,
    so two departments always see two unlinkable identifiers for one person."""

    id: DepartmentId
    name: str = Field(min_length=1)
    welsh: WelshWords = Field(default_factory=WelshWords)
    matching_services: list[MatchingServiceEntry] = Field(min_length=1)
    relying_services: list[ServiceInFile] = Field(default_factory=list)

    def name_in(self, language: str) -> str:
        """The department's name as a page in ``language`` says it."""
        return self.welsh.name if language == "cy" and self.welsh.name else self.name

    # Each service with its matching service filled in: made once, when the department is validated.
    _resolved: list[RelyingServiceEntry] = PrivateAttr(default_factory=list)

    def resolved_services(self) -> list[RelyingServiceEntry]:
        """Each service with its matching service filled in (the department's own, checked when validated)."""
        return list(self._resolved)

    @model_validator(mode="after")
    def _services_use_their_own_departments_matching_service(self) -> DepartmentEntry:
        ids = [ms.entity_id for ms in self.matching_services]
        for service in self.relying_services:
            if service.matching_service is None and len(ids) > 1:
                raise ValueError(f"{service.entity_id}: the department has several matching services; name one")
            if service.matching_service is not None and service.matching_service not in ids:
                raise ValueError(
                    f"{service.entity_id}: matching_service {service.matching_service!r} is not one of department "
                    f"{self.id}'s matching services"
                )
        by_id = {ms.entity_id: ms for ms in self.matching_services}
        resolved = []
        for i, service in enumerate(self.relying_services):
            matching = by_id[service.matching_service] if service.matching_service else self.matching_services[0]
            fields = {name: getattr(service, name) for name in _ServiceFields.model_fields}
            try:
                resolved.append(RelyingServiceEntry(**fields, matching_service=matching, department=self.id))
            except ValidationError as exc:
                problems = "; ".join(_problem(err).removeprefix("(top level): ") for err in exc.errors())
                raise ValueError(f"relying_services[{i}] ({service.entity_id}): {problems}") from None
        self._resolved = resolved
        return self


class FederationFile(_Entry):
    urls: dict[str, Url] = Field(default_factory=dict)
    hub: HubEntry
    metadata_signing_certificate: CertPath
    identity_providers: list[IdentityProviderEntry] = Field(min_length=1)
    departments: list[DepartmentEntry] = Field(min_length=1)

    @cached_property
    def relying_services(self) -> list[RelyingServiceEntry]:
        """Every department's relying services, their matching services filled in."""
        return [service for department in self.departments for service in department.resolved_services()]

    @cached_property
    def matching_services(self) -> list[MatchingServiceEntry]:
        return [ms for department in self.departments for ms in department.matching_services]

    @cached_property
    def offered_identity_providers(self) -> list[IdentityProviderEntry]:
        """The companies a citizen may choose: every one not suspended."""
        return [idp for idp in self.identity_providers if not idp.suspended]

    def department(self, department_id: str) -> DepartmentEntry | None:
        return next((d for d in self.departments if d.id == department_id), None)

    @field_validator("identity_providers", "departments")
    @classmethod
    def _unique_entity_ids(cls, entries: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for entry in entries:
            key = entry.id if isinstance(entry, DepartmentEntry) else entry.entity_id
            if key in seen:
                raise ValueError(f"{key!r} appears more than once")
            seen.add(key)
        return entries

    @model_validator(mode="after")
    def _no_shared_entity_ids(self) -> FederationFile:
        # A department's matching service may serve several of its services; nothing else is shared, and no
        # matching service or service belongs to two departments.
        ids = [self.hub.entity_id]
        ids += [idp.entity_id for idp in self.identity_providers]
        ids += [rp.entity_id for department in self.departments for rp in department.relying_services]
        ids += [ms.entity_id for department in self.departments for ms in department.matching_services]
        if len(ids) != len(set(ids)):
            repeated = sorted({entity for entity in ids if ids.count(entity) > 1})
            raise ValueError(
                "every entity (hub, identity provider, relying service, matching service) needs its own entity_id, "
                f"in one department only: {', '.join(repeated)} appears more than once"
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


# pydantic's words where plainer ones help whoever edits the file; the rest (``Field required``…) are plain already.
_PLAIN_MESSAGES = {"extra_forbidden": "is not a field here: check its spelling and indentation"}


def _problem(error: ErrorDetails) -> str:
    """One validation error in plain words: the field, the rule it breaks and, when short text, what it holds."""
    message = _PLAIN_MESSAGES.get(error["type"], error["msg"].removeprefix("Value error, "))
    found = error.get("input")
    if error["type"] not in ("missing", "extra_forbidden") and isinstance(found, str):
        shown = found if len(found) <= 80 else found[:80] + "…"
        message += f" (it is {shown!r})"
    return f"{_field_path(error['loc'])}: {message}"


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
    for d, department in enumerate(file.departments):
        for m, msa in enumerate(department.matching_services):
            base, matcher = f"departments[{d}].matching_services[{m}]", f"matching service {msa.entity_id}"
            uses += [
                CertificateUse(f"{base}.signing_certificates[{j}]", matcher, c, Role.RP, sign)
                for j, c in enumerate(msa.signing_certificates)
            ]
            uses.append(
                CertificateUse(f"{base}.encryption_certificate", matcher, msa.encryption_certificate, Role.RP, encrypt)
            )
        for i, rp in enumerate(department.relying_services):
            base, name = f"departments[{d}].relying_services[{i}]", rp.display_name
            uses += [
                CertificateUse(f"{base}.signing_certificates[{j}]", name, c, Role.RP, sign)
                for j, c in enumerate(rp.signing_certificates)
            ]
            uses.append(
                CertificateUse(f"{base}.encryption_certificate", name, rp.encryption_certificate, Role.RP, encrypt)
            )
    return uses


@dataclass(frozen=True)
class RawService:
    """A relying service as the file holds it, not validated: for tools that must read a broken entry."""

    path: str  # departments[0].relying_services[1]
    entry: dict[str, Any]
    department: dict[str, Any]
    matching_service: dict[str, Any] | None  # its department's, as named (or the only one); None if not found
    matching_service_path: str | None

    def with_matching_service(self) -> dict[str, Any]:
        """The entry with its matching service written in full, as one service's team sees its set-up."""
        return {**self.entry, "matching_service": self.matching_service, "department": self.department.get("id")}


def raw_departments(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    departments = doc.get("departments")
    return [d for d in departments if isinstance(d, dict)] if isinstance(departments, list) else []


def raw_services(doc: Mapping[str, Any]) -> list[RawService]:
    """Every relying service in every department of a file read with ``read_federation_file``."""
    found = []
    for d, department in enumerate(doc.get("departments") or []):
        if not isinstance(department, dict):
            continue
        matching = [m for m in department.get("matching_services") or [] if isinstance(m, dict)]
        for i, entry in enumerate(department.get("relying_services") or []):
            if not isinstance(entry, dict):
                continue
            named = entry.get("matching_service")
            index = next((j for j, m in enumerate(matching) if m.get("entity_id") == named), None) if named else 0
            msa = matching[index] if index is not None and index < len(matching) else None
            msa_path = f"departments[{d}].matching_services[{index}]" if msa is not None else None
            found.append(RawService(f"departments[{d}].relying_services[{i}]", entry, department, msa, msa_path))
    return found


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
        # Each problem already says all the ValidationError would: chaining it only doubles the traceback.
        raise FederationConfigError(f"{path}: {'; '.join(_problem(err) for err in exc.errors())}") from None


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
