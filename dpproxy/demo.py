"""``make run`` (Python API part): the seed scenario on the sample data.

A loyalty program's analyst asks aggregate questions; dpproxy answers with noise,
suppresses what would single people out, refuses row-level questions and charges every
answer to a budget. The demo uses a fresh ledger in a temporary directory so it can be
run again and again; real use keeps the ledger in the policy's ``state`` directory.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import dpproxy
from dpproxy.cli import _result_table

POLICIES = Path(__file__).resolve().parent.parent / "policies"

STEPS = [
    ("How many members live in each city, and what do they spend?",
     "SELECT city, COUNT(*) AS members, ROUND(AVG(annual_spend), 2) AS avg_spend\n"
     "FROM members GROUP BY city ORDER BY members DESC", 1.0),
    ("Education is a public list: every level appears, even if empty.",
     "SELECT education, COUNT(*) AS members FROM members GROUP BY education", 0.5),
    ("Purchases by product category (a public table, joined on a join key).",
     "SELECT pr.category, COUNT(DISTINCT p.loyalty_number) AS buyers, SUM(p.amount) AS revenue\n"
     "FROM purchases p JOIN products pr ON p.product = pr.product GROUP BY pr.category", 1.0),
    ("The differencing attack, part 1: everyone ...",
     "SELECT COUNT(*) FROM members", 0.5),
    ("... part 2: everyone outside 'A Very Small Town' (its 20 members are the difference).",
     "SELECT COUNT(*) FROM members WHERE city <> 'A Very Small Town'", 0.5),
]  # fmt: skip

REFUSED = [
    "SELECT * FROM members",
    "SELECT loyalty_number, annual_spend FROM members WHERE city = 'A Very Small Town'",
    "SELECT MAX(annual_spend) FROM members",
    "SELECT COUNT(*) FROM read_csv('/etc/passwd')",
]


def main() -> None:
    out = sys.stdout
    with (
        tempfile.TemporaryDirectory(prefix="dpproxy-demo-") as state,
        dpproxy.connect(POLICIES, analyst="alice", state_dir=state) as db,
    ):
        out.write("dpproxy demo: analyst 'alice' on the loyalty-program sample data\n\n")
        price = db.explain(STEPS[0][1], epsilon=STEPS[0][2])
        out.write(f"EXPLAIN (dry run, nothing charged): epsilon {price.epsilon:g}, delta "
                  f"{price.delta:g}; cities are shown only when their noisy member count "
                  f"is at least {price.threshold}\n\n")  # fmt: skip
        answers = []
        for title, sql, epsilon in STEPS:
            out.write(f"-- {title}\n{sql}\n")
            result = db.query(sql, epsilon=epsilon)
            answers.append(result)
            out.write(_result_table(result) + "\n\n")
        difference = answers[3].rows[0][0] - answers[4].rows[0][0]
        out.write(f"Difference of the two noisy counts: {difference} (true value 20; each "
                  f"count is within ±{answers[3].accuracy[0].ci95:g} 95% of the time, so "
                  "no single member's presence can be read off).\n\n")  # fmt: skip
        out.write("-- Questions dpproxy refuses before touching any data:\n")
        for sql in REFUSED:
            try:
                db.query(sql)
            except dpproxy.DPProxyError as exc:
                out.write(f"{sql}\n   -> ERROR {exc.sqlstate}: {exc.message}\n")
        out.write("\n-- Budget after the demo:\n")
        for line in db.budget():
            out.write(f"{line.analyst} in domain '{line.domain}': spent epsilon "
                      f"{line.epsilon_spent:g} of {line.epsilon_budget:g}, delta "
                      f"{line.delta_spent:g} of {line.delta_budget:g}\n")  # fmt: skip


if __name__ == "__main__":
    main()
