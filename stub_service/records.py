"""The department's own records and how its matching service finds a person in them.

Cycle 0: a pairwise identifier matched before. Cycle 1: verified surname and date of birth, narrowed by
current postcode and then first name when more than one record fits (the strategy of GOV.UK Verify's
example local matching service). A match links the pairwise identifier to the record.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter

from federation.mds import MatchingDataset
from federation.store import Store

RECORDS_FILE = Path(__file__).resolve().parent / "data" / "records.json"
LINK_SECONDS = 30 * 24 * 60 * 60


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: str
    first_name: str
    surname: str
    date_of_birth: str
    postcode: str
    tax_code: str
    employer: str


def load_records(path: Path = RECORDS_FILE) -> dict[str, Record]:
    records = TypeAdapter(list[Record]).validate_python(json.loads(path.read_text(encoding="utf-8")))
    return {record.reference: record for record in records}


def _norm(text: str | None) -> str:
    return "".join((text or "").split()).casefold()


class Matcher:
    def __init__(self, records: dict[str, Record], store: Store) -> None:
        self.records = records
        self._store = store

    def linked_record(self, pairwise_id: str) -> Record | None:
        link = self._store.get(f"link:{pairwise_id}")
        return self.records.get(link["reference"]) if link else None

    def match(self, pairwise_id: str, dataset: MatchingDataset) -> Record | None:
        linked = self.linked_record(pairwise_id)
        if linked is not None:
            return linked
        surnames = {_norm(n.value) for n in dataset.surnames if n.verified}
        births = {d.value.isoformat() for d in dataset.dates_of_birth if d.verified}
        candidates = [r for r in self.records.values() if _norm(r.surname) in surnames and r.date_of_birth in births]
        if len(candidates) > 1:
            postcodes = {_norm(a.postcode) for a in dataset.current_addresses if a.verified}
            candidates = [r for r in candidates if _norm(r.postcode) in postcodes]
        if len(candidates) > 1:
            first_names = {_norm(n.value) for n in dataset.first_names if n.verified}
            candidates = [r for r in candidates if _norm(r.first_name) in first_names]
        if len(candidates) != 1:
            return None
        self._store.put(f"link:{pairwise_id}", {"reference": candidates[0].reference}, LINK_SECONDS)
        return candidates[0]
