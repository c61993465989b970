"""The durable privacy ledger: SQLite in WAL mode; a charge's commit is fsynced.

One database file holds the charges, the audit trail (``audit.py``) and the result
cache (``cache.py``), so a charge, its audit entry and its cached answer are written in
one transaction: all or nothing.

A query's charge is *reserved* in one ``BEGIN IMMEDIATE`` transaction that also checks
the budget (the write lock serialises every thread and process that shares the file, so
together they can never overspend), then *committed* before any result is released.

A charge is final from its reservation on: the query may reach the engine from then
on, and what happens there may depend on data. Every way out commits it (an answer, or
the failure with its SQLSTATE); a reservation whose process died before committing
(kill -9, out of memory) is committed as failed, with its audit entry, by the next
ledger opened on the same host. Nothing is ever returned. (Status ``lapsed`` only
remains on rows written by earlier versions, which returned such reservations.)
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from dpproxy.accounting import audit, cache
from dpproxy.accounting.audit import AuditEntry, Decision, Verification
from dpproxy.accounting.budget import ZERO, Cost, Limit
from dpproxy.errors import InternalError
from dpproxy.sqlstate import SQLState

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS charges (
    id INTEGER PRIMARY KEY,
    analyst TEXT NOT NULL,
    domain TEXT NOT NULL,
    epsilon INTEGER NOT NULL CHECK (epsilon >= 0),
    delta INTEGER NOT NULL CHECK (delta >= 0),
    rho INTEGER NOT NULL CHECK (rho >= 0),
    status TEXT NOT NULL CHECK (status IN ('reserved', 'committed', 'lapsed')),
    owner TEXT NOT NULL,
    query TEXT NOT NULL,
    created_at REAL NOT NULL,
    settled_at REAL
)""",
    "CREATE INDEX IF NOT EXISTS charges_scope ON charges (domain, analyst, status, created_at)",
    *audit.SCHEMA,
    *cache.SCHEMA,
)


@dataclass(frozen=True)
class Reservation:
    id: int
    analyst: str
    domain: str
    cost: Cost


@dataclass(frozen=True)
class Scope:
    """A budget to check: the analyst's in a domain, or the domain's global cap."""

    name: str  # for messages, e.g. "analyst 'alice' in domain 'member'"
    limit: Limit
    analyst: str | None  # None: all analysts


