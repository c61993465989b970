"""Time each pipeline stage from outside, by wrapping the functions ``pipeline.run`` calls.

Nothing in ``dpproxy/`` is edited: the names ``pipeline.run`` looks up at call time
(``parse``, ``check``, ``plan_query``, ``rewrite``, ``add_noise``, ``release``) and the
engine's and ledger's methods are replaced by timed wrappers for the duration of a
``with StageTimer(proxy).installed()`` block, then restored. A name the pipeline no
longer has is skipped (the pipeline is being worked on), and its time falls to "other".
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dpproxy import pipeline
from dpproxy.proxy import Proxy

# Reported stages, in pipeline order; "charge" is every ledger call (SQLite: reservation,
# commit with fsync, audit). What no stage accounts for is reported as "other".
STAGES = (
    "parse",
    "check",
    "plan",
    "rewrite",
    "execute",
    "noise",
    "release",
    "charge",
)
OVERHEAD = tuple(s for s in STAGES if s != "execute")

_MODULE_STAGES = {
    "parse": "parse",
    "check": "check",
    "plan_query": "plan",
    "rewrite": "rewrite",
    "add_noise": "noise",
    "release": "release",
}


class StageTimer:
    """Accumulates seconds per stage; ``take()`` returns and resets them."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self._seconds: dict[str, float] = defaultdict(float)

    def _timed(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        seconds = self._seconds

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[stage] += time.perf_counter() - start

        return wrapper

    def take(self) -> dict[str, float]:
        taken = {stage: self._seconds.get(stage, 0.0) for stage in STAGES}
        self._seconds.clear()
        return taken

    @contextmanager
    def installed(self) -> Iterator[StageTimer]:
        saved: list[tuple[Any, str, Any]] = []

        def patch(owner: Any, name: str, stage: str) -> None:
            original = getattr(owner, name)
            saved.append((owner, name, original))
            setattr(owner, name, self._timed(stage, original))

        for name, stage in _MODULE_STAGES.items():
            if hasattr(pipeline, name):
                patch(pipeline, name, stage)
        patch(self.proxy.engine, "execute", "execute")
        for name in ("spent", "reserve", "commit", "cached", "record"):
            if hasattr(self.proxy.ledger, name):
                patch(self.proxy.ledger, name, "charge")
        try:
            yield self
        finally:
            for owner, name, original in reversed(saved):
                if owner is self.proxy.engine or owner is self.proxy.ledger:
                    delattr(owner, name)  # back to the class attribute
                else:
                    setattr(owner, name, original)
