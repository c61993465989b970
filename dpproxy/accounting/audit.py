"""The audit trail: an append-only, hash-chained log of every query.

Each entry records when, who, the canonical SQL (the raw text when the query did not
parse), the decision (accepted, cached, rejected, failed, explained), the SQLSTATE of a
refusal, what was charged and whether the answer came from the cache. It never records
result values or rows.

``hash = sha256(previous hash || canonical JSON of the entry)``, so editing, removing or
reordering an entry breaks the chain at that point. Entries of charged queries name
their charge, and every charge that counts must have one, so cutting entries off the end
is detected too. SQLite triggers refuse UPDATE and DELETE as a second line of defence.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import asdict, dataclass
from enum import StrEnum

GENESIS = "0" * 64

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    analyst TEXT NOT NULL,
    domain TEXT NOT NULL,
    query TEXT NOT NULL,
    decision TEXT NOT NULL,
    sqlstate TEXT,
    epsilon INTEGER NOT NULL,
    delta INTEGER NOT NULL,
    rho INTEGER NOT NULL,
    cache_hit INTEGER NOT NULL,
    charge_id INTEGER,
    previous TEXT NOT NULL,
    hash TEXT NOT NULL
)""",
    """CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
)


class Decision(StrEnum):
    ACCEPTED = "accepted"
    CACHED = "cached"
    REJECTED = "rejected"
    FAILED = "failed"
    EXPLAINED = "explained"


@dataclass(frozen=True)
class AuditEntry:
    at: float
    analyst: str
    domain: str
    query: str
    decision: Decision
    sqlstate: str | None = None
    epsilon: int = 0  # charged, in budget units (see budget.py)
    delta: int = 0
    rho: int = 0
    cache_hit: bool = False
    charge_id: int | None = None

    def digest(self, previous: str) -> str:
        body = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256((previous + "\n" + body).encode()).hexdigest()


_COLUMNS = (
    "at",
    "analyst",
    "domain",
    "query",
    "decision",
    "sqlstate",
    "epsilon",
    "delta",
    "rho",
    "cache_hit",
    "charge_id",
)


def append(db: sqlite3.Connection, entry: AuditEntry) -> str:
    """Append ``entry`` inside the caller's write transaction; returns its hash."""
    row = db.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    previous = row[0] if row else GENESIS
    digest = entry.digest(previous)
    values = [getattr(entry, c) for c in _COLUMNS]
    values[_COLUMNS.index("cache_hit")] = int(entry.cache_hit)
    db.execute(
        f"INSERT INTO audit ({', '.join(_COLUMNS)}, previous, hash) "
        f"VALUES ({', '.join('?' for _ in _COLUMNS)}, ?, ?)",
        [*values, previous, digest],
    )
    return digest


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    problems: tuple[str, ...]


def verify(db: sqlite3.Connection) -> Verification:
    """Walk the chain from the start; report every break and every unaudited charge."""
    problems: list[str] = []
    previous = GENESIS
    count = 0
    audited_charges: set[int] = set()
    expected_seq = 1
    for row in db.execute(
        f"SELECT seq, {', '.join(_COLUMNS)}, previous, hash FROM audit ORDER BY seq"
    ):
        seq, *fields, stored_previous, stored_hash = row
        count += 1
        if seq != expected_seq:
            problems.append(f"entry {expected_seq}: missing (next entry is {seq})")
        expected_seq = seq + 1
        values = dict(zip(_COLUMNS, fields, strict=True))
        values["cache_hit"] = bool(values["cache_hit"])
        values["decision"] = Decision(values["decision"])
        entry = AuditEntry(**values)
        if stored_previous != previous:
            problems.append(f"entry {seq}: does not follow the entry before it")
        if entry.digest(stored_previous) != stored_hash:
            problems.append(f"entry {seq}: its content does not match its hash (edited)")
        previous = stored_hash
        if entry.charge_id is not None:
            audited_charges.add(entry.charge_id)
    for (charge_id,) in db.execute("SELECT id FROM charges WHERE status = 'committed' ORDER BY id"):
        if charge_id not in audited_charges:
            problems.append(f"charge {charge_id}: committed but has no audit entry")
    return Verification(not problems, count, tuple(problems))
