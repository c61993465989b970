"""Errors the wire server raises itself, each with the SQLSTATE PostgreSQL would use.

>>> ServerError("42P05", 'prepared statement "s1" already exists').sqlstate
'42P05'
"""

from __future__ import annotations

import logging
import traceback

from dpproxy.errors import DPProxyError, InternalError

log = logging.getLogger("dpproxy.server")


class ServerError(DPProxyError):
    """A protocol, session or catalog error; the message never holds data."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self._sqlstate = sqlstate

    @property
    def sqlstate(self) -> str:  # type: ignore[override]
        return self._sqlstate


class Shifted(DPProxyError):
    """An error of a statement nested at ``offset`` in the client's text (EXPLAIN's query),
    so its position can be reported in the client's coordinates."""

    def __init__(self, error: DPProxyError, offset: int) -> None:
        super().__init__(error.message)
        self.error = error
        self.offset = offset


def internal(exc: Exception) -> InternalError:
    """Log where a bug happened (type and frames, not the message: it could hold values)."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("internal error %s\n%s", type(exc).__name__, frames)
    return InternalError("internal error in dpproxy")
