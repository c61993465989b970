"""The error tree. Every class declares its SQLSTATE, so the wire server maps an error
to an ErrorResponse without a lookup table elsewhere.

Messages are built from the query text and the policy only, never from data.

>>> QueryRejected([Violation("0A000", "subquery", "subqueries are not supported", 1, 15)]).sqlstate
'0A000'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from dpproxy.sqlstate import SQLState


class DPProxyError(Exception):
    """Base class. ``sqlstate`` is the five-character PostgreSQL error code."""

    sqlstate = SQLState.INTERNAL_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def detail(self) -> str | None:
        return None

    @property
    def position(self) -> int | None:
        """1-based character offset into the query text, as PostgreSQL reports it."""
        return None


class PolicyError(DPProxyError):
    """A policy file is invalid: names the file and the key path."""

    sqlstate = SQLState.CONFIG_FILE_ERROR  # config_file_error


@dataclass(frozen=True)
class Violation:
    """One reason a query is rejected, pointing at the construct in the query text."""

    sqlstate: str
    construct: str
    reason: str
    line: int | None = None
    col: int | None = None
    offset: int | None = None  # 0-based character offset of the construct

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.col}: " if self.line is not None else ""
        return f"{where}{self.construct}: {self.reason}"


class QueryRejected(DPProxyError):
    """The checker refused the query before any data was touched. Nothing is charged.

    Carries every violation found, not only the first.
    """

    def __init__(self, violations: Sequence[Violation]) -> None:
        if not violations:
            raise InternalError("QueryRejected raised without a violation")
        self.violations = tuple(violations)
        first = self.violations[0]
        more = len(self.violations) - 1
        suffix = f" (and {more} more violation{'s' if more > 1 else ''})" if more else ""
        super().__init__(str(first) + suffix)

    @property
    def sqlstate(self) -> str:  # type: ignore[override]
        return self.violations[0].sqlstate

    @property
    def detail(self) -> str | None:
        if len(self.violations) == 1:
            return None
        return "\n".join(str(v) for v in self.violations)

    @property
    def position(self) -> int | None:
        offset = self.violations[0].offset
        return None if offset is None else offset + 1


class BudgetExhausted(DPProxyError):
    """The query would spend more than the analyst has left. Nothing is charged."""

    sqlstate = (
        SQLState.BUDGET_EXHAUSTED
    )  # class 53 (insufficient resources), implementation-defined subclass

    def __init__(
        self,
        what: str,
        requested: Fraction | float,
        remaining: Fraction | float,
        scope: str,
    ) -> None:
        self.requested = requested
        self.remaining = remaining
        super().__init__(
            f"privacy budget exhausted for {scope}: query needs {what} {_fmt(requested)}, "
            f"{_fmt(remaining)} remaining"
        )


class InvalidParameter(DPProxyError):
    """A bad argument outside the SQL text: an unknown analyst, a negative epsilon."""

    sqlstate = SQLState.INVALID_PARAMETER_VALUE  # invalid_parameter_value


class QueryLimitExceeded(DPProxyError):
    """A per-query limit from the configuration (maximum epsilon, query length, cells)."""

    sqlstate = SQLState.PROGRAM_LIMIT_EXCEEDED  # program_limit_exceeded


class ExecutionFailed(DPProxyError):
    """The one generic run-time error. Its text never depends on data; the budget the
    query reserved stays charged because the failure itself may depend on data."""

    sqlstate = SQLState.INTERNAL_ERROR

    def __init__(self) -> None:
        super().__init__("query execution failed; its privacy budget has been charged")


class QueryTimeout(DPProxyError):
    """The query ran past its time limit or was cancelled; its budget stays charged."""

    sqlstate = SQLState.QUERY_CANCELED  # query_canceled

    def __init__(self, message: str = "query cancelled: time limit reached") -> None:
        super().__init__(message)


class InternalError(DPProxyError):
    """A broken invariant inside dpproxy (a bug). Never carries data."""

    sqlstate = SQLState.INTERNAL_ERROR


def _fmt(value: Fraction | float) -> str:
    return f"{float(value):.6g}"
