"""Adding, changing and removing entries of the federation file for ``ida-hub enrol``, ``suspend``, ``resume`` and
``remove``: the planned certificates, the checked entry, the edit written only if the file then loads."""

from __future__ import annotations

import argparse
import difflib
import io
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import SingleQuotedScalarString

from federation.config import (
    FederationConfigError,
    FederationFile,
    load_federation,
    validate_federation_file,
)
from hub.cli.common import CliError, settings
from hub.cli.file_edits import delete, replace_checked, round_trip_yaml
from keys.pki import CertificateError, Role, Usage, issue_leaf, read_certificate_request, sign_csr

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
_KEY_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
WIDTH = 110
TAKES_EFFECT = "The running apps take the change up within about a second; no restart."
PRIVATE_KEY_WARNING = (
    "Warning: the private keys above belong to {whom}, not to the hub. Send them to {whom} by a secure channel "
    "(never by email), then delete them here: whoever holds them can act as {whom}."
)

# Which option set each field, so that a bad value is reported in the words the operator typed.
DEPARTMENT_OPTIONS = {
    "id": "--id",
    "name": "--name",
    "welsh": "--welsh-name",
    "entity_id": "--matching-service-entity-id",
    "url": "--matching-service-url",
    "account_creation_url": "--account-creation-url",
}
SERVICE_OPTIONS = {
    "entity_id": "--entity-id",
    "display_name": "--display-name",
    "service_url": "--service-url",
    "assertion_consumer_urls": "--acs-url",
    "other_ways": "--other-ways",
    "welsh": "--welsh-display-name or --welsh-other-ways",
    "matching_service": "--matching-service",
}
COMPANY_OPTIONS = {
    "entity_id": "--entity-id",
    "display_name": "--display-name",
    "sso_url": "--sso-url",
    "description": "--description",
    "welsh": "--welsh-description",
}


class Kind(StrEnum):
    DEPARTMENT = "department"
    SERVICE = "service"
    COMPANY = "company"


@dataclass
class Edit:
    """The federation file open for one change: its text, its round-trip document, and what it said before."""

    path: Path
    keys_dir: Path
    original: str
    doc: Any
    before: FederationFile
    dry_run: bool

    def entity_ids(self) -> set[str]:
        file = self.before
        ids = {file.hub.entity_id, *(idp.entity_id for idp in file.identity_providers)}
        ids |= {matching.entity_id for matching in file.matching_services}
        return ids | {service.entity_id for service in file.relying_services}

    def fill(self, node: Any) -> Any:
        """A value from the command line as the apps will read it: ``${name}`` filled from the file's urls."""
        if isinstance(node, str):
            return _PLACEHOLDER.sub(lambda m: self.before.urls.get(m.group(1), m.group(0)).rstrip("/"), node)
        if isinstance(node, list):
            return [self.fill(item) for item in node]
        if isinstance(node, dict):
            return {key: self.fill(value) for key, value in node.items()}
        return node


def open_edit(args: argparse.Namespace) -> Edit:
    chosen = settings(args)
    try:
        federation = load_federation(chosen.federation_file, keys_dir=chosen.keys_dir)
    except FederationConfigError as exc:
        raise CliError(f"the federation file must be valid before it is edited: {exc}") from exc
    original = chosen.federation_file.read_text(encoding="utf-8")
    return Edit(
        chosen.federation_file,
        chosen.keys_dir,
        original,
        round_trip_yaml().load(original),
        federation.file,
        args.dry_run,
    )


def finish(edit: Edit, new: list[NewCertificate], role: Role, args: argparse.Namespace) -> list[Path]:
    """Issue the certificates and replace the file (a dry run: neither), then show the change.

    Returns the private key files made here, which the team must be given.
    """
    buffer = io.StringIO()
    round_trip_yaml().dump(edit.doc, buffer)
    edited = buffer.getvalue()
    diff = difflib.unified_diff(edit.original.splitlines(True), edited.splitlines(True), str(edit.path), "(edited)")
    if edit.dry_run:
        check_schema(edit.path, edited)
        print("".join(diff))
        issued = ", ".join(certificate.file for certificate in new)
        print(f"Dry run: nothing written{f'; it would issue {issued}' if issued else ''}.")
        return []
    written = issue_certificates(edit.keys_dir, new, role, args)
    replace_checked(edit.path, edited, edit.keys_dir, written)
    print("".join(diff))
    for path in [edit.path, *written]:
        print(f"Wrote {path}")
    return [path for path in written if path.suffix == ".key"]


def check_schema(path: Path, text: str) -> None:
    """A dry run issues no certificates to check, but the edited file's fields must still hold together."""
    with tempfile.TemporaryDirectory() as directory:
        temporary = Path(directory) / path.name
        temporary.write_text(text, encoding="utf-8")
        try:
            validate_federation_file(temporary)
        except FederationConfigError as exc:
            raise CliError(f"the edit would be refused: {str(exc).removeprefix(f'{temporary}: ')}") from exc


