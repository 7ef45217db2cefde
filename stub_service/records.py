"""The department's own records: the seeded file plus records added since, kept in the shared store.

Records added through the records form or by account creation live in the store (Redis when configured), so
every worker sees them; an index key lists their references. Seeded records come from ``data/records.json``.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from federation.store import Store

logger = logging.getLogger(__name__)

RECORDS_FILE = Path(__file__).resolve().parent / "data" / "records.json"
RECORD_SECONDS = 30 * 24 * 60 * 60
INDEX_KEY = "records:added"
LOCK_KEY = "records:lock"
LOCK_SECONDS = 5
NEW_REFERENCE_PREFIX = "PAYE-9"
NEW_TAX_CODE = "1257L"
NEW_EMPLOYER = "Not yet known"


class Record(BaseModel):
    """One person the department knows: what its matching service compares and its service shows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: str
    first_name: str
    surname: str
    date_of_birth: str
    postcode: str
    nino: str | None = None
    tax_code: str
    employer: str


class NewRecord(BaseModel):
    """What a new record needs; the book gives it a reference, a tax code and an employer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_name: str
    surname: str
    date_of_birth: str
    postcode: str
    nino: str | None = None


def load_records(path: Path = RECORDS_FILE) -> dict[str, Record]:
    """The seeded records, by reference."""
    records: list[Record] = TypeAdapter(list[Record]).validate_python(json.loads(path.read_text(encoding="utf-8")))
    return {record.reference: record for record in records}


class RecordBook:
    """Seeded records and added ones, looked up by reference."""

    def __init__(self, seeded: dict[str, Record], store: Store) -> None:
        self._seeded = seeded
        self._store = store

    def get(self, reference: str) -> Record | None:
        """The record with this reference, seeded or added, if it still exists."""
        if reference in self._seeded:
            return self._seeded[reference]
        stored = self._store.get(f"record:{reference}")
        if stored is None:
            return None
        try:
            return Record.model_validate(stored)
        except ValidationError:
            logger.warning("A stored department record could not be read; ignoring it")
            return None

    def all(self) -> list[Record]:
        """Every record: the seeded ones, then those added, oldest first."""
        added = [self.get(reference) for reference in self._added_references()]
        return [*self._seeded.values(), *[record for record in added if record is not None]]

    def add(self, new: NewRecord) -> Record:
        """Store a new record under a fresh ``PAYE-9nnnn`` reference and list it in the index."""
        record = Record(
            reference=self._reserve_reference(), tax_code=NEW_TAX_CODE, employer=NEW_EMPLOYER, **new.model_dump()
        )
        self._store.put(f"record:{record.reference}", record.model_dump(), RECORD_SECONDS)
        with self._index_lock():
            references = [ref for ref in self._added_references() if self._store.get(f"record:{ref}") is not None]
            self._store.put(INDEX_KEY, {"references": [*references, record.reference]}, RECORD_SECONDS)
        logger.info("Department record added (%d added records held)", len(references) + 1)
        return record

    def _added_references(self) -> list[str]:
        index = self._store.get(INDEX_KEY) or {}
        references = index.get("references", [])
        return [str(ref) for ref in references] if isinstance(references, list) else []

    def _reserve_reference(self) -> str:
        # ``add_once`` is atomic in Redis, so two workers never hand out the same reference.
        for _ in range(50):
            reference = f"{NEW_REFERENCE_PREFIX}{secrets.randbelow(10_000):04d}"
            if reference not in self._seeded and self._store.add_once(f"reference:{reference}", RECORD_SECONDS):
                return reference
        raise RuntimeError("no free department record reference left")

    @contextmanager
    def _index_lock(self) -> Iterator[None]:
        """A short store-wide lock, so two workers adding at once do not lose each other's index entry."""
        deadline = time.monotonic() + LOCK_SECONDS
        acquired = self._store.add_once(LOCK_KEY, LOCK_SECONDS)
        while not acquired and time.monotonic() < deadline:
            time.sleep(0.02)
            acquired = self._store.add_once(LOCK_KEY, LOCK_SECONDS)
        if not acquired:
            logger.warning("Record index lock not acquired in %d s; updating without it", LOCK_SECONDS)
        try:
            yield
        finally:
            if acquired:
                self._store.delete(LOCK_KEY)
