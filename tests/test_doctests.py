"""The examples in the pure core's docstrings run, so they cannot drift from the code they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ["groundswell.consolidate", "groundswell.active", "groundswell.ml"]
#: Modules that import an optional extra at import time (tested by `make test-optional`).
OPTIONAL = {"groundswell.ml.embed"}


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        names += [info.name for info in pkgutil.iter_modules(module.__path__, f"{package}.")]
    return sorted(set(names) - OPTIONAL)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_the_examples_are_found() -> None:
    attempted = sum(doctest.testmod(importlib.import_module(n)).attempted for n in _modules())
    assert attempted >= 7
