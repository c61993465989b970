"""``dpproxy passwd`` and ``dpproxy serve`` on the command line."""

from __future__ import annotations

import subprocess
import sys

from dpproxy.server.scram import ScramExchange, Verifier
from tests.conftest import ROOT
from tests.server.test_scram import client_final_for


def _run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dpproxy.cli", *args], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, timeout=60)  # fmt: skip


def test_passwd_reads_stdin_and_prints_a_working_verifier() -> None:
    done = _run("passwd", stdin="correct horse\n")
    assert done.returncode == 0, done.stderr
    text = done.stdout.strip()
    assert text.startswith("SCRAM-SHA-256$4096:") and "correct horse" not in text
    exchange = ScramExchange(Verifier.parse(text))
    server_first = exchange.first(b"n,,n=,r=nonce")
    assert exchange.final(client_final_for("correct horse", "n=,r=nonce", server_first))


def test_passwd_refuses_an_empty_password_and_takes_none_on_the_command_line() -> None:
    assert _run("passwd", stdin="\n").returncode == 1
    assert _run("passwd", "secret").returncode == 2  # argparse: no such argument


def test_serve_help() -> None:
    done = _run("serve", "--help")
    assert done.returncode == 0
    for option in ("--policies", "--host", "--port", "--state"):
        assert option in done.stdout
