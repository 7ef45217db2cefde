"""The departments the stub service app plays: each one on its own, sharing nothing with another.

A department here has its relying services (``Variant``), its one matching service, its records, the links
its matching service has made and its own store (its own prefix, its own connection): built separately for
each department from the federation file, so no object, key or endpoint is common to two. The matching
service of one department is handed only its own ``Department``: it has no way to reach another's records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from federation.config import DepartmentEntry, MatchingServiceEntry
from federation.settings import AppSettings
from federation.store import Store, make_store
from federation.web.language import current_language
from stub_service.matcher import Matcher
from stub_service.records import DATA_DIR, RecordBook, load_records
from stub_service.variants import Variant, VariantConfigError

STORE_PREFIX = "stub-service"


@dataclass(frozen=True)
class Department:
    """One department as the stub plays it."""

    id: str
    entry: DepartmentEntry
    matching_service: MatchingServiceEntry
    variants: dict[str, Variant]
    records: RecordBook
    matcher: Matcher
    store: Store
    records_file: Path
    # Every service of the department in the federation file, hosted here or not (a team's own service, testing
    # against this stub matching service before it has one of its own).
    service_entity_ids: frozenset[str]

    @property
    def name(self) -> str:
        """The department's name in the page's language."""
        return self.entry.name_in(current_language())


def records_file_for(department: str, records_dir: Path | None) -> Path:
    """``<records_dir>/<department>.json`` when a team has put one there, else the stub's own seeded file."""
    if records_dir is not None and (records_dir / f"{department}.json").exists():
        return records_dir / f"{department}.json"
    return DATA_DIR / f"{department}.json"


def _matching_service(entry: DepartmentEntry, base_url: str) -> MatchingServiceEntry:
    """The department's one matching service, at the paths this app serves it on. One whose URL is not this
    app's at all is reached through something in between (a proxy, a fault injector), which must keep the path."""
    if len(entry.matching_services) != 1:
        raise VariantConfigError(f"department {entry.id}: the stub plays one matching service per department")
    matching = entry.matching_services[0]
    base = f"{base_url.rstrip('/')}/{entry.id}/matching-service"
    if not matching.url.startswith(base_url.rstrip("/") + "/"):
        if not matching.url.endswith(f"/{entry.id}/matching-service/POST"):
            raise VariantConfigError(
                f"department {entry.id}: matching service url must end /{entry.id}/matching-service/POST"
            )
        return matching
    if matching.url != f"{base}/POST":
        raise VariantConfigError(f"department {entry.id}: matching service url must be {base}/POST")
    if matching.account_creation_url not in (None, f"{base}/account-creation/POST"):
        raise VariantConfigError(
            f"department {entry.id}: matching service account_creation_url must be {base}/account-creation/POST"
        )
    return matching


def build_departments(
    entries: list[DepartmentEntry],
    variants: list[Variant],
    base_url: str,
    settings: AppSettings,
    existing: Mapping[str, Department] | None = None,
) -> dict[str, Department]:
    """A ``Department`` for each department with a service this app hosts, or whose matching service is this
    app's (the test matching service a team uses before it has its own), by id, each with its own store.

    ``existing``: the departments built before a reload of the federation file; one still there keeps its
    store, records and links (only its services and matching service entry are taken from the new file).
    """
    slugs = {variant.slug for variant in variants}
    departments: dict[str, Department] = {}
    for entry in entries:
        own = {variant.slug: variant for variant in variants if variant.entry.department == entry.id}
        base = f"{base_url.rstrip('/')}/{entry.id}/matching-service/"
        if not own and not any(ms.url.startswith(base) for ms in entry.matching_services):
            continue  # a department whose services and matching service live elsewhere (a real team's)
        if entry.id in slugs:
            raise VariantConfigError(f"department {entry.id}: a service already uses /{entry.id}/")
        kept = (existing or {}).get(entry.id)
        # A department kept over a reload keeps its store (records added, links made); its seeded records are
        # read again, so a team's changed file of test records is taken up with the federation file.
        store = kept.store if kept is not None else make_store(settings.redis_url, f"{STORE_PREFIX}:{entry.id}")
        records_file = records_file_for(entry.id, settings.records_dir)
        book = RecordBook(load_records(records_file), store)
        departments[entry.id] = Department(
            id=entry.id,
            entry=entry,
            matching_service=_matching_service(entry, base_url),
            variants=own,
            records=book,
            matcher=Matcher(book, store),
            store=store,
            records_file=records_file,
            service_entity_ids=frozenset(service.entity_id for service in entry.relying_services),
        )
    return departments
