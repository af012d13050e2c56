"""Every ``>>>`` example in ode_keras's docstrings runs as a doctest, so none can rot."""

import doctest
import importlib
import pathlib
import pkgutil

import pytest

import ode_keras

PACKAGE_DIR = pathlib.Path(ode_keras.__file__).parent


def modules_with_examples():
    """The ode_keras modules whose source holds a ``>>>`` example."""
    names = [info.name for info in pkgutil.walk_packages([str(PACKAGE_DIR)], "ode_keras.")]
    return [name for name in names
            if ">>>" in pathlib.Path(importlib.import_module(name).__file__).read_text()]


def test_the_examples_are_found():
    assert {"ode_keras.odeint", "ode_keras.adjoint", "ode_keras.layers", "ode_keras.solvers",
            "ode_keras.stats", "ode_keras.tableaus"} <= set(modules_with_examples())


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    results = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
                              raise_on_error=False, verbose=False)
    assert results.attempted > 0
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples failed"
