"""``ida-hub suspend``, ``resume`` and ``remove``: a relying service or company taken out of use, and back."""

from __future__ import annotations

import argparse
import textwrap
from dataclasses import dataclass
from typing import Any

from hub.cli.common import OK, CliError
from hub.cli.entry_edits import (
    TAKES_EFFECT,
    WIDTH,
    Edit,
    Kind,
    finish,
    open_edit,
)
from keys.pki import Role


@dataclass
class Found:
    """One entry named on the command line: the round-trip list that holds it, and where."""

    kind: Kind
    items: Any
    index: int
    name: str

    @property
    def entry(self) -> Any:
        return self.items[self.index]


def find(edit: Edit, kind: Kind, identifier: str) -> Found:
    """The entry, named as the apps read it (placeholders filled) or as the file spells it."""
    wanted = {identifier, edit.fill(identifier)}
    doc, file = edit.doc, edit.before
    for d, department in enumerate(file.departments):
        if kind is Kind.DEPARTMENT and department.id in wanted:
            return Found(kind, doc["departments"], d, department.name)
        for i, service in enumerate(department.relying_services):
            if kind is Kind.SERVICE and service.entity_id in wanted:
                return Found(kind, doc["departments"][d]["relying_services"], i, service.display_name)
    for i, idp in enumerate(file.identity_providers):
        if kind is Kind.COMPANY and idp.entity_id in wanted:
            return Found(kind, doc["identity_providers"], i, idp.display_name)
    elsewhere = {
        Kind.COMPANY: {idp.entity_id for idp in file.identity_providers},
        Kind.SERVICE: {service.entity_id for service in file.relying_services},
    }
    hint = next((f"; it is a {other}'s entity ID" for other, ids in elsewhere.items() if wanted & ids), "")
    raise CliError(f"there is no {kind} {identifier!r} in {edit.path}{hint}")


def _set_suspended(args: argparse.Namespace, suspended: bool) -> int:
    edit = open_edit(args)
    found = find(edit, Kind(args.kind), args.identifier)
    entry = found.entry
    if bool(entry.get("suspended", False)) is suspended:
        print(f"{found.name} is {'already' if suspended else 'not'} suspended: {edit.path} left as it was.")
        return OK
    if not suspended:
        del entry["suspended"]
    elif "suspended" in entry:
        entry["suspended"] = True
    else:  # beside the name, where a reader of the file sees it first
        entry.insert(list(entry).index("display_name") + 1, "suspended", True)
    finish(edit, [], Role.RP, args)
    if edit.dry_run:
        return OK
    if not suspended:
        print(f"\n{found.name} is no longer suspended.\n{TAKES_EFFECT}")
        return OK
    if found.kind is Kind.SERVICE:
        print(f"\nSuspended {found.name}: the hub refuses its requests, with a page saying so.")
    else:
        print(f"\nSuspended {found.name}: citizens are no longer offered it, and the hub refuses its answers.")
    print(f"{TAKES_EFFECT}\nUndo it with `ida-hub resume {found.kind} {args.identifier}`.")
    _warn_if_no_company_left(edit)
    return OK


def suspend(args: argparse.Namespace) -> int:
    return _set_suspended(args, True)


def resume(args: argparse.Namespace) -> int:
    return _set_suspended(args, False)


def remove(args: argparse.Namespace) -> int:
    edit = open_edit(args)
    found = find(edit, Kind(args.kind), args.identifier)
    if found.kind is Kind.DEPARTMENT:
        department = edit.before.departments[found.index]
        if department.relying_services:
            services = ", ".join(service.entity_id for service in department.relying_services)
            raise CliError(f"department {department.id} still has services; remove them first: {services}")
        if len(edit.before.departments) == 1:
            raise CliError(f"{department.id} is the only department, and the federation file needs at least one")
    if found.kind is Kind.COMPANY and len(edit.before.identity_providers) == 1:
        raise CliError(f"{found.name} is the only company, and the federation file needs at least one")
    del found.items[found.index]
    finish(edit, [], Role.RP, args)
    if not edit.dry_run:
        print(f"\nRemoved {found.name} from the federation.\n{TAKES_EFFECT}")
        kept = (
            f"Its certificates and any private keys are still in {edit.keys_dir}: delete them once you are sure you "
            "will not put it back (this tool never deletes key files)."
        )
        print(textwrap.fill(kept, WIDTH))
        _warn_if_no_company_left(edit)
    return OK


def _warn_if_no_company_left(edit: Edit) -> None:
    if all(entry.get("suspended", False) for entry in edit.doc["identity_providers"]):
        print("Warning: every company is now suspended: no citizen can prove their identity.")
