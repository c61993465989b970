"""The CLI contract other tools depend on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, write_policies


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dpproxy.cli", *args], capture_output=True,
                          text=True, cwd=ROOT)  # fmt: skip


def test_query_json(tmp_path: Path) -> None:
    policies = str(write_policies(tmp_path / "p"))
    sql = "SELECT gender, COUNT(*) AS n, AVG(annual_spend) FROM members GROUP BY gender"
    done = _run("query", "--policies", policies, "--analyst", "alice", "--format", "json",
                "--epsilon", "0.5", sql)  # fmt: skip
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["columns"] == ["gender", "n", "avg"]
    assert len(payload["rows"]) == 3
    assert payload["epsilon"] == 0.5
    assert payload["budget_remaining"] == {"epsilon": 999.5, "delta": 0.5}
    assert [a["column"] for a in payload["accuracy"]] == ["gender", "n", "avg"]
    assert {"mechanism", "scale", "ci95"} <= set(payload["accuracy"][1])


def test_rejection_json_and_exit_status(tmp_path: Path) -> None:
    policies = str(write_policies(tmp_path / "p"))
    done = _run("query", "--policies", policies, "--analyst", "alice", "--format", "json",
                "SELECT * FROM members")  # fmt: skip
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert error["sqlstate"] == "42501"
    assert "line 1, column 8" in error["message"]


def test_table_output_explain_budget(tmp_path: Path) -> None:
    policies = str(write_policies(tmp_path / "p"))
    done = _run("query", "--policies", policies, "--analyst", "bob",
                "SELECT COUNT(*) FROM members")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "charged epsilon 0.5; remaining epsilon 0.5" in done.stdout
    done = _run("explain", "--policies", policies, "--analyst", "bob",
                "SELECT city, COUNT(*) FROM members GROUP BY city")  # fmt: skip
    assert "nothing charged" in done.stdout and "released when" in done.stdout
    done = _run("budget", "--policies", policies, "--format", "json")
    lines = {(b["analyst"], b["domain"]): b for b in json.loads(done.stdout)}
    assert lines[("bob", "member")]["epsilon_spent"] == 0.5
    done = _run("query", "--policies", policies, "--analyst", "bob", "--epsilon", "0.6",
                "SELECT COUNT(*) FROM members")  # fmt: skip
    assert done.returncode == 1
    assert "ERROR 53P01: privacy budget exhausted" in done.stderr
    assert "needs epsilon 0.6, 0.5 remaining" in done.stderr


def test_policy_check(tmp_path: Path) -> None:
    done = _run("policy", "check", str(ROOT / "policies"))
    assert done.returncode == 0
    assert "table members: privacy unit loyalty_number" in done.stdout
    broken = write_policies(tmp_path / "p")
    (broken / "members.yaml").write_text((broken / "members.yaml").read_text().replace(
        "max_rows_per_unit", "max_rows_per_unt"))  # fmt: skip
    done = _run("policy", "check", str(broken))
    assert done.returncode == 1
    assert "members.yaml: max_rows_per_unt: Extra inputs are not permitted" in done.stderr
