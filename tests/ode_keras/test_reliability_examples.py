"""Issue #12, items 15 and 17: odenet_mnist without scikit-learn says what to install; the
examples answer --help before importing TensorFlow; ode_demo's iteration 0 prints a real loss."""

import json
import pathlib
import re
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from ode_keras.examples import _mnist_data


def test_the_digits_fallback_without_sklearn_names_the_extra(monkeypatch):
    # Before: a raw "ModuleNotFoundError: No module named 'sklearn'".
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now fails
    with pytest.raises(ModuleNotFoundError, match=r'pip install -e "\.\[examples\]"'):
        _mnist_data.load_upscaled_digits()


# Issue #12, item 17: ode_demo's iteration 0, and the examples' --help.

EXAMPLES = ("ode_demo", "odenet_mnist", "latent_ode", "cnf")
ROOT = pathlib.Path(__file__).resolve().parents[2]

# Runs each example as `python -m` would, with `ode_keras` replaced by a bare package (its
# __init__ imports TensorFlow for the library API; that is not the examples' doing), and reports
# exit codes, usage lines and whether TensorFlow was imported.
HELP_WRAPPER = textwrap.dedent("""
    import contextlib, io, json, pathlib, runpy, sys, time, types
    package = types.ModuleType("ode_keras")
    package.__path__ = [str(pathlib.Path.cwd() / "ode_keras")]
    sys.modules["ode_keras"] = package
    results = {}
    for name, args in json.loads(sys.argv[1]):
        sys.argv = [name, *args]
        out, err, start = io.StringIO(), io.StringIO(), time.perf_counter()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_module(f"ode_keras.examples.{name}", run_name="__main__")
                code = None
            except SystemExit as exit:
                code = exit.code
        results[f"{name} {' '.join(args)}"] = dict(
            code=code, out=out.getvalue(), err=err.getvalue(),
            seconds=time.perf_counter() - start, tensorflow="tensorflow" in sys.modules)
    print(json.dumps(results))
""")


def test_examples_parse_their_command_line_before_importing_tensorflow():
    # Before: each example imported TensorFlow first (15 s, CUDA log lines), and the usage
    # line read "usage: ode_demo.py".
    cases = [(name, ["--help"]) for name in EXAMPLES] + [("ode_demo", ["--method", "rk45"])]
    run = subprocess.run([sys.executable, "-c", HELP_WRAPPER, json.dumps(cases)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(run.stdout)
    for name in EXAMPLES:
        result = results[f"{name} --help"]
        assert result["code"] == 0, result
        assert result["out"].startswith(f"usage: python -m ode_keras.examples.{name} ")
        assert not result["tensorflow"] and result["seconds"] < 2.0, result
    refused = results["ode_demo --method rk45"]
    assert refused["code"] == 2 and "invalid choice: 'rk45'" in refused["err"]
    assert not refused["tensorflow"]


@pytest.fixture(scope="module")
def ode_demo_help():
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "ode_keras.examples.ode_demo", "--help"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    return run, time.perf_counter() - start


def test_the_real_help_command_shows_the_module_command(ode_demo_help):
    run, _ = ode_demo_help
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("usage: python -m ode_keras.examples.ode_demo ")


def test_the_real_help_command_is_fast_and_quiet(ode_demo_help):
    run, seconds = ode_demo_help
    assert run.returncode == 0 and seconds < 2.0 and run.stderr == "", (seconds, run.stderr)


def test_under_python_m_the_package_defers_tensorflow_then_binds_the_same_names():
    probe = """
import argparse, inspect, sys
sys.argv = ["-m"]  # what Python sets while it locates `python -m ode_keras.examples.NAME`
import ode_keras
lazy = "tensorflow" not in sys.modules
import ode_keras.callbacks  # binds the package attribute `odeint` to the submodule
sys.argv = ["ode_demo", "--niters", "1"]
from ode_keras.examples import _cli

def parser():
    built = argparse.ArgumentParser()
    built.add_argument("--niters")
    return built

_cli.parse_early("__main__", parser)
import keras
from ode_keras import ODEBlock, odeint
print(lazy, inspect.isfunction(odeint),
      keras.saving.get_registered_object("ode_keras>ODEBlock") is ODEBlock)
"""
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["True", "True", "True"]


def test_ode_demo_prints_a_finite_batch_loss_at_iteration_0(capsys, monkeypatch):
    # Before: "Iter 0000 | Total Loss 1.04... | Batch Loss nan" (no batch seen yet).
    from ode_keras.examples import ode_demo

    def cheap_truth(data_size):  # the spiral's first stretch, without the float64 solve
        t = np.linspace(0.0, 1.0, data_size, dtype=np.float32)
        y = np.stack([2.0 * np.cos(2.0 * t), -2.0 * np.sin(2.0 * t)], axis=-1)
        return t, y[:, None, :].astype(np.float32)

    monkeypatch.setattr(ode_demo, "make_truth", cheap_truth)
    history = ode_demo.train(ode_demo.build_parser().parse_args(
        ["--niters", "1", "--test_freq", "1", "--data_size", "20", "--method", "euler",
         "--step_size", "0.1", "--batch_time", "3", "--batch_size", "4"]))
    first = re.search(r"Iter 0000 \| Total Loss (\S+) \| Batch Loss (\S+)",
                      capsys.readouterr().out)
    assert first is not None
    assert np.isfinite(float(first.group(2))) and float(first.group(2)) > 0
    assert history[0]["batch_loss"] == pytest.approx(float(first.group(2)), rel=1e-5)
