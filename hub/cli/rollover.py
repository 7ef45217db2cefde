"""Signing key rollover without downtime: add, promote, retire, each an edit of the federation file.

Every ``signing_certificates`` list is read the same way by every app: the entity signs with the first
certificate and everyone verifying its messages accepts any certificate in the list. So a rollover is three
edits an operator makes days apart:

1. add: a new key and certificate from the same CA go to the end of the list. Published and accepted, not used.
2. promote: the new certificate moves first. The entity signs with it; the old one is still accepted.
3. retire: the old certificate leaves the list. Nothing signed with it is accepted any more.

The file is edited with ruamel.yaml's round trip, so comments, anchors and flow lists stay as they were; an
anchored list shared by several entries (one department's key for several services) is edited once. The new
file is written beside the old one, loaded with ``load_federation`` exactly as an app would load it, and only
then moved over the old one, so a failed edit never leaves a broken file behind.
"""

from __future__ import annotations

import datetime as dt
import difflib
import io
import re
import textwrap
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from federation.config import FederationConfigError, load_federation, raw_departments, raw_services
from federation.saml.metadata import METADATA_REFRESH, PUBLISHED_VALIDITY
from federation.saml.xml import now
from hub.cli.common import CliError
from hub.cli.file_edits import replace_checked, round_trip_yaml
from keys.pki import CertificateError, Role, Usage, issue_leaf, load_certificate

_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class Stage(StrEnum):
    ADD = "add"
    PROMOTE = "promote"
    RETIRE = "retire"
    STATUS = "status"


class State(StrEnum):
    STEADY = "one certificate"
    ADDED = "new certificate added, old one signs"
    PROMOTED = "new certificate signs, old one still accepted"


def base_name(name: str) -> str:
    """``hub-signing``, ``hub-signing.crt`` and ``hub-signing-2026-11-27.crt`` all name the hub-signing key."""
    return _DATED.sub("", name.removesuffix(".crt"))


@dataclass
class SigningList:
    """One ``signing_certificates`` list naming the key being rolled over, and whose it is."""

    field: str
    owner: str
    role: Role
    items: Any  # a ruamel CommentedSeq: edited in place, so anchors shared by several entries stay shared
    keys_dir: Path

    def matching(self, base: str) -> list[str]:
        return [str(item) for item in self.items if base in (base_name(str(item)), Path(base_name(str(item))).name)]

    def state(self, base: str) -> tuple[State, str, str | None]:
        """The rollover's stage in this list: (state, the certificate signing now, the other one if any)."""
        found = self.matching(base)
        if len(found) == 1:
            return State.STEADY, found[0], None
        if len(found) != 2:
            raise CliError(f"{self.field} names {len(found)} certificates for {base}; a rollover needs one or two")
        older, newer = sorted(found, key=self._issued)
        first = found[0]
        return (State.ADDED, older, newer) if first == older else (State.PROMOTED, newer, older)

    def _issued(self, relative: str) -> tuple[dt.datetime, str]:
        """When a certificate was issued; the date in its name breaks a tie (two issued in the same second)."""
        try:
            issued = load_certificate(self.keys_dir / relative).not_valid_before_utc
        except CertificateError as exc:
            raise CliError(f"{self.field}: {exc}") from exc
        dated = _DATED.search(relative.removesuffix(".crt"))
        return issued, dated.group(0) if dated else ""


@dataclass
class Rollover:
    """The outcome of one stage: what the file says now, and what the operator should do next."""

    stage: Stage
    base: str
    lists: list[SigningList]
    state: State
    signing: str
    other: str | None
    diff: str = ""
    written: list[Path] = field(default_factory=list)


