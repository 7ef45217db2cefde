"""``ida-hub config check`` and ``ida-hub certs expiring``: is the federation file usable, and for how long."""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from federation.config import CertificateUse, Federation, FederationConfigError, certificate_uses, load_federation
from hub.cli.common import OK, PROBLEMS, add_settings_options, settings, table
from hub.cli.federation_file import read_unchecked
from keys.pki import ROOT_NAME, CertificateError, Role, ca_file, days_to_expiry, load_certificate

WARN_DAYS = 30


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = commands.add_parser("config", help="check the federation file")
    config_commands = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = config_commands.add_parser(
        "check", help="validate the federation file and every certificate, as the apps do at start-up"
    )
    add_settings_options(check)
    check.set_defaults(handler=config_check)

    certs = commands.add_parser("certs", help="certificates in the federation")
    certs_commands = certs.add_subparsers(dest="action", required=True, metavar="ACTION")
    expiring = certs_commands.add_parser("expiring", help="list every certificate and flag those expiring soon")
    expiring.add_argument("--days", type=int, default=30, help="flag certificates expiring within this many days")
    add_settings_options(expiring)
    expiring.set_defaults(handler=certs_expiring)


def config_check(args: argparse.Namespace) -> int:
    chosen = settings(args)
    try:
        federation = load_federation(chosen.federation_file, keys_dir=chosen.keys_dir)
    except FederationConfigError as exc:
        prefix = f"{chosen.federation_file}: "
        message = str(exc).removeprefix(prefix)
        print(f"{chosen.federation_file} has problems; the apps will not start with it:")
        for problem in message.split("; "):
            print(f"  - {problem}")
        return PROBLEMS
    print(summary(federation))
    return OK


def summary(federation: Federation) -> str:
    file, hub = federation.file, federation.hub
    lines = [
        f"{federation.source} is valid: {len(federation.certificates)} certificates checked against "
        f"their CAs in {federation.keys_dir}.",
        "",
        f"Hub: {hub.entity_id}",
        f"  signs with {hub.signing_certificates[0]}; accepts {_plural(len(hub.signing_certificates), 'signing key')}",
        "",
        f"Identity providers ({len(file.identity_providers)}):",
        table(
            ["NAME", "LEVELS", "SIGNING KEYS", "ENTITY ID"],
            [
                [
                    idp.display_name,
                    ", ".join(level.label for level in idp.levels_of_assurance),
                    str(len(idp.signing_certificates)),
                    idp.entity_id,
                ]
                for idp in file.identity_providers
            ],
        ),
        "",
        f"Departments ({len(file.departments)}):",
        table(
            ["ID", "NAME", "SERVICES", "MATCHING SERVICE"],
            [
                [d.id, d.name, str(len(d.relying_services)), ", ".join(m.entity_id for m in d.matching_services)]
                for d in file.departments
            ],
        ),
        "",
        f"Relying services ({len(file.relying_services)}):",
        table(
            ["NAME", "DEPARTMENT", "PROFILE", "LEVEL", "CYCLE 3", "ACCOUNTS", "ENTITY ID"],
            [
                [
                    rp.display_name,
                    rp.department,
                    rp.profile.value,
                    rp.level_of_assurance.label,
                    rp.cycle3_attribute or "-",
                    "yes" if rp.account_creation_attributes else "no",
                    rp.entity_id,
                ]
                for rp in file.relying_services
            ],
        ),
    ]
    soon = [c for c in federation.certificates.values() if days_to_expiry(c.cert) < WARN_DAYS]
    if soon:
        lines += [
            "",
            f"{_plural(len(soon), 'certificate')} expire within {WARN_DAYS} days: run `ida-hub certs expiring`.",
        ]
    return "\n".join(lines)


@dataclass
class _Row:
    role: str
    entries: list[str]
    relative: str
    path: Path
    cert: x509.Certificate | None = None

    @property
    def not_after(self) -> dt.datetime | None:
        return None if self.cert is None else self.cert.not_valid_after_utc

    problem: str = ""


def certs_expiring(args: argparse.Namespace) -> int:
    chosen = settings(args)
    file = read_unchecked(chosen.federation_file)
    rows = _certificate_rows(certificate_uses(file), chosen.keys_dir)
    flagged = 0
    printed = []
    for row in sorted(rows, key=lambda r: (r.not_after or dt.datetime.min.replace(tzinfo=dt.UTC), str(r.path))):
        if row.cert is None:
            days, not_after, status = "-", "-", f"CANNOT READ: {row.problem}"
        else:
            left = days_to_expiry(row.cert)
            days, not_after = str(left), f"{row.cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
            status = "EXPIRED" if left < 0 else (f"EXPIRES WITHIN {args.days} DAYS" if left < args.days else "ok")
        flagged += status != "ok"
        entry = row.entries[0] + (f" (+{len(row.entries) - 1} more)" if len(row.entries) > 1 else "")
        printed.append([row.role, entry, row.relative, not_after, days, status])
    print(f"Certificates named in {chosen.federation_file}, read from {chosen.keys_dir}:")
    print()
    print(table(["ROLE", "ENTRY", "PATH", "NOT AFTER", "DAYS LEFT", "STATUS"], printed))
    print()
    if flagged:
        print(f"{_plural(flagged, 'certificate')} expired, unreadable or expiring within {args.days} days.")
        return PROBLEMS
    print(f"No certificate expires within {args.days} days.")
    return OK


def _certificate_rows(uses: list[CertificateUse], keys_dir: Path) -> list[_Row]:
    rows: dict[str, _Row] = {}
    for use in uses:
        row = rows.setdefault(use.relative, _Row(f"{use.role} {use.usage}", [], use.relative, keys_dir / use.relative))
        if use.entry not in row.entries:
            row.entries.append(use.entry)
    for role in Role:
        rows[ca_file(role)] = _Row(
            f"{role} CA", [f"issues {role} certificates"], ca_file(role), keys_dir / ca_file(role)
        )
    rows[f"{ROOT_NAME}.crt"] = _Row(
        "root CA", ["issues the role CAs"], f"{ROOT_NAME}.crt", keys_dir / f"{ROOT_NAME}.crt"
    )
    for row in rows.values():
        try:
            row.cert = load_certificate(row.path)
        except CertificateError as exc:
            row.problem = exc.reason
    return list(rows.values())


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
