"""Startup options (``PGOPTIONS``) are honoured or refused, never ignored; a stray ``$1``
in a simple query is PostgreSQL's 42P02, not a connection-fatal protocol error. Real
psql over loopback."""

from __future__ import annotations

import os
import subprocess

import pytest

from dpproxy.server.chatter import SessionState, _startup_settings, apply_startup_options
from dpproxy.server.errors import ServerError
from tests.server.conftest import PASSWORDS, Running, require_tool


def _psql(
    running: Running, command: str, options: str | None = None
) -> subprocess.CompletedProcess[str]:
    binary = require_tool("psql")
    args = [binary, "-X", "-A", "-t", "-v", "VERBOSITY=verbose", "-h", running.host, "-p",
            str(running.port), "-U", "alice", "-d", "dpproxy", "-c", command]  # fmt: skip
    env = {**os.environ, "PGPASSWORD": PASSWORDS["alice"], "PGCONNECT_TIMEOUT": "10"}
    if options is not None:
        env["PGOPTIONS"] = options
    else:
        env.pop("PGOPTIONS", None)
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)


def test_pgoptions_set_the_session_epsilon(running: Running) -> None:
    done = _psql(running, "SHOW dpproxy.epsilon", "-c dpproxy.epsilon=0.3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0.3"
    before = running.spent()
    answered = _psql(running, "SELECT COUNT(*) FROM members", "--dpproxy.epsilon=0.25")
    assert answered.returncode == 0, answered.stderr
    assert running.spent() == pytest.approx(before + 0.25)


BAD = [
    ("-c dpproxy.epsilon=-1", "22023", "dpproxy.epsilon must be a positive number"),
    ("-c no_such_setting=1", "42704", 'unrecognized configuration parameter "no_such_setting"'),
    ("-c dpproxy.budget=9", "42704", 'unrecognized or read-only parameter "dpproxy.budget"'),
    ("--single-user", "42601", "expected name=value"),
    ("-D /tmp", "22023", "invalid command-line argument in startup options: '-D'"),
]


@pytest.mark.parametrize(("options", "sqlstate", "message"), BAD)
def test_bad_startup_options_refuse_the_connection(
    running: Running, options: str, sqlstate: str, message: str
) -> None:
    """psql shows a refused connection's message (not its SQLSTATE, checked below)."""
    done = _psql(running, "SELECT 1", options)
    assert done.returncode != 0
    assert "FATAL" in done.stderr and message in done.stderr, done.stderr


@pytest.mark.parametrize(("options", "sqlstate", "message"), BAD)
def test_bad_startup_options_have_their_sqlstate(options: str, sqlstate: str, message: str) -> None:
    with pytest.raises(ServerError) as error:
        apply_startup_options(options, SessionState("alice"))
    assert error.value.sqlstate == sqlstate and message in error.value.message


def test_options_are_split_as_libpq_escapes_them() -> None:
    assert _startup_settings(r"-c application_name=my\ tool -cstatement_timeout=5s") == [
        ("application_name", "my tool"),
        ("statement_timeout", "5s"),
    ]
    with pytest.raises(ServerError):
        _startup_settings("-c")


def test_a_stray_parameter_is_42p02_and_the_session_goes_on(running: Running) -> None:
    done = _psql(running, "SELECT $1")
    assert "42P02" in done.stderr and "there is no parameter $1" in done.stderr, done.stderr
