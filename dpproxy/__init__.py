"""dpproxy: a SQL proxy that enforces differential privacy.

Module map (the pipeline, in order):

* ``parse``: query text to a sqlglot AST (PostgreSQL dialect), fail closed;
* ``check``: the AST against the YAML policy (``policy``), all violations at once;
* ``plan``: the noisy measurements, their sensitivities and budget shares;
* ``rewrite``: the bounded SQL the engine runs (never the analyst's own);
* ``engine``: DuckDB, locked down;
* ``noise`` and ``postprocess``: exact discrete noise, then release;
* ``accounting``: exact budgets and the durable ledger;
* ``pipeline`` runs the six stages; ``api`` is the Python surface; ``cli`` the command line.

>>> import dpproxy
>>> db = dpproxy.connect("policies/", analyst="alice")              # doctest: +SKIP
>>> db.query("SELECT city, COUNT(*) FROM members GROUP BY city")   # doctest: +SKIP
"""

from dpproxy.api import Result, Session, connect
from dpproxy.errors import (
    BudgetExhausted,
    DPProxyError,
    ExecutionFailed,
    InternalError,
    InvalidParameter,
    PolicyError,
    QueryLimitExceeded,
    QueryRejected,
    QueryTimeout,
    Violation,
)
from dpproxy.proxy import Proxy

__all__ = [
    "BudgetExhausted",
    "DPProxyError",
    "ExecutionFailed",
    "InternalError",
    "InvalidParameter",
    "PolicyError",
    "Proxy",
    "QueryLimitExceeded",
    "QueryRejected",
    "QueryTimeout",
    "Result",
    "Session",
    "Violation",
    "connect",
]
