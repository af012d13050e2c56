"""The examples' command lines, free of TensorFlow: ``--help`` and usage errors come at once.

Each example defines its parser and calls :func:`parse_early` before importing TensorFlow, so
``python -m ode_keras.examples.NAME --help`` answers without loading it.
"""

import argparse
import importlib

METHODS = ("adams", "adaptive_heun", "bosh3", "dopri5", "dopri8", "euler", "explicit_adams",
           "fehlberg2", "heun", "heun3", "implicit_adams", "implicit_euler", "kvaerno3",
           "kvaerno4", "kvaerno5", "midpoint", "rk4", "rk4_38", "rodas5p", "scipy_solver",
           "trapezoid", "tsit5")
"""The names of :data:`ode_keras.SOLVERS`, sorted (a test keeps them equal)."""

DATASETS = ("auto", "mnist", "digits")
NETWORKS = ("odenet", "rknet", "resnet")


def new_parser(name, doc):
    """An ``ArgumentParser`` whose usage line shows ``python -m ode_keras.examples.<name>``.

    Args:
        name: The example's module name, e.g. ``"ode_demo"``.
        doc: The module docstring; its first paragraph is the description.

    Returns:
        An ``argparse.ArgumentParser``.
    """
    return argparse.ArgumentParser(prog=f"python -m ode_keras.examples.{name}",
                                   description=doc.split("\n\n")[0])


def parse_early(module_name, build_parser):
    """Parses ``sys.argv`` when the example runs as a program (``module_name == "__main__"``).

    ``--help`` and argument errors then exit here, before the example imports TensorFlow; a
    valid command line is parsed again by ``main``. Then the package's public names are bound
    (``ode_keras/__init__.py`` defers them under ``python -m``), so that ``from ode_keras import
    odeint`` gives the function even after a submodule import bound the module's name.
    """
    if module_name == "__main__":
        build_parser().parse_args()
        importlib.import_module("ode_keras")._bind_public_names()