class OverBudget(Exception):
    def __init__(self, scope: Scope, spent: Cost) -> None:
        super().__init__(scope.name)
        self.scope = scope
        self.spent = spent


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._owner = _owner_token()
        with self._transaction() as db:
            for statement in SCHEMA:
                db.execute(statement)
            self._settle_dead_reservations(db)  # recovery after a crash

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA busy_timeout = 60000")
            self._local.db = db
        return db

    @contextmanager
    def _transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """A write transaction. ``durable`` ones are fsynced at commit (synchronous=FULL):
        the commit of a charge, which precedes every release. Others (reservations,
        refusals) survive a process crash through the OS and reach the disk with the
        next durable commit, since the WAL is written in order."""
        db = self._connection()
        level = "FULL" if durable else "NORMAL"
        if getattr(self._local, "synchronous", None) != level:
            db.execute(f"PRAGMA synchronous = {level}")
            self._local.synchronous = level
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def reserve(
        self,
        analyst: str,
        domain: str,
        cost: Cost,
        scopes: list[Scope],
        since: float | None,
        query: str,
    ) -> Reservation:
        """Check every scope and record the charge, atomically. Raises ``OverBudget``."""
        with self._transaction() as db:
            self._settle_dead_reservations(db)
            for scope in scopes:
                spent = _spent(db, domain, scope.analyst, since)
                if not scope.limit.allows(spent + cost):
                    raise OverBudget(scope, spent)
            cursor = db.execute(
                "INSERT INTO charges (analyst, domain, epsilon, delta, rho, status, owner, "
                "query, created_at) VALUES (?, ?, ?, ?, ?, 'reserved', ?, ?, ?)",
                (
                    analyst,
                    domain,
                    cost.epsilon,
                    cost.delta,
                    cost.rho,
                    self._owner,
                    query,
                    time.time(),
                ),
            )
            assert cursor.lastrowid is not None
            return Reservation(cursor.lastrowid, analyst, domain, cost)

    def commit(
        self,
        reservation: Reservation,
        entry: AuditEntry,
        cached: tuple[str, str] | None = None,
    ) -> None:
        """Make the charge final, with its audit entry and (optionally) its cached answer
        ``(key, payload)``. Must succeed before a result is released."""
        entry = _with_charge(entry, reservation)
        with self._transaction(durable=True) as db:
            updated = db.execute(
                "UPDATE charges SET status = 'committed', settled_at = ? "
                "WHERE id = ? AND status = 'reserved'",
                (time.time(), reservation.id),
            ).rowcount
            if updated != 1:
                raise InternalError("a reservation vanished before it was committed")
            audit.append(db, entry)
            if cached is not None:
                db.execute(
                    "INSERT OR IGNORE INTO results (key, analyst, payload, charge_id, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (cached[0], reservation.analyst, cached[1], reservation.id, time.time()),
                )

    def record(self, entry: AuditEntry) -> None:
        """Append an audit entry that carries no charge (refusals, cache hits, dry runs)."""
        with self._transaction() as db:
            audit.append(db, entry)

    def cached(self, key: str) -> str | None:
        """The stored answer for a cache key, if any."""
        row = (
            self._connection()
            .execute("SELECT payload FROM results WHERE key = ?", (key,))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def verify_audit(self) -> Verification:
        return audit.verify(self._connection())

    def spent(self, domain: str, analyst: str | None, since: float | None = None) -> Cost:
        db = self._connection()
        return _spent(db, domain, analyst, since)

    def charges(self, analyst: str | None = None) -> list[tuple[float, str, str, int, int, int]]:
        """(time, analyst, domain, epsilon, delta, rho) of every charge that counts."""
        db = self._connection()
        sql = (
            "SELECT created_at, analyst, domain, epsilon, delta, rho FROM charges "
            "WHERE status != 'lapsed'"
        )
        args: tuple[str, ...] = ()
        if analyst is not None:
            sql += " AND analyst = ?"
            args = (analyst,)
        return [tuple(r) for r in db.execute(sql + " ORDER BY id", args)]

    def _settle_dead_reservations(self, db: sqlite3.Connection) -> None:
        """Commit, as failed, every reservation whose process on this host is gone: its
        query may have read data, so its charge stands. Each gets its audit entry."""
        host = self._owner.split("/")[0]
        rows = db.execute(
            "SELECT id, owner, analyst, domain, epsilon, delta, rho, query FROM charges "
            "WHERE status = 'reserved' AND owner LIKE ?",
            (host + "/%",),
        ).fetchall()
        for charge_id, owner, analyst, domain, epsilon, delta, rho, query in rows:
            if owner == self._owner or _alive(owner):
                continue
            now = time.time()
            db.execute(
                "UPDATE charges SET status = 'committed', settled_at = ? WHERE id = ?",
                (now, charge_id),
            )
            entry = AuditEntry(
                now, analyst, domain, query, Decision.FAILED, SQLState.INTERNAL_ERROR
            )
            reservation = Reservation(charge_id, analyst, domain, Cost(epsilon, delta, rho))
            audit.append(db, _with_charge(entry, reservation))

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
            self._local.synchronous = None


def _with_charge(entry: AuditEntry, reservation: Reservation) -> AuditEntry:
    cost = reservation.cost
    return replace(
        entry, charge_id=reservation.id, epsilon=cost.epsilon, delta=cost.delta, rho=cost.rho
    )


def _spent(db: sqlite3.Connection, domain: str, analyst: str | None, since: float | None) -> Cost:
    sql = (
        "SELECT COALESCE(SUM(epsilon), 0), COALESCE(SUM(delta), 0), COALESCE(SUM(rho), 0) "
        "FROM charges WHERE domain = ? AND status IN ('reserved', 'committed')"
    )
    args: list[object] = [domain]
    if analyst is not None:
        sql += " AND analyst = ?"
        args.append(analyst)
    if since is not None:
        sql += " AND created_at >= ?"
        args.append(since)
    row = db.execute(sql, args).fetchone()
    return Cost(int(row[0]), int(row[1]), int(row[2])) if row else ZERO


def _start_ticks(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: start time since boot


def _owner_token() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}/{pid}/{_start_ticks(pid) or '?'}"


def _alive(owner: str) -> bool:
    """Whether the process that made a reservation on this host is still running.
    Unknown means alive: a reservation is only returned when its owner is surely gone."""
    try:
        _, pid_text, ticks = owner.split("/")
        pid = int(pid_text)
    except ValueError:
        return True
    if ticks == "?":
        return True
    current = _start_ticks(pid)
    return current is not None and current == ticks
