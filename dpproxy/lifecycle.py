"""The life of a charged query, as a small state machine a reader can check path by path.

A query is *refused* (audited, free) until its budget is reserved. From the reservation
on it may reach the engine, and everything that follows may depend on data, so the
charge is final on every path out::

    RESERVED --answer(cached)--> ANSWERED   committed with its answer: the only state
                                            from which anything is released
    RESERVED --any exception---> FAILED     committed with the failure's SQLSTATE
    RESERVED --process dies----> FAILED     by the next ledger opened on this host
                                            (``Ledger._settle_dead_reservations``)

A commit that itself fails leaves the charge RESERVED, which counts as spent, and
recovery makes it FAILED: a reservation is never returned. Each transition writes its
audit entry in the same ledger transaction as the commit.

Inside the charge, ``one_generic_error`` turns every failure that is not one of the
few outcomes we release on purpose (a time limit, the answer's size limit, the generic
failure itself) into the one generic ``ExecutionFailed``: an exception after the engine
ran is a bug, never a message about the data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from enum import Enum
from types import TracebackType

from dpproxy.accounting import Ledger, Reservation
from dpproxy.accounting.audit import AuditEntry, Decision
from dpproxy.errors import (
    DPProxyError,
    ExecutionFailed,
    InternalError,
    QueryLimitExceeded,
    QueryTimeout,
)
from dpproxy.sqlstate import SQLState

log = logging.getLogger("dpproxy")

# Outcomes after execution that are released as they are: a timeout or cancel (the
# residual timing channel, see the README's security model), the answer's size limit (a
# function of the noisy released rows) and the generic failure.
RELEASED_FAILURES = (QueryTimeout, QueryLimitExceeded, ExecutionFailed)


class State(Enum):
    RESERVED = "reserved"
    ANSWERED = "answered"
    FAILED = "failed"


class Charge:
    """A reserved charge; ``with`` it around everything that may reach the engine.

    >>> # with Charge(ledger, reservation, entry) as charge:
    >>> #     ...  # execute, noise, release
    >>> #     charge.answer(cached)
    """

    def __init__(self, ledger: Ledger, reservation: Reservation, entry: AuditEntry) -> None:
        self.ledger = ledger
        self.reservation = reservation
        self.entry = entry
        self.state = State.RESERVED

    def answer(self, cached: tuple[str, str] | None) -> None:
        """Commit the charge with its answer (and its cache entry), durably: after this,
        and only after this, the answer may be released."""
        self._expect_reserved()
        try:
            self.ledger.commit(self.reservation, self.entry, cached)
        except Exception:
            log.exception("the ledger could not commit charge %d", self.reservation.id)
            message = "the ledger could not record the charge; nothing was released"
            raise InternalError(message) from None
        self.state = State.ANSWERED

    def fail(self, sqlstate: str) -> None:
        """Commit the charge as failed, with the SQLSTATE the analyst is shown."""
        self._expect_reserved()
        failed = replace(self.entry, decision=Decision.FAILED, sqlstate=sqlstate)
        self.ledger.commit(self.reservation, failed)
        self.state = State.FAILED

    def _expect_reserved(self) -> None:
        if self.state is not State.RESERVED:
            raise InternalError(f"charge {self.reservation.id} is already {self.state.value}")

    def __enter__(self) -> Charge:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.state is not State.RESERVED:
            return
        sqlstate = error.sqlstate if isinstance(error, DPProxyError) else SQLState.INTERNAL_ERROR
        try:
            self.fail(sqlstate)
        except Exception:
            log.exception("charge %d stays reserved until recovery", self.reservation.id)
        if error is None:  # a path that neither answered nor failed is a bug
            raise InternalError("a charged query ended without an outcome")


@contextmanager
def one_generic_error() -> Iterator[None]:
    """Everything after the engine ran: an unexpected exception becomes ``ExecutionFailed``
    (logged by type and place only, never with its message, which may hold data)."""
    try:
        yield
    except RELEASED_FAILURES:
        raise
    except Exception as exc:  # noqa: BLE001 - one generic error, whatever went wrong
        frame = exc.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        where = f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else "?"
        log.error("bug after execution: %s at %s", type(exc).__name__, where)
        raise ExecutionFailed() from None
