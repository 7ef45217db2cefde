"""How the department's matching service finds a person in its records, or makes a record for them.

Cycle 0: a pairwise identifier linked before. Cycle 1: verified surname and date of birth, narrowed by
current postcode and then first name when more than one record fits (the strategy of GOV.UK Verify's
example local matching service). Cycle 3: the citizen's National Insurance number and a verified date of
birth. A match, or a new record, links the pairwise identifier to the record.
"""

from __future__ import annotations

from dataclasses import dataclass

from federation.store import Store
from federation.verify.cycle3 import CYCLE3_ATTRIBUTES, Cycle3AttributeName
from federation.verify.mds import Address, MatchingDataset, Name
from stub_service.records import NewRecord, Record, RecordBook

LINK_SECONDS = 30 * 24 * 60 * 60


@dataclass(frozen=True)
class Cycle3Answer:
    """The one extra fact the citizen gave the hub, normalised (spaces removed, upper case)."""

    name: Cycle3AttributeName
    value: str

    @classmethod
    def of(cls, name: Cycle3AttributeName, raw: str) -> Cycle3Answer:
        return cls(name, CYCLE3_ATTRIBUTES[name].normalise(raw))


def _norm(text: str | None) -> str:
    return "".join((text or "").split()).casefold()


def _verified_current(dataset: MatchingDataset, values: list[Name]) -> Name | None:
    verified = [value for value in values if value.verified]
    return dataset.current(verified) if verified else None


def _verified_current_address(addresses: list[Address]) -> Address | None:
    return next((a for a in addresses if a.verified and a.to_date is None and a.postcode), None)


class Matcher:
    """Matches on, and creates, the department's records; remembers pairwise identifiers it has linked."""

    def __init__(self, book: RecordBook, store: Store) -> None:
        self._book = book
        self._store = store

    def linked_record(self, pairwise_id: str) -> Record | None:
        """The record this pairwise identifier was linked to by an earlier match or account creation."""
        link = self._store.get(f"link:{pairwise_id}")
        return self._book.get(str(link.get("reference", ""))) if link else None

    def match(self, pairwise_id: str, dataset: MatchingDataset, cycle3: Cycle3Answer | None = None) -> Record | None:
        """Cycle 0, then cycle 3 when the citizen answered the extra question, else cycle 1; links on a match.

        The hub asks cycle 3 only after cycle 1 found no one, so a cycle 3 answer decides on its own: a wrong
        answer must not match.
        """
        linked = self.linked_record(pairwise_id)
        if linked is not None:
            return linked
        found = self._cycle3(dataset, cycle3) if cycle3 is not None else self._cycle1(dataset)
        if found is not None:
            self._link(pairwise_id, found)
        return found

    def create(self, pairwise_id: str, dataset: MatchingDataset, cycle3: Cycle3Answer | None = None) -> Record | None:
        """A new record from the verified dataset, linked to the pairwise identifier; None if it cannot be made.

        It needs a verified current first name, surname, date of birth and address with a postcode.
        """
        linked = self.linked_record(pairwise_id)
        if linked is not None:
            return linked  # the hub asked again for someone already created: do not make a second record
        first_name = _verified_current(dataset, dataset.first_names)
        surname = _verified_current(dataset, dataset.surnames)
        birth = next((d for d in dataset.dates_of_birth if d.verified), None)
        address = _verified_current_address(dataset.current_addresses)
        if first_name is None or surname is None or birth is None or address is None or address.postcode is None:
            return None
        nino = cycle3.value if cycle3 and cycle3.name is Cycle3AttributeName.NATIONAL_INSURANCE_NUMBER else None
        record = self._book.add(
            NewRecord(
                first_name=first_name.value,
                surname=surname.value,
                date_of_birth=birth.value.isoformat(),
                postcode=address.postcode,
                nino=nino,
            )
        )
        self._link(pairwise_id, record)
        return record

    def _link(self, pairwise_id: str, record: Record) -> None:
        self._store.put(f"link:{pairwise_id}", {"reference": record.reference}, LINK_SECONDS)

    def _cycle1(self, dataset: MatchingDataset) -> Record | None:
        surnames = {_norm(n.value) for n in dataset.surnames if n.verified}
        births = {d.value.isoformat() for d in dataset.dates_of_birth if d.verified}
        candidates = [r for r in self._book.all() if _norm(r.surname) in surnames and r.date_of_birth in births]
        if len(candidates) > 1:
            postcodes = {_norm(a.postcode) for a in dataset.current_addresses if a.verified}
            candidates = [r for r in candidates if _norm(r.postcode) in postcodes]
        if len(candidates) > 1:
            first_names = {_norm(n.value) for n in dataset.first_names if n.verified}
            candidates = [r for r in candidates if _norm(r.first_name) in first_names]
        return candidates[0] if len(candidates) == 1 else None

    def _cycle3(self, dataset: MatchingDataset, cycle3: Cycle3Answer) -> Record | None:
        if cycle3.name is not Cycle3AttributeName.NATIONAL_INSURANCE_NUMBER or not cycle3.value:
            return None  # the department keeps no other cycle 3 fact
        births = {d.value.isoformat() for d in dataset.dates_of_birth if d.verified}
        candidates = [
            r for r in self._book.all() if r.nino and _norm(r.nino) == _norm(cycle3.value) and r.date_of_birth in births
        ]
        return candidates[0] if len(candidates) == 1 else None
