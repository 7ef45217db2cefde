"""The relying-service self-check: a service's metadata and federation entry against the hub's rules.

GOV.UK Verify gave service teams a Compliance Tool; this is its static half. Every rule reports in plain words
what is wrong and what to do, with a short code that stays the same between releases.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from federation.config import raw_services
from federation.saml.xml import now
from hub.cli.common import CliError
from hub.cli.federation_file import read_raw
from hub.cli.findings import Finding
from hub.cli.selfcheck_config import entry_findings
from hub.cli.selfcheck_metadata import ServiceMetadata, compare, metadata_findings
from keys.pki import CertificateError, Role, ca_file, load_certificate


@dataclass
class SelfCheckReport:
    entity_id: str | None
    sources: list[str]
    findings: list[Finding] = field(default_factory=list)


def _find_entry(federation_file: Path, entity_id: str) -> tuple[dict[str, Any], str] | None:
    for service in raw_services(read_raw(federation_file)):
        if service.entry.get("entity_id") == entity_id:
            return service.with_matching_service(), f"{federation_file.name} {service.path}"
    return None


def self_check(
    *,
    keys_dir: Path,
    federation_file: Path,
    entity_id: str | None = None,
    metadata: bytes | None = None,
    metadata_name: str = "metadata",
    moment: dt.datetime | None = None,
) -> SelfCheckReport:
    """Check the metadata, the entry for ``entity_id`` (or for the metadata's entityID), and that they agree."""
    if metadata is None and entity_id is None:
        raise CliError("give --metadata FILE, --entity-id ID, or both")
    moment = moment or now()
    ca_path = keys_dir / ca_file(Role.RP)
    try:
        ca = load_certificate(ca_path)
    except CertificateError as exc:
        raise CliError(f"cannot check certificates without the relying-service CA: {exc}") from exc
    report = SelfCheckReport(entity_id, [])
    parsed: ServiceMetadata | None = None
    if metadata is not None:
        report.sources.append(metadata_name)
        parsed, found = metadata_findings(metadata, metadata_name, ca, moment, entity_id)
        report.findings += found
        if parsed is not None and report.entity_id is None:
            report.entity_id = parsed.entity_id
    if report.entity_id is None:
        return report
    located = _find_entry(federation_file, report.entity_id)
    if located is None:
        report.sources.append(federation_file.name)
        report.findings.append(
            Finding(
                "entity-id-unknown",
                str(federation_file),
                f"has no relying service with entity_id {report.entity_id!r}.",
                "Ask the federation operator to add your service, with the entity ID your toolkit uses as Issuer.",
            )
        )
        return report
    entry, where = located
    report.sources.append(where)
    report.findings += entry_findings(entry, where, keys_dir, ca, moment)
    if parsed is not None:
        report.findings += compare(parsed, metadata_name, entry, where, keys_dir)
    return report


def render(report: SelfCheckReport) -> str:
    lines = [f"Self-check of {report.entity_id or 'a relying service'}", f"Checked: {', '.join(report.sources)}", ""]
    if not report.findings:
        lines.append("No problems found: this service meets every rule the self-check knows.")
        return "\n".join(lines)
    count = len(report.findings)
    lines.append(f"{count} problem{'' if count == 1 else 's'} found:")
    for number, finding in enumerate(report.findings, start=1):
        lines.append("")
        lines.append(f"{number}. [{finding.code}] {finding.where}")
        lines += textwrap.wrap(finding.problem, 110, initial_indent="   ", subsequent_indent="   ")
        lines += textwrap.wrap(f"What to do: {finding.fix}", 110, initial_indent="   ", subsequent_indent="   ")
    return "\n".join(lines)
