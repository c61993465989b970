"""asyncpg against a real server: extended protocol only, parameters sent without types
(the server infers them from the policy schema), binary results."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from tests.server.conftest import PASSWORDS, Running


def run(running: Running, body: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        conn = await asyncpg.connect(host=running.host, port=running.port, user="alice",
                                     password=PASSWORDS["alice"], database="dpproxy")  # fmt: skip
        try:
            return await body(conn)
        finally:
            await conn.close()

    return asyncio.run(main())


def test_parameters_typed_from_the_policy(running: Running) -> None:
    async def body(conn: asyncpg.Connection) -> Any:
        return await conn.fetch(
            "SELECT COUNT(*) AS n FROM members WHERE city = $1 AND age >= $2 AND annual_spend < $3",
            "Springfield", 30, 5000.0,
        )  # fmt: skip

    rows = run(running, body)
    assert len(rows) == 1 and isinstance(rows[0]["n"], int)


def test_parameter_description(running: Running) -> None:
    async def body(conn: asyncpg.Connection) -> Any:
        statement = await conn.prepare(
            "SELECT product, COUNT(*) AS n FROM purchases "
            "WHERE ts >= $1 AND amount > $2 GROUP BY product LIMIT $3"
        )
        types = [t.name for t in statement.get_parameters()]
        columns = [(a.name, a.type.name) for a in statement.get_attributes()]
        rows = await statement.fetch(datetime.datetime(2024, 1, 1), 5.0, 3)
        return types, columns, rows

    before = running.spent()
    types, columns, rows = run(running, body)
    assert types == ["timestamp", "float8", "int8"]
    assert columns == [("product", "text"), ("n", "int8")]
    assert len(rows) <= 3
    assert running.spent() == pytest.approx(before + 0.5)  # prepare and describe are free


def test_rejection_is_a_postgres_error(running: Running) -> None:
    async def body(conn: asyncpg.Connection) -> Any:
        with pytest.raises(asyncpg.PostgresError) as error:
            await conn.fetch("SELECT loyalty_number FROM members WHERE city = $1", "x")
        return error.value

    error = run(running, body)
    assert error.sqlstate == "42501"
    assert error.position == "8"


def test_fetchval_chatter_and_catalog(running: Running) -> None:
    async def body(conn: asyncpg.Connection) -> Any:
        version = await conn.fetchval("SELECT version()")
        epsilon = await conn.fetchval("SHOW dpproxy.epsilon")
        tables = await conn.fetch("SELECT relname FROM pg_catalog.pg_class ORDER BY relname")
        return version, epsilon, [t["relname"] for t in tables]

    version, epsilon, tables = run(running, body)
    assert version.startswith("PostgreSQL 15.0 (dpproxy")
    assert epsilon == "0.5"
    assert tables == ["members", "products", "purchases"]
