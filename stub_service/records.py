"""A department's own records: its seeded file plus records added since, kept in the department's store.

Records added through the records form or by account creation live in the department's store (Redis when
configured, under the department's own prefix), so every worker sees them; an index key lists their
references. Seeded records come from ``data/<department>.json``, or from a file of test records a team names.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from federation.store import Store

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
RECORD_SECONDS = 30 * 24 * 60 * 60
INDEX_KEY = "records:added"
LOCK_KEY = "records:lock"
LOCK_SECONDS = 5


class Record(BaseModel):
    """One person the department knows: what its matching service compares and its service shows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: str
    first_name: str
    surname: str
    date_of_birth: str
    postcode: str
    nino: str | None = None
    # What the department's service shows about the person, by label ("Tax code": "1257L").
    details: dict[str, str] = {}


class NewRecord(BaseModel):
    """What a new record needs; the book gives it a reference and the department's details for a new record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_name: str
    surname: str
    date_of_birth: str
    postcode: str
    nino: str | None = None


class RecordsFile(BaseModel):
    """A department's file of records: the records, and what a record made by account creation starts with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    about: str = ""
    new_reference_prefix: str = "NEW-9"
    new_details: dict[str, str] = {}
    records: list[Record]

    @property
    def by_reference(self) -> dict[str, Record]:
        return {record.reference: record for record in self.records}


class RecordsFileError(ValueError):
    """A records file that cannot be read, with its path and the reason in plain words."""


def load_records(path: Path) -> RecordsFile:
    """A department's records file; a missing one is an empty book (a department enrolled with no test records)."""
    if not path.exists():
        return RecordsFile(records=[])
    try:
        return RecordsFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        raise RecordsFileError(f"{path}: not a file of department records ({type(exc).__name__})") from None


class RecordBook:
    """Seeded records and added ones, looked up by reference."""

    def __init__(self, seeded: RecordsFile, store: Store) -> None:
        self._seeded = seeded.by_reference
        self._new_prefix = seeded.new_reference_prefix
        self._new_details = dict(seeded.new_details)
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
        """Store a new record under a fresh reference (``PAYE-9nnnn`` at HMRC) and list it in the index."""
        record = Record(reference=self._reserve_reference(), details=self._new_details, **new.model_dump())
        self._store.put(f"record:{record.reference}", record.model_dump(), RECORD_SECONDS)
        with self._index_lock():
            references = [ref for ref in self._added_references() if self._store.get(f"record:{ref}") is not None]
            self._store.put(INDEX_KEY, {"references": [*references, record.reference]}, RECORD_SECONDS)
        logger.info("Department record added (%d added records held)", len(references) + 1)
        return record

    def forget_added(self) -> int:
        """Delete every record added since start (by the form or by account creation); how many there were.

        A matching service's link to a deleted record leads nowhere (``Matcher.linked_record`` finds no record),
        so the person is matched again from the seeded records, or gets an account again.
        """
        with self._index_lock():
            references = self._added_references()
            self._store.delete(INDEX_KEY, *(f"record:{reference}" for reference in references))
        logger.info("Department records added since start forgotten (%d)", len(references))
        return len(references)

    def _added_references(self) -> list[str]:
        index = self._store.get(INDEX_KEY) or {}
        references = index.get("references", [])
        return [str(ref) for ref in references] if isinstance(references, list) else []

    def _reserve_reference(self) -> str:
        # ``add_once`` is atomic in Redis, so two workers never hand out the same reference.
        for _ in range(50):
            reference = f"{self._new_prefix}{secrets.randbelow(10_000):04d}"
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
