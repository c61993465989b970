"""psql (Debian postgresql-client) against a real server: catalog commands and queries."""

from __future__ import annotations

import os
import subprocess

from tests.server.conftest import PASSWORDS, Running, require_tool


def psql(running: Running, *commands: str, user: str = "alice") -> subprocess.CompletedProcess[str]:
    binary = require_tool("psql")
    args = [binary, "-X", "-h", running.host, "-p", str(running.port), "-U", user, "-d", "dpproxy"]
    for command in commands:
        args += ["-c", command]
    env = {**os.environ, "PGPASSWORD": PASSWORDS.get(user, "wrong"), "PGCONNECT_TIMEOUT": "10"}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)


def test_dt_lists_the_policy_tables(running: Running) -> None:
    done = psql(running, r"\dt")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "          List of relations",
        " Schema |   Name    | Type  |  Owner  ",
        "--------+-----------+-------+---------",
        " public | members   | table | dpproxy",
        " public | products  | table | dpproxy",
        " public | purchases | table | dpproxy",
        "(3 rows)",
        "",
    ]


def test_d_members_shows_the_usable_columns_with_types(running: Running) -> None:
    done = psql(running, r"\d members")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].strip() == 'Table "public.members"'
    columns = {line.split("|")[0].strip(): line.split("|")[1].strip() for line in lines[3:10]}
    assert columns == {
        "loyalty_number": "bigint",
        "city": "text",
        "marital_status": "text",
        "education": "text",
        "gender": "text",
        "age": "bigint",
        "annual_spend": "double precision",
    }


def test_d_plus_describes_roles_and_bounds(running: Running) -> None:
    done = psql(running, r"\d+ members")
    assert done.returncode == 0, done.stderr
    assert "measure clamped to [0, 20000]" in done.stdout
    assert "privacy unit: only COUNT(DISTINCT ...)" in done.stdout


def test_dn_lists_public(running: Running) -> None:
    done = psql(running, r"\dn")
    assert done.returncode == 0, done.stderr
    assert " public | dpproxy" in done.stdout


def test_query_prints_rows_and_the_privacy_notice(running: Running) -> None:
    done = psql(running, "SELECT education, COUNT(*) AS members FROM members GROUP BY education")
    assert done.returncode == 0, done.stderr
    assert "(5 rows)" in done.stdout
    assert " Doctor " in done.stdout
    assert "NOTICE:  dpproxy: charged epsilon 0.5; remaining epsilon" in done.stderr
    assert "members: discrete_laplace, 95% within ±5.99147" in done.stderr


def test_rejection_has_sqlstate_message_and_position(running: Running) -> None:
    before = running.spent()
    done = psql(running, r"\set VERBOSITY verbose", "SELECT MAX(annual_spend) FROM members")
    assert done.returncode == 1
    assert "ERROR:  42501: line 1, column 8: MAX(annual_spend): MAX is not allowed" in done.stderr
    assert "LINE 1: SELECT MAX(annual_spend) FROM members" in done.stderr
    assert "               ^" in done.stderr  # the caret under MAX
    assert running.spent() == before


def test_wrong_password_is_refused(running: Running) -> None:
    done = psql(running, "SELECT 1", user="mallory")
    assert done.returncode == 2
    assert 'password authentication failed for user "mallory"' in done.stderr


def test_session_commands(running: Running) -> None:
    done = psql(
        running,
        "SET dpproxy.epsilon = 0.25",
        "SHOW dpproxy.epsilon",
        "SELECT version()",
        "SELECT current_schema()",
        "BEGIN",
        "COMMIT",
        "DISCARD ALL",
        "EXPLAIN SELECT city, COUNT(*) FROM members GROUP BY city",
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert " 0.25\n" in out
    assert "PostgreSQL 15.0 (dpproxy" in out
    assert " public\n" in out
    assert "dry run, nothing charged: epsilon 0.5" in out  # DISCARD ALL reset the epsilon
    assert "BEGIN" in out and "COMMIT" in out and "DISCARD ALL" in out
