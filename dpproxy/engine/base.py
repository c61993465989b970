"""What the pipeline needs of an engine, whichever it is: the ``Engine`` protocol.

An engine holds the tables of the policies under a lockdown of its own (DuckDB: external
access off, configuration locked; see each implementation's module docstring), reports
their schema and a data version, binds a rewritten statement against the schema alone
(``prepare``: a type error is a refusal, decided before any charge), and runs it with a
time limit and cancellation. ``dialect`` names the semantics the rewrite relies on.
Every failure while running is one generic error whose text never depends on data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from dpproxy.engine.dialect import Dialect

Schema = Mapping[str, Mapping[str, str]]  # table -> column -> engine type name


class BindError(Exception):
    """The engine could not bind the rewritten statement: a name or type problem decided
    from the schema alone (no data involved), reported to the analyst as a rejection."""


class Prepared(Protocol):
    """A statement bound but not yet run; run it at most once, then close it."""

    def execute(self, timeout: float | None = None) -> list[tuple[Any, ...]]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Prepared: ...

    def __exit__(self, *exc: object) -> None: ...


class Engine(Protocol):
    schema: Schema

    @property
    def dialect(self) -> Dialect: ...

    @property
    def data_version(self) -> str: ...

    def prepare(self, sql: str) -> Prepared: ...

    def check_binds(self, sql: str) -> None: ...

    def interrupt_all(self) -> None: ...

    def close(self) -> None: ...
