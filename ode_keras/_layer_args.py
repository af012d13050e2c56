"""Argument checks for :class:`ode_keras.ODEBlock`, run once in its ``__init__``.

Everything the layer stores must survive ``get_config`` -> JSON -> ``from_config``,
so the checks also turn what they accept into plain Python values (floats,
ints, tuples). Each error names the argument, what was expected, what was
received and how to fix it.
"""

import contextlib
import inspect
import numbers

import keras
import numpy as np

from ode_keras import _checks
from ode_keras.odeint import GRADIENTS
from ode_keras.solvers import SOLVERS, get_solver

# Positional parameters of a Sequential or functional model after ``inputs``:
# such a model takes one input, not ``(t, y)``.
_NOT_A_STATE_ARGUMENT = ("training", "mask")


def check_odefunc(odefunc):
    """``odefunc`` must be a Keras layer (or model) whose ``call`` takes ``(t, y)``."""
    if not isinstance(odefunc, keras.layers.Layer):
        raise TypeError(
            "Received an invalid value for `odefunc`: expected a keras.layers.Layer (or "
            "keras.Model) whose call(t, y) returns dy/dt, so that ODEBlock can track its "
            f"weights and save it. Received: odefunc={odefunc!r} of type "
            f"{type(odefunc).__name__}. Wrap a plain function in a Layer subclass."
        )
    positional = [
        p for p in inspect.signature(odefunc.call).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    takes_two = len(positional) >= 2 and positional[1].name not in _NOT_A_STATE_ARGUMENT
    takes_any = any(p.kind == p.VAR_POSITIONAL for p in positional[:2])
    if not (takes_two or takes_any):
        names = ", ".join(p.name for p in positional)
        raise TypeError(
            "Received an invalid value for `odefunc`: expected a layer whose call(t, y) takes "
            f"the time and the state. Received: {type(odefunc).__name__} with call({names}). "
            "For a Sequential or functional model, wrap it in a Layer subclass whose "
            "call(t, y) returns model(y)."
        )
    return odefunc


def check_times(t):
    """``t``: at least two finite times, strictly monotonic; returned as a tuple of floats."""
    with _argument("t"):
        values, _ = _checks.static_times(t)
    return tuple(float(v) for v in values)


def check_method(method):
    """``method`` must name a solver in :data:`ode_keras.SOLVERS`."""
    with _argument("method"):
        get_solver(method, "method")
    return method


def check_tolerance(name, value):
    """``rtol`` and ``atol``: positive, finite real numbers; returned as floats."""
    with _argument(name):
        return float(_checks.check_tolerance(name, value))


def check_flag(name, value):
    """Boolean switches (``adjoint``, ``return_sequences``, ``time_major``)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"Received an invalid value for `{name}`: expected True or False. "
            f"Received: {name}={value!r} of type {type(value).__name__}."
        )
    return bool(value)


def check_options(name, method, options, *, backward):
    """Validate solver options and return them as a tuple of sorted ``(key, value)`` pairs.

    ``options['norm']`` is refused: a callable cannot be written into the
    layer's JSON config. The one exception is the options of the adjoint's
    backward solve (``backward=True``) with ``{"norm": "seminorm"}``, a string.
    ``None`` stays ``None``, but forward options of a fixed-step method still
    need a step size (``None`` backward options mean "as forward").
    """
    if options is None:
        if not backward:
            _core_check(name, method, {})
        return None
    if not isinstance(options, dict):
        raise TypeError(
            f"Received an invalid value for `{name}`: expected a dict or None. "
            f"Received: {name}={options!r} of type {type(options).__name__}."
        )
    plain = {str(key): _plain(name, key, value) for key, value in options.items()}
    norm = plain.pop("norm", None)
    if norm is not None and not (backward and norm == "seminorm"):
        hint = ('only {"norm": "seminorm"} is accepted here' if backward
                else 'use adjoint_options={"norm": "seminorm"} for the seminorm')
        raise TypeError(
            f"Received an invalid value for `{name}['norm']`: ODEBlock keeps its options in "
            "its JSON-serialisable config, where a custom norm (a callable) cannot be "
            f"stored; {hint}, or call ode_keras.odeint with your norm directly. "
            f"Received: {name}['norm']={norm!r}."
        )
    solver = SOLVERS[method]
    if norm is not None and "norm" not in solver.option_names:
        raise ValueError(
            f"Received an invalid value for `{name}`: the seminorm needs an adaptive method "
            f"such as 'dopri5'. Received: method={method!r}, {name}={options!r}. Use an "
            "adaptive method or drop the norm."
        )
    _core_check(name, method, plain)
    if norm is not None:
        plain["norm"] = norm
    return tuple(sorted(plain.items()))


def _core_check(name, method, options):
    """The solvers' own option checks, with the layer's argument name in the message."""
    with _argument(name):
        _checks.check_options(method, SOLVERS[method], dict(options), name)


@contextlib.contextmanager
def _argument(label):
    """Re-raise a shared check's error in the Keras style, naming the layer's argument."""
    try:
        yield
    except (TypeError, ValueError) as error:
        raise type(error)(f"Received an invalid value for `{label}`: {error}") from None


def _plain(name, key, value):
    """A JSON-friendly copy of one option value (numpy scalars and arrays become Python)."""
    if isinstance(value, np.generic):
        return value.item()
    if key in ("grid", "step_t", "jump_t") and value is not None:  # times: a tuple of floats
        with _argument(f"{name}['{key}']"):
            return tuple(float(v) for v in _checks.check_grid(value, name))
    if key != "norm" and not (value is None or isinstance(value, (numbers.Real, str))):
        raise TypeError(
            f"Received an invalid value for `{name}['{key}']`: expected a number, so that "
            f"the layer's config stays JSON-serialisable. Received: {value!r}."
        )
    return value


def check_gradient(gradient, adjoint):
    """The gradient path: ``gradient`` if given, else the ``adjoint`` flag's."""
    adjoint = check_flag("adjoint", adjoint)
    if gradient is None:
        return "adjoint" if adjoint else "backprop"
    with _argument("gradient"):
        _checks.check_choice("gradient", gradient, GRADIENTS)
    return gradient
