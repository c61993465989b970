"""SQLAlchemy (psycopg dialect) against a real server: connect-time queries, text queries
with bound parameters, and the inspector reading tables and columns from the catalog."""

from __future__ import annotations

import sqlalchemy
from sqlalchemy import text

from tests.server.conftest import PASSWORDS, Running


def engine(running: Running) -> sqlalchemy.Engine:
    url = sqlalchemy.URL.create(
        "postgresql+psycopg", username="alice", password=PASSWORDS["alice"],
        host=running.host, port=running.port, database="dpproxy",
    )  # fmt: skip
    return sqlalchemy.create_engine(url, poolclass=sqlalchemy.NullPool)


def test_query_with_parameters(running: Running) -> None:
    db = engine(running)
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT gender, COUNT(*) AS n FROM members WHERE age > :age GROUP BY gender"),
            {"age": 40},
        ).all()
        conn.commit()
    db.dispose()
    assert [r.gender for r in rows] == ["Female", "Male", "Other"]
    assert all(r.n > 0 for r in rows)


def test_inspector_reads_the_policy_catalog(running: Running) -> None:
    db = engine(running)
    inspector = sqlalchemy.inspect(db)
    assert sorted(inspector.get_table_names()) == ["members", "products", "purchases"]
    columns = {c["name"]: str(c["type"]) for c in inspector.get_columns("purchases")}
    db.dispose()
    assert columns == {"loyalty_number": "BIGINT", "product": "TEXT",
                       "amount": "DOUBLE PRECISION", "ts": "TIMESTAMP"}  # fmt: skip
