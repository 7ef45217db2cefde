"""``ida-hub enrol``, ``suspend``, ``resume`` and ``remove``: who is in the federation, changed by command.

A department (with its matching service), a relying service or a certified company is enrolled with a key pair
issued here by its role's CA, or with a certificate signed from the certificate signing request its team brings,
so that its private key never leaves the team. Each command edits the federation file as ``keys rotate`` does
(``hub/cli/rollover.py``): ruamel.yaml's round trip keeps comments and order; the edited text is written beside
the file, loaded exactly as an app loads it (schema, then every certificate against its CA), and only then
renamed over it. A refused edit leaves the file byte for byte as it was and deletes the keys it had just issued.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import NoReturn

from ruamel.yaml.comments import CommentedSeq

from federation.config import (
    AccountCreationAttribute,
    DepartmentEntry,
    Evidence,
    IdentityProviderEntry,
    Profile,
    ServiceInFile,
)
from federation.verify.cycle3 import Cycle3AttributeName
from federation.verify.loa import LevelOfAssurance
from hub.cli.common import CANNOT_RUN, OK, CliError, add_settings_options
from hub.cli.entry_edits import (
    COMPANY_OPTIONS,
    DEPARTMENT_OPTIONS,
    PRIVATE_KEY_WARNING,
    SERVICE_OPTIONS,
    TAKES_EFFECT,
    WIDTH,
    Edit,
    Kind,
    NewCertificate,
    certificate_fields,
    check_entry,
    finish,
    flow,
    new_entry,
    open_edit,
    plan_certificates,
    refuse_known,
    slug,
    welsh_words,
    yaml_text,
)
from hub.cli.membership_commands import find, remove, resume, suspend  # noqa: F401
from keys.pki import Role, Usage


class _Parser(argparse.ArgumentParser):
    """A command line it cannot use is said in one line, with where to look, and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(CANNOT_RUN, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    enrol = commands.add_parser(
        "enrol",
        help="add a department, a relying service or a certified company, with its certificates",
        description="Add an entry to the federation file, with certificates from its role's CA: key pairs made "
        "here, or certificates signed from the team's certificate signing requests (--csr), so that their private "
        "keys never leave them. The file is changed only if it then loads as the apps would load it.",
    )
    kinds = enrol.add_subparsers(dest="kind", metavar="KIND", parser_class=_Parser)
    enrol.set_defaults(handler=_say_which("enrol", [Kind.DEPARTMENT, Kind.SERVICE, Kind.COMPANY]))
    _department_parser(kinds.add_parser(Kind.DEPARTMENT.value, help="a department and its matching service"))
    _service_parser(kinds.add_parser(Kind.SERVICE.value, help="a relying service in an enrolled department"))
    _company_parser(kinds.add_parser(Kind.COMPANY.value, help="a certified company (an identity provider)"))
    for verb, what, handler in (
        ("suspend", "stop a relying service or a company being used; its entry stays", suspend),
        ("resume", "undo a suspension", resume),
        ("remove", "delete a relying service, a company, or a department that has no services left", remove),
    ):
        parser = commands.add_parser(verb, help=what, description=f"{what[0].upper()}{what[1:]}.")
        targets = parser.add_subparsers(dest="kind", metavar="KIND", parser_class=_Parser)
        allowed = [Kind.SERVICE, Kind.COMPANY, *([Kind.DEPARTMENT] if verb == "remove" else [])]
        parser.set_defaults(handler=_say_which(verb, allowed))
        for kind in allowed:
            target = targets.add_parser(kind.value, help=f"{verb} a {kind}")
            target.add_argument("identifier", help="its id" if kind is Kind.DEPARTMENT else "its entity ID")
            target.add_argument("--dry-run", action="store_true", help="show the edit; write nothing")
            add_settings_options(target)
            target.set_defaults(handler=handler)


def _say_which(verb: str, kinds: list[Kind]) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        raise CliError(f"say what to {verb}: `ida-hub {verb} {'|'.join(kinds)} …` (see `ida-hub {verb} --help`)")

    return handler


def _comma_list(choices: type[StrEnum]) -> Callable[[str], list[str]]:
    def parse(value: str) -> list[str]:
        items = [item.strip() for item in value.split(",") if item.strip()]
        allowed = [choice.value for choice in choices]
        for item in items:
            if item not in allowed:
                raise argparse.ArgumentTypeError(f"{item!r} is not one of {', '.join(allowed)}")
        return items

    return parse


def _department_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", required=True, help="a short lowercase name, such as dwp")
    parser.add_argument("--name", required=True, help="the department's name")
    parser.add_argument("--welsh-name", default="", help="its name in Welsh (docs/welsh.md)")
    parser.add_argument("--matching-service-entity-id", required=True, help="its matching service's entity ID")
    parser.add_argument("--matching-service-url", required=True, help="where the hub sends its matching queries")
    parser.add_argument("--account-creation-url", help="where the hub asks it to create accounts, if it does")
    _key_options(parser, encryption=True)
    parser.set_defaults(handler=enrol_department)


def _service_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--department", required=True, help="its department's id, such as dwp")
    parser.add_argument("--entity-id", required=True, help="its SAML entity ID")
    parser.add_argument("--display-name", required=True, help="its name, as citizens read it")
    parser.add_argument("--service-url", required=True, help="its start page")
    parser.add_argument("--acs-url", required=True, action="append", help="an assertion consumer URL (repeatable)")
    parser.add_argument("--level", required=True, choices=[level.value for level in LevelOfAssurance])
    parser.add_argument("--profile", choices=[profile.value for profile in Profile], help="default simple")
    parser.add_argument("--cycle3-attribute", choices=[name.value for name in Cycle3AttributeName])
    parser.add_argument(
        "--account-creation-attributes",
        type=_comma_list(AccountCreationAttribute),
        default=[],
        metavar="A,B",
        help=f"what it receives for a new account: {', '.join(AccountCreationAttribute)}",
    )
    parser.add_argument("--other-ways", default="", help="how to use the service without proving identity online")
    parser.add_argument("--welsh-display-name", default="", help="its name in Welsh (docs/welsh.md)")
    parser.add_argument("--welsh-other-ways", default="", help="--other-ways in Welsh")
    parser.add_argument("--matching-service", help="its matching service's entity ID (default: the department's)")
    _key_options(parser, encryption=True)
    parser.set_defaults(handler=enrol_service)


def _company_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entity-id", required=True, help="its SAML entity ID")
    parser.add_argument("--display-name", required=True, help="its name, as citizens read it")
    parser.add_argument("--sso-url", required=True, help="where the hub sends citizens with its AuthnRequest")
    parser.add_argument("--levels", required=True, type=_comma_list(LevelOfAssurance), metavar="LEVEL_1,LEVEL_2")
    parser.add_argument(
        "--evidence",
        type=_comma_list(Evidence),
        default=[],
        metavar="A,B",
        help=f"what a citizen needs to use it: {', '.join(Evidence)}",
    )
    parser.add_argument("--description", default="", help="one sentence citizens read when choosing a company")
    parser.add_argument("--welsh-description", default="", help="--description in Welsh (docs/welsh.md)")
    _key_options(parser, encryption=False)
    parser.set_defaults(handler=enrol_company)


def _key_options(parser: argparse.ArgumentParser, *, encryption: bool) -> None:
    whose = "team's" if encryption else "company's"
    what = "one key that both signs and decrypts" if encryption else "its signing key"
    parser.add_argument(
        "--csr",
        type=Path,
        metavar="FILE",
        help=f"the {whose} certificate signing request (PEM) for {what}; the private key stays with them",
    )
    if encryption:
        parser.add_argument("--csr-signing", type=Path, metavar="FILE", help="the team's request for a signing key")
        parser.add_argument("--csr-encryption", type=Path, metavar="FILE", help="and for an encryption key")
        parser.add_argument(
            "--one-key", action="store_true", help="one key pair to sign and decrypt with, as python3-saml needs"
        )
    parser.add_argument("--key-name", help="how the certificate files are named (default: from the id or name)")
    parser.add_argument("--days", type=int, default=365, help="validity of the certificates (default 365)")
    parser.add_argument("--ca-key", type=Path, help="the role CA's private key (default: <role>-ca.key beside it)")
    parser.add_argument("--dry-run", action="store_true", help="show the edit; issue and write nothing")
    add_settings_options(parser)


def enrol_department(args: argparse.Namespace) -> int:
    edit = open_edit(args)
    if edit.before.department(args.id) is not None:
        raise CliError(f"a department with id {args.id!r} is already in {edit.path}")
    refuse_known(edit, args.matching_service_entity_id)
    new = plan_certificates(args, edit, f"{args.id}-msa", encryption=True)
    matching = new_entry(
        {
            "entity_id": args.matching_service_entity_id,
            "url": args.matching_service_url,
            "account_creation_url": args.account_creation_url,
            **certificate_fields(new),
        }
    )
    department = new_entry(
        {
            "id": args.id,
            "name": args.name,
            "welsh": welsh_words(name=args.welsh_name),
            "matching_services": CommentedSeq([matching]),
        }
    )
    check_entry(edit, DepartmentEntry, {**department, "matching_services": [dict(matching)]}, DEPARTMENT_OPTIONS)
    edit.doc["departments"].append(department)
    keys = finish(edit, new, Role.RP, args)
    rows = [("matching service entity ID", edit.fill(args.matching_service_entity_id))]
    rows.append(("the hub sends matching queries to", edit.fill(args.matching_service_url)))
    if args.account_creation_url:
        rows.append(("and account creation requests to", edit.fill(args.account_creation_url)))
    step = [
        "enrol its services:",
        f"  ida-hub enrol service --department {args.id} --entity-id … --display-name … --service-url … "
        "--acs-url … --level …",
    ]
    headline = f"Enrolled the department {args.name} (id {args.id}) and its matching service."
    stub = edit.before.urls.get("stub_service", "").rstrip("/")
    played = bool(stub) and edit.fill(args.matching_service_url).startswith(f"{stub}/{args.id}/matching-service/")
    if played:  # the stub service plays it, with these keys: they stay here
        rows.append(("test matching service", f"played by the stub service, from {args.id}.json in its records folder"))
    _report(edit, headline, rows, new, [] if played else keys, "the department", step)
    return OK


def enrol_service(args: argparse.Namespace) -> int:
    edit = open_edit(args)
    department = edit.before.department(args.department)
    if department is None:
        known = ", ".join(entry.id for entry in edit.before.departments)
        raise CliError(f"there is no department {args.department!r} (there are {known}); enrol it first")
    matching_ids = [entry.entity_id for entry in department.matching_services]
    if args.matching_service is None and len(matching_ids) > 1:
        raise CliError(f"department {department.id} has several matching services; name one with --matching-service")
    if args.matching_service is not None and edit.fill(args.matching_service) not in matching_ids:
        raise CliError(f"{args.matching_service} is not a matching service of department {department.id}")
    refuse_known(edit, args.entity_id)
    new = plan_certificates(args, edit, slug(args.display_name, "service"), encryption=True)
    fields = {
        "entity_id": args.entity_id,
        "display_name": args.display_name,
        "service_url": args.service_url,
        "assertion_consumer_urls": CommentedSeq([yaml_text(url) for url in args.acs_url]),
        "level_of_assurance": args.level,
        "cycle3_attribute": args.cycle3_attribute,
        "account_creation_attributes": flow(args.account_creation_attributes),
        "other_ways": args.other_ways,
        "welsh": welsh_words(display_name=args.welsh_display_name, other_ways=args.welsh_other_ways),
        "profile": args.profile,
        "matching_service": args.matching_service,
    }
    service = new_entry({**fields, **certificate_fields(new)})
    check_entry(edit, ServiceInFile, service, SERVICE_OPTIONS)
    listed = edit.doc["departments"][edit.before.departments.index(department)]
    if not listed.get("relying_services"):  # absent, or `[]`, whose flow style the new entry would inherit
        listed["relying_services"] = CommentedSeq()
    listed["relying_services"].append(service)
    keys = finish(edit, new, Role.RP, args)
    entity_id = edit.fill(args.entity_id)
    step = [
        "the team sets its SAML toolkit up from the hub's metadata, then checks itself with:",
        f"  ida-hub self-check --metadata <its metadata file> --entity-id {entity_id}",
        "  ida-hub self-check journey --start-url <its start page>",
    ]
    headline = f"Enrolled the relying service {args.display_name} in {department.name}."
    _report(edit, headline, [("entity ID", entity_id)], new, keys, "the service team", step)
    return OK


def enrol_company(args: argparse.Namespace) -> int:
    edit = open_edit(args)
    refuse_known(edit, args.entity_id)
    new = plan_certificates(args, edit, slug(args.display_name, "company"), encryption=False)
    company = new_entry(
        {
            "entity_id": args.entity_id,
            "display_name": args.display_name,
            "description": args.description,
            "welsh": welsh_words(description=args.welsh_description),
            "sso_url": args.sso_url,
            "signing_certificates": flow([new[0].file]),
            "levels_of_assurance": flow(args.levels),
            "evidence_required": flow(args.evidence),
        }
    )
    check_entry(edit, IdentityProviderEntry, company, COMPANY_OPTIONS)
    edit.doc["identity_providers"].append(company)
    keys = finish(edit, new, Role.IDP, args)
    rows = [("entity ID", edit.fill(args.entity_id)), ("it sends its Responses to", edit.before.hub.acs_url)]
    step = [
        "the company sets its identity provider up from the hub's metadata. Citizens are offered it as soon as the "
        "apps have the change; `ida-hub config check` lists it."
    ]
    _report(edit, f"Enrolled the certified company {args.display_name}.", rows, new, keys, "the company", step)
    return OK


def _report(
    edit: Edit,
    headline: str,
    rows: list[tuple[str, str]],
    new: list[NewCertificate],
    keys: list[Path],
    whom: str,
    step: list[str],
) -> None:
    """What the team needs: its entity ID, its certificates (and keys), the hub's metadata, and what comes next."""
    if edit.dry_run:
        return
    for certificate in new:
        usage = "signing and encryption" if certificate.usage is Usage.SIGNING_AND_ENCRYPTION else certificate.usage
        rows.append((f"{usage} certificate", str(edit.keys_dir / certificate.file)))
    rows += [("private key", str(key)) for key in keys]
    if any(certificate.request for certificate in new):
        rows.append(("private key", f"kept by {whom}: the certificate was signed from its request"))
    rows.append(("hub metadata", f"{edit.before.hub.entity_id} (the hub's entity ID; it serves its metadata there)"))
    width = max(len(name) for name, _ in rows) + 2
    print(f"\n{headline}\n\nFor {whom}:")
    for name, value in rows:
        print(f"  {name:<{width}}{value}")
    if keys:
        print(f"\n{textwrap.fill(PRIVATE_KEY_WARNING.format(whom=whom), WIDTH)}")
    print(f"\n{textwrap.fill(f'Next: {step[0]}', WIDTH)}")
    for command in step[1:]:  # a command on a line of its own, to be copied whole
        print(command)
    print(TAKES_EFFECT)