def issue_certificates(keys_dir: Path, new: list[NewCertificate], role: Role, args: argparse.Namespace) -> list[Path]:
    written: list[Path] = []
    for certificate in new:
        try:
            if certificate.request is not None:
                request, usage = certificate.request, certificate.usage
                written.append(
                    sign_csr(keys_dir, certificate.stem, request, role, usage, ca_key=args.ca_key, days=args.days)
                )
            else:
                path = issue_leaf(
                    keys_dir, certificate.stem, role, certificate.usage, ca_key=args.ca_key, days=args.days
                )
                written += [path, path.with_suffix(".key")]
        except CertificateError as exc:
            delete(written)
            raise CliError(f"cannot issue {certificate.file}: {exc}") from exc
    return written


@dataclass(frozen=True)
class NewCertificate:
    """A certificate an enrolment issues: for a key pair made here, or for the key in the team's request."""

    stem: str
    usage: Usage
    request: Path | None = None

    @property
    def file(self) -> str:
        return f"{self.stem}.crt"


def plan_certificates(args: argparse.Namespace, edit: Edit, name: str, *, encryption: bool) -> list[NewCertificate]:
    """The certificates to issue: [signing, encryption], or [one] when one key both signs and decrypts."""
    stem = args.key_name or name
    if not _KEY_NAME.fullmatch(stem):
        raise CliError(f"cannot name key files {stem!r}: give --key-name, in lowercase letters, digits and -")
    if not 1 <= args.days <= 3650:
        raise CliError("--days must be between 1 and 3650")
    if not encryption:
        new = [NewCertificate(f"{stem}-signing", Usage.SIGNING, args.csr)]
    elif bool(args.csr_signing) != bool(args.csr_encryption):
        raise CliError("--csr-signing and --csr-encryption go together; for one key that does both, use --csr")
    elif args.csr_signing and (args.csr or args.one_key):
        raise CliError("give --csr (one key for both) or --csr-signing with --csr-encryption, not both")
    elif args.csr or args.one_key:
        # Named as python3-saml's service in tests/interop: its one certificate is also its encryption certificate.
        new = [NewCertificate(f"{stem}-signing", Usage.SIGNING_AND_ENCRYPTION, args.csr)]
    else:
        new = [
            NewCertificate(f"{stem}-signing", Usage.SIGNING, args.csr_signing),
            NewCertificate(f"{stem}-encryption", Usage.ENCRYPTION, args.csr_encryption),
        ]
    check_usable(edit, new)
    return new


def check_usable(edit: Edit, new: list[NewCertificate]) -> None:
    """Before anything is issued: no file of that name yet, and every request one the CA would sign."""
    for certificate in new:
        for existing in (edit.keys_dir / certificate.file, edit.keys_dir / f"{certificate.stem}.key"):
            if existing.exists():
                raise CliError(f"{existing} already exists; choose other file names with --key-name")
        if certificate.request is not None:
            try:
                read_certificate_request(certificate.request)
            except CertificateError as exc:
                raise CliError(f"cannot use the certificate signing request {exc}") from exc


def certificate_fields(new: list[NewCertificate]) -> dict[str, Any]:
    return {"signing_certificates": flow([new[0].file]), "encryption_certificate": new[-1].file}


def yaml_text(value: str) -> str:
    """Quoted where PyYAML, which the apps read the file with (YAML 1.1), would take the plain text for another
    value: ``no`` for false, ``1.10`` for a number."""
    try:
        same = yaml.safe_load(value) == value
    except yaml.YAMLError:
        same = False
    return value if same else SingleQuotedScalarString(value)


def flow(items: list[str]) -> CommentedSeq:
    seq = CommentedSeq([yaml_text(item) for item in items])
    seq.fa.set_flow_style()
    return seq


def welsh_words(**words: str) -> CommentedMap | None:
    """An entry's ``welsh:`` words (docs/welsh.md), in flow style; None when none was given."""
    given = CommentedMap((field, yaml_text(text)) for field, text in words.items() if text)
    if not given:
        return None
    given.fa.set_flow_style()
    return given


def new_entry(fields: Mapping[str, Any]) -> CommentedMap:
    """A new entry in the file's own style: text quoted only where it must be, empty fields left out."""
    entry = CommentedMap()
    for key, value in fields.items():
        if value is not None and value != "" and value != []:
            entry[key] = yaml_text(value) if isinstance(value, str) else value
    return entry


def check_entry(edit: Edit, model: type[BaseModel], entry: Mapping[str, Any], options: Mapping[str, str]) -> None:
    """The new entry's own fields, checked before any key is issued; each problem names its option."""
    try:
        model.model_validate(edit.fill(dict(entry)))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = next((str(part) for part in reversed(error["loc"]) if isinstance(part, str)), "")
            found = error.get("input")
            shown = f" (it is {found!r})" if isinstance(found, str) and error["type"] != "missing" else ""
            problems.append(f"{options.get(field, field)}: {error['msg'].removeprefix('Value error, ')}{shown}")
        raise CliError("; ".join(problems)) from None


def refuse_known(edit: Edit, entity_id: str) -> None:
    if edit.fill(entity_id) in edit.entity_ids():
        raise CliError(f"{entity_id} is already in {edit.path}: every entity needs an entity ID of its own")


def slug(text: str, fallback: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", re.sub(r"['’]", "", text.lower())).strip("-")[:60].rstrip("-") or fallback
