"""Self-check rules for a relying service's entry in the federation file, read raw so every mistake is seen."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from cryptography import x509
from pydantic import ValidationError

from federation.config import AccountCreationAttribute, Profile, RelyingServiceEntry
from federation.verify.cycle3 import Cycle3AttributeName
from federation.verify.loa import LevelOfAssurance
from hub.cli.findings import Finding, certificate_findings, url_problem
from keys.pki import CertificateError, load_certificate


def _choices(values: list[str]) -> str:
    return ", ".join(values[:-1]) + f" or {values[-1]}" if len(values) > 1 else values[0]


def entity_id_problem(value: object) -> str | None:
    """Entity IDs are absolute URIs: an https URL the service controls (http only on this machine) or a URN."""
    if not isinstance(value, str) or not value:
        return "is missing"
    if len(value) > 1024 or any(ch.isspace() for ch in value):
        return "must be at most 1024 characters with no spaces"
    if value.startswith("urn:"):
        return None
    return url_problem(value)


class EntryChecker:
    """Collects findings about one ``relying_services`` entry."""

    def __init__(self, entry: dict[str, Any], where: str, keys_dir: Path, ca: x509.Certificate, moment: dt.datetime):
        self.entry, self.where, self.keys_dir, self.ca, self.moment = entry, where, keys_dir, ca, moment
        self.findings: list[Finding] = []

    def add(self, code: str, field: str, problem: str, fix: str) -> None:
        self.findings.append(Finding(code, f"{self.where}.{field}", problem, fix, field))

    def run(self) -> list[Finding]:
        self._identity()
        self._urls()
        self._level_and_profile()
        self._cycle3_and_accounts()
        self._certificates(self.entry, "")
        msa = self.entry.get("matching_service")
        if isinstance(msa, dict):
            self._matching_service(msa)
        else:
            self.add("config-field", "matching_service", "is missing.", "Add the department's matching service.")
        self._schema()
        return self.findings

    def _identity(self) -> None:
        problem = entity_id_problem(self.entry.get("entity_id"))
        if problem:
            self.add(
                "entity-id-format",
                "entity_id",
                f"{problem}.",
                "Use an https URL on your service's domain (usually where your metadata is published) or a URN.",
            )

    def _urls(self) -> None:
        problem = url_problem(self.entry.get("service_url"))
        if problem:
            self.add("service-url", "service_url", f"{problem}.", "Give the https address of the service's start page.")
        acs_urls = self.entry.get("assertion_consumer_urls")
        if not isinstance(acs_urls, list) or not acs_urls:
            self.add(
                "acs-missing",
                "assertion_consumer_urls",
                "is missing or empty.",
                "List the https URL where your service receives the hub's Response (HTTP-POST).",
            )
            return
        for i, url in enumerate(acs_urls):
            problem = url_problem(url)
            if problem:
                self.add(
                    "acs-not-https",
                    f"assertion_consumer_urls.{i}",
                    f"{problem}.",
                    "Receive Responses over https; http is only for a service running on the same machine.",
                )

    def _level_and_profile(self) -> None:
        level = self.entry.get("level_of_assurance")
        if level not in [item.value for item in LevelOfAssurance]:
            self.add(
                "level-of-assurance",
                "level_of_assurance",
                f"{level!r} is not a level of assurance.",
                f"Use {_choices([item.value for item in LevelOfAssurance])}.",
            )
        profile = self.entry.get("profile", Profile.SIMPLE.value)
        if profile not in [item.value for item in Profile]:
            self.add(
                "profile",
                "profile",
                f"{profile!r} is not a profile.",
                "Use simple (one hub-signed assertion, for off-the-shelf SAML toolkits) or full (the matching "
                "service's assertion passed through).",
            )

    def _cycle3_and_accounts(self) -> None:
        cycle3 = self.entry.get("cycle3_attribute")
        if cycle3 is not None and cycle3 not in [item.value for item in Cycle3AttributeName]:
            self.add(
                "cycle3-attribute",
                "cycle3_attribute",
                f"{cycle3!r} is not a cycle 3 attribute.",
                f"Use {_choices([item.value for item in Cycle3AttributeName])}, or leave it out.",
            )
        wanted = self.entry.get("account_creation_attributes") or []
        if not isinstance(wanted, list):
            wanted = [wanted]
        allowed = [item.value for item in AccountCreationAttribute]
        for i, name in enumerate(wanted):
            if name not in allowed:
                self.add(
                    "account-creation-attribute",
                    f"account_creation_attributes.{i}",
                    f"{name!r} is not an attribute the hub can send.",
                    f"Use only {_choices(allowed)}.",
                )
        msa = self.entry.get("matching_service")
        if wanted and not (isinstance(msa, dict) and msa.get("account_creation_url")):
            self.add(
                "account-creation-url",
                "account_creation_attributes",
                "asks for account creation but the matching service has no account_creation_url.",
                "Add matching_service.account_creation_url, or remove account_creation_attributes.",
            )
        if AccountCreationAttribute.CYCLE_3.value in wanted and not cycle3:
            self.add(
                "account-creation-cycle3",
                "account_creation_attributes",
                "asks for cycle_3 but the service has no cycle3_attribute.",
                "Set cycle3_attribute, or remove cycle_3 from account_creation_attributes.",
            )

    def _matching_service(self, msa: dict[str, Any]) -> None:
        problem = entity_id_problem(msa.get("entity_id"))
        if problem:
            self.add("entity-id-format", "matching_service.entity_id", f"{problem}.", "Use an https URL or a URN.")
        for key in ("url", "account_creation_url"):
            if key == "account_creation_url" and msa.get(key) is None:
                continue
            problem = url_problem(msa.get(key))
            if problem:
                self.add(
                    "matching-service-url",
                    f"matching_service.{key}",
                    f"{problem}.",
                    "The hub calls the matching service over https (http only on the same machine).",
                )
        self._certificates(msa, "matching_service.")

    def _certificates(self, holder: dict[str, Any], prefix: str) -> None:
        signing = holder.get("signing_certificates")
        if not isinstance(signing, list) or not signing:
            self.add(
                "no-signing-certificate",
                f"{prefix}signing_certificates",
                "lists no certificate.",
                "List the certificate of the key that signs your messages.",
            )
            signing = []
        for i, relative in enumerate(signing):
            self._certificate(relative, f"{prefix}signing_certificates.{i}")
        encryption = holder.get("encryption_certificate")
        if not encryption:
            self.add(
                "no-encryption-certificate",
                f"{prefix}encryption_certificate",
                "is missing.",
                "Name the certificate the hub encrypts assertions to.",
            )
        else:
            self._certificate(encryption, f"{prefix}encryption_certificate")

    def _certificate(self, relative: object, field: str) -> None:
        path = self.keys_dir / str(relative)
        try:
            cert = load_certificate(path)
        except CertificateError as exc:
            self.add(
                "cert-unreadable", field, f"{path}: {exc.reason}.", "Put the PEM certificate in the keys directory."
            )
            return
        self.findings += certificate_findings(
            cert, f"{self.where}.{field} ({relative})", self.ca, "rp-ca.crt", self.moment, field
        )

    def _schema(self) -> None:
        """Anything the rules above did not name, in the federation file's own words."""
        try:
            RelyingServiceEntry.model_validate(self.entry)
        except ValidationError as exc:
            named = [finding.field for finding in self.findings]
            for error in exc.errors():
                path = ".".join(str(part) for part in error["loc"])
                if not path or any(path.startswith(f) or f.startswith(path) for f in named if f):
                    continue  # the cross-field rules are checked above, in plainer words
                self.add("config-field", path, f"{error['msg']}.", "Correct this field in the federation file.")


def entry_findings(
    entry: dict[str, Any], where: str, keys_dir: Path, ca: x509.Certificate, moment: dt.datetime
) -> list[Finding]:
    return EntryChecker(entry, where, keys_dir, ca, moment).run()
