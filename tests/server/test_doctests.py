"""The examples in the server modules' docstrings run and say what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dpproxy.server

MODULES = [m.name for m in pkgutil.iter_modules(dpproxy.server.__path__, "dpproxy.server.")]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
