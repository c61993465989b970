"""psycopg 3 against a real server: simple, extended, binary and prepared statements."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.server.conftest import Running


@pytest.fixture
def conn(running: Running) -> Iterator[psycopg.Connection]:
    with psycopg.connect(running.dsn(), autocommit=True) as connection:
        yield connection


def test_simple_protocol_with_notice(conn: psycopg.Connection) -> None:
    notices: list[tuple[str | None, ...]] = []  # a Diagnostic is valid inside the handler only
    conn.add_notice_handler(
        lambda d: notices.append((d.severity, d.message_primary, d.message_detail))
    )
    rows = conn.execute("SELECT gender, COUNT(*) AS n FROM members GROUP BY gender").fetchall()
    assert [r[0] for r in rows] == ["Female", "Male", "Other"]
    assert all(isinstance(r[1], int) for r in rows)
    assert len(notices) == 1
    severity, message, detail = notices[0]
    assert severity == "NOTICE"
    assert message is not None and message.startswith("dpproxy: charged epsilon 0.5; remaining")
    assert detail == "gender: public key list\nn: discrete_laplace, 95% within ±5.99147"


def test_extended_protocol_with_parameters(conn: psycopg.Connection, running: Running) -> None:
    before = running.spent()
    cur = conn.execute(
        "SELECT COUNT(*) AS n, AVG(annual_spend) AS spend FROM members "
        "WHERE city = %s AND age >= %s",
        ["Springfield", 30],
    )
    assert [d.name for d in cur.description or []] == ["n", "spend"]
    n, spend = cur.fetchone() or (None, None)
    assert isinstance(n, int) and 1500 < n < 2600
    assert isinstance(spend, float)
    assert running.spent() == pytest.approx(before + 0.5)


def test_quotes_in_parameters_are_data(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "SELECT COUNT(*) FROM members WHERE city = %s", ["x' OR city <> 'y"]
    ).fetchall()
    assert len(rows) == 1  # a count of an empty group, noisy, not a syntax error


def test_binary_results(conn: psycopg.Connection) -> None:
    cur = conn.cursor(binary=True)
    rows = cur.execute(
        "SELECT education, COUNT(*) AS n, AVG(age) AS age FROM members "
        "WHERE age > %s AND city <> %s GROUP BY 1",
        [20, "Nowhere"],  # sent in binary too
    ).fetchall()
    assert len(rows) == 5
    assert all(isinstance(r[0], str) and isinstance(r[1], int) and isinstance(r[2], float)
               for r in rows)  # fmt: skip


def test_prepared_statement_reused(conn: psycopg.Connection) -> None:
    sql = "SELECT COUNT(*) FROM purchases WHERE amount > %s"
    first = conn.execute(sql, [10], prepare=True).fetchone()
    second = conn.execute(sql, [20], prepare=True).fetchone()
    assert first is not None and second is not None
    assert first[0] > second[0] > 0


def test_rejection_error_fields(conn: psycopg.Connection, running: Running) -> None:
    before = running.spent()
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as error:
        conn.execute("SELECT MAX(annual_spend) FROM members")
    diag = error.value.diag
    assert diag.sqlstate == "42501"
    assert diag.statement_position == "8"
    assert "MAX is not allowed" in (diag.message_primary or "")
    with pytest.raises(psycopg.errors.SyntaxError):
        conn.execute("SELECT COUNT(*) FROM members WHERE city = %s AND", ["x"])
    assert running.spent() == before


def test_position_refers_to_the_text_the_client_sent(conn: psycopg.Connection) -> None:
    sql = "SELECT COUNT(*) FROM members WHERE city = %s AND MAX(age) > 1"
    with pytest.raises(psycopg.Error) as error:
        conn.execute(sql, ["a long city name that shifts every position after it"])
    position = int(error.value.diag.statement_position or 0)
    assert "SELECT COUNT(*) FROM members WHERE city = $1 AND MAX(age) > 1"[
        position - 1 :
    ].startswith("MAX")


def test_budget_exhausted_has_its_own_code(running: Running) -> None:
    with psycopg.connect(running.dsn("bob"), autocommit=True) as bob:
        bob.execute("SET dpproxy.epsilon = 0.6")
        bob.execute("SELECT COUNT(*) FROM members WHERE age > 20")
        with pytest.raises(psycopg.Error) as error:
            bob.execute("SELECT COUNT(*) FROM members WHERE age > 21")
        assert error.value.sqlstate == "53P01"
        budget = bob.execute("SHOW dpproxy.budget").fetchall()
        assert budget[0][0] == "member"
        assert budget[0][3] == pytest.approx(0.4)  # epsilon_remaining


def test_set_show_and_explain(conn: psycopg.Connection, running: Running) -> None:
    conn.execute("SET dpproxy.epsilon = 0.2")
    assert conn.execute("SHOW dpproxy.epsilon").fetchone() == ("0.2",)
    before = running.spent()
    plan = [r[0] for r in conn.execute("EXPLAIN SELECT COUNT(*) FROM members").fetchall()]
    assert plan[0] == "dry run, nothing charged: epsilon 0.2"
    assert running.spent() == before
    conn.execute("SELECT COUNT(*) FROM members WHERE age > 40")
    assert running.spent() == pytest.approx(before + 0.2)
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SET dpproxy.epsilon = -1")
    with pytest.raises(psycopg.errors.UndefinedObject):
        conn.execute("SHOW no_such_setting")
    assert conn.execute("SHOW TimeZone").fetchone() == ("UTC",)


def test_transactions_and_failed_state(running: Running) -> None:
    with psycopg.connect(running.dsn()) as conn:  # not autocommit: psycopg sends BEGIN
        assert conn.execute("SELECT COUNT(*) FROM members").fetchone() is not None
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT MAX(age) FROM members")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("SELECT COUNT(*) FROM members")
        conn.rollback()
        assert conn.execute("SELECT current_schema()").fetchone() == ("public",)
        conn.commit()


def test_catalog_queries(conn: psycopg.Connection) -> None:
    tables = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
        ["public"],
    ).fetchall()
    assert tables == [("members",), ("products",), ("purchases",)]
    columns = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'purchases' ORDER BY ordinal_position"
    ).fetchall()
    assert columns == [
        ("loyalty_number", "bigint"),
        ("product", "text"),
        ("amount", "double precision"),
        ("ts", "timestamp without time zone"),
    ]
    with pytest.raises(psycopg.errors.UndefinedFunction):
        conn.execute("SELECT getenv('HOME')")
    with pytest.raises(psycopg.Error):
        conn.execute("SELECT * FROM pg_class, read_csv('/etc/passwd')")


def test_writes_are_refused(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("DELETE FROM members")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("COPY members TO STDOUT")