def _signing_lists(doc: Any, keys_dir: Path) -> list[SigningList]:
    found = [SigningList("hub.signing_certificates", "the hub", Role.HUB, doc["hub"]["signing_certificates"], keys_dir)]
    for i, idp in enumerate(doc.get("identity_providers") or []):
        name = str(idp.get("display_name", f"identity provider {i}"))
        field_name = f"identity_providers[{i}].signing_certificates"
        found.append(SigningList(field_name, name, Role.IDP, idp["signing_certificates"], keys_dir))
    for d, department in enumerate(raw_departments(doc)):
        for m, msa in enumerate(department.get("matching_services") or []):
            found.append(
                SigningList(
                    f"departments[{d}].matching_services[{m}].signing_certificates",
                    f"the matching service of {department.get('name', department.get('id'))}",
                    Role.RP,
                    msa["signing_certificates"],
                    keys_dir,
                )
            )
    for service in raw_services(doc):
        name = str(service.entry.get("display_name", service.path))
        certificates = service.entry["signing_certificates"]
        found.append(SigningList(f"{service.path}.signing_certificates", name, Role.RP, certificates, keys_dir))
    return found


def _single_certificate_fields(doc: Any) -> list[tuple[str, str]]:
    fields = [("hub.encryption_certificate", doc["hub"]["encryption_certificate"])]
    fields.append(("metadata_signing_certificate", doc["metadata_signing_certificate"]))
    for d, department in enumerate(raw_departments(doc)):
        for m, msa in enumerate(department.get("matching_services") or []):
            fields.append(
                (f"departments[{d}].matching_services[{m}].encryption_certificate", msa["encryption_certificate"])
            )
    for service in raw_services(doc):
        fields.append((f"{service.path}.encryption_certificate", service.entry["encryption_certificate"]))
    return [(name, str(value)) for name, value in fields]


def _lists_for(doc: Any, base: str, keys_dir: Path) -> list[SigningList]:
    unique: dict[int, SigningList] = {}
    for signing_list in _signing_lists(doc, keys_dir):
        if signing_list.matching(base):
            unique.setdefault(id(signing_list.items), signing_list)
    if unique:
        roles = {signing_list.role for signing_list in unique.values()}
        if len(roles) > 1:
            raise CliError(f"{base} is named under more than one CA's role ({', '.join(sorted(roles))})")
        return list(unique.values())
    single = [name for name, value in _single_certificate_fields(doc) if base_name(value) == base]
    if single:
        raise CliError(
            f"{base} is the {single[0]}, which holds one certificate: rolling it over needs every app to accept two "
            "at once, which the federation file does not allow yet. Only signing_certificates lists can be rolled over."
        )
    raise CliError(f"no signing_certificates list in the federation file names {base}")


def _current_state(lists: list[SigningList], base: str) -> tuple[State, str, str | None]:
    states = {signing_list.state(base) for signing_list in lists}
    if len(states) > 1:
        where = ", ".join(signing_list.field for signing_list in lists)
        raise CliError(f"the lists naming {base} disagree ({where}); make them the same by hand, then run again")
    return states.pop()


def rotate(
    federation_file: Path,
    keys_dir: Path,
    name: str,
    stage: Stage,
    *,
    days: int = 365,
    ca_key: Path | None = None,
    dry_run: bool = False,
) -> Rollover:
    """Run one stage of the rollover of the signing key ``name`` (say ``hub-signing``)."""
    try:
        load_federation(federation_file, keys_dir=keys_dir)
    except FederationConfigError as exc:
        raise CliError(f"the federation file must be valid before a rollover: {exc}") from exc
    yaml = round_trip_yaml()
    original = federation_file.read_text(encoding="utf-8")
    doc = yaml.load(original)
    base = base_name(name)
    lists = _lists_for(doc, base, keys_dir)
    state, signing, other = _current_state(lists, base)
    result = Rollover(stage, base, lists, state, signing, other)
    if stage is Stage.STATUS:
        return result
    expected = {Stage.ADD: State.STEADY, Stage.PROMOTE: State.ADDED, Stage.RETIRE: State.PROMOTED}[stage]
    if state is not expected:
        raise CliError(f"cannot {stage} {base}: {_where_it_is(state, signing, other)}; {_next_step(state, base)}")
    new_files: list[Path] = []
    if stage is Stage.ADD:
        stem = str(Path(signing).with_suffix("").parent / f"{Path(base).name}-{now():%Y-%m-%d}")
        if not dry_run:
            new_files = _issue(keys_dir, stem, lists[0].role, days, ca_key)
        _add(lists, f"{stem}.crt")
        result.state, result.other = State.ADDED, f"{stem}.crt"
    elif stage is Stage.PROMOTE:
        assert other is not None
        _swap(lists, signing, other)
        result.state, result.signing, result.other = State.PROMOTED, other, signing
    else:
        assert other is not None
        _remove(lists, other)
        result.state, result.other = State.STEADY, None
    buffer = io.StringIO()
    yaml.dump(doc, buffer)
    edited = buffer.getvalue()
    result.diff = "".join(
        difflib.unified_diff(
            original.splitlines(keepends=True), edited.splitlines(keepends=True), str(federation_file), "(edited)"
        )
    )
    if not dry_run:
        replace_checked(federation_file, edited, keys_dir, new_files)
        result.written = [federation_file, *new_files]
    return result


