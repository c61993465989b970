"""pgjdbc (Debian libpostgresql-jdbc-java) against a real server, driven by a small Java
program compiled here with javac: DatabaseMetaData, a prepared statement with a
parameter, the notice as a SQLWarning, a rejection's SQLSTATE."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.server.conftest import PASSWORDS, Running, require_jdbc, require_tool

SOURCE = Path(__file__).parent / "java" / "JdbcClient.java"


def test_pgjdbc(running: Running, tmp_path: Path) -> None:
    jar = require_jdbc()
    javac, java = require_tool("javac"), require_tool("java")
    subprocess.run([javac, "-d", str(tmp_path), str(SOURCE)], check=True, timeout=120)
    url = f"jdbc:postgresql://{running.host}:{running.port}/dpproxy"
    done = subprocess.run(
        [java, "-cp", f"{tmp_path}:{jar}", "JdbcClient", url, "alice", PASSWORDS["alice"]],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "product PostgreSQL 15.0 (dpproxy 0.1.0)"
    assert "schema public" in lines
    assert [line.split()[1] for line in lines if line.startswith("table ")] == [
        "members", "products", "purchases"
    ]  # fmt: skip
    remarks = "Loyalty program members, one row per member. (privacy unit loyalty_number)"
    assert f"table members {remarks}" in lines
    columns = [line.split()[1:3] for line in lines if line.startswith("column ")]
    assert columns == [["loyalty_number", "int8"], ["city", "text"], ["marital_status", "text"],
                       ["education", "text"], ["gender", "text"], ["age", "int8"],
                       ["annual_spend", "float8"]]  # fmt: skip
    assert "types text int8" in lines
    rows = [line for line in lines if line.startswith("row ")]
    assert [r.split()[1] for r in rows] == ["Bachelor", "College", "Doctor", "High", "Master"]
    warnings = [line for line in lines if line.startswith("warning ")]
    assert len(warnings) == 1 and "dpproxy: charged epsilon 0.5" in warnings[0]
    assert "error 42501" in lines
    assert any(line.startswith("budget member ") for line in lines)
