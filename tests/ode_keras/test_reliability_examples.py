"""Issue #12, item 15: odenet_mnist without scikit-learn says what to install."""

import sys

import pytest

from ode_keras.examples import _mnist_data


def test_the_digits_fallback_without_sklearn_names_the_extra(monkeypatch):
    # Before: a raw "ModuleNotFoundError: No module named 'sklearn'".
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now fails
    with pytest.raises(ModuleNotFoundError, match=r'pip install -e "\.\[examples\]"'):
        _mnist_data.load_upscaled_digits()