def _issue(keys_dir: Path, stem: str, role: Role, days: int, ca_key: Path | None) -> list[Path]:
    try:
        cert = issue_leaf(keys_dir, stem, role, Usage.SIGNING, ca_key=ca_key, days=days)
    except CertificateError as exc:
        raise CliError(f"cannot issue the new certificate: {exc}") from exc
    return [cert, cert.with_suffix(".key")]


def _add(lists: list[SigningList], new: str) -> None:
    for signing_list in lists:
        signing_list.items.append(new)


def _swap(lists: list[SigningList], signing: str, other: str) -> None:
    for signing_list in lists:
        items = signing_list.items
        first, second = list(items).index(signing), list(items).index(other)
        items[first], items[second] = other, signing


def _remove(lists: list[SigningList], retired: str) -> None:
    for signing_list in lists:
        signing_list.items.remove(retired)


def _where_it_is(state: State, signing: str, other: str | None) -> str:
    if state is State.STEADY:
        return f"only {signing} is listed"
    if state is State.ADDED:
        return f"{other} is listed and accepted but {signing} still signs"
    return f"{signing} signs and {other} is still accepted"


def _next_step(state: State, base: str) -> str:
    step = {State.STEADY: Stage.ADD, State.ADDED: Stage.PROMOTE, State.PROMOTED: Stage.RETIRE}[state]
    return f"the next step is `ida-hub keys rotate {base} {step}`"


def describe(result: Rollover) -> str:
    """Where the rollover is now, and what to do next, in the operator's words."""
    owners = ", ".join(sorted({signing_list.owner for signing_list in result.lists}))
    fields = ", ".join(signing_list.field for signing_list in result.lists)
    now_text = f"{result.base}: {_where_it_is(result.state, result.signing, result.other)} ({fields}; {owners})."
    if result.stage is Stage.STATUS:
        return f"{now_text}\nNext: {_next_step(result.state, result.base).removeprefix('the next step is ')}."
    advice = {
        State.ADDED: (
            f"Next: deploy this federation file and the new certificate to every app, the new private key only to "
            f"{owners}, and restart them. Everyone who checks these signatures now accepts the new certificate; "
            "services and IDPs that read the hub's metadata see it when their copy is refreshed. Wait at least the "
            f"metadata's validity ({PUBLISHED_VALIDITY.days} days) plus the hub's metadata cache "
            f"({METADATA_REFRESH.seconds // 3600} hour), then run "
            f"`ida-hub keys rotate {result.base} promote`."
        ),
        State.PROMOTED: (
            "Next: deploy and restart. The new key signs; the old certificate is still accepted, so messages already "
            "on their way and apps not yet restarted keep working. Watch signature errors (ida_errors_total). Once "
            "every app runs this file, and no sooner than 5 minutes plus the clock skew (a day lets you roll back "
            f"calmly), run `ida-hub keys rotate {result.base} retire`."
        ),
        State.STEADY: (
            "Next: deploy and restart. Nothing signed with the old key is accepted any more. Its key file is left in "
            "place: delete it once you are sure you will not roll back."
        ),
    }[result.state]
    return "\n".join([now_text, "", *textwrap.wrap(advice, 110)])
