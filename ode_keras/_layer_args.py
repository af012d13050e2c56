"""Argument checks for :class:`ode_keras.ODEBlock`, run once in its ``__init__``.

Everything the layer stores must survive ``get_config`` -> JSON -> ``from_config``,
so the checks also turn what they accept into plain Python values (floats,
ints, tuples). Each error names the argument, what was expected, what was
received and how to fix it.
"""

import inspect
import math
import numbers

import keras
import numpy as np

from ode_keras import _checks
from ode_keras.solvers import SOLVERS

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
    try:
        values = np.asarray(t)
    except (TypeError, ValueError) as error:
        raise TypeError(
            "Received an invalid value for `t`: expected a sequence of real times such as "
            f"(0.0, 1.0). Received: t={t!r}."
        ) from error
    if values.dtype.kind not in "iuf":
        raise TypeError(
            "Received an invalid value for `t`: expected real numbers such as (0.0, 1.0). "
            f"Received: t={t!r} (dtype {values.dtype})."
        )
    if values.ndim != 1 or values.size < 2:
        raise ValueError(
            "Received an invalid value for `t`: expected a 1-D sequence of at least 2 times "
            f"(the start and the end), e.g. (0.0, 1.0). Received: t={t!r} with shape "
            f"{values.shape}."
        )
    values = values.astype(np.float64)
    steps = np.diff(values)
    if not np.all(np.isfinite(values)) or not (np.all(steps > 0) or np.all(steps < 0)):
        raise ValueError(
            "Received an invalid value for `t`: expected finite times, strictly increasing "
            f"or strictly decreasing. Received: t={values.tolist()}. Sort the times and drop "
            "repeated ones."
        )
    return tuple(float(v) for v in values)


def check_method(method):
    """``method`` must name a solver in :data:`ode_keras.SOLVERS`."""
    if not isinstance(method, str) or method not in SOLVERS:
        error = ValueError if isinstance(method, str) else TypeError
        raise error(
            "Received an invalid value for `method`: expected one of "
            f"{sorted(SOLVERS)}. Received: method={method!r}."
        )
    return method


def check_tolerance(name, value):
    """``rtol`` and ``atol``: positive, finite real numbers; returned as floats."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"Received an invalid value for `{name}`: expected a positive number such as "
            f"1e-3. Received: {name}={value!r} of type {type(value).__name__}."
        )
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(
            f"Received an invalid value for `{name}`: expected a positive, finite number "
            f"such as 1e-3. Received: {name}={value!r}."
        )
    return float(value)


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
    try:
        _checks.check_options(method, SOLVERS[method], dict(options))
    except (TypeError, ValueError) as error:
        raise type(error)(f"Received an invalid value for `{name}`: {error}") from None


def _plain(name, key, value):
    """A JSON-friendly copy of one option value (numpy scalars and arrays become Python)."""
    if isinstance(value, np.generic):
        return value.item()
    if key == "grid" and value is not None:
        grid = np.asarray(value, dtype=np.float64)
        if grid.ndim != 1:
            raise ValueError(
                f"Received an invalid value for `{name}['grid']`: expected a 1-D sequence of "
                f"step points. Received: shape {grid.shape}."
            )
        return tuple(float(v) for v in grid)
    if key != "norm" and not (value is None or isinstance(value, (numbers.Real, str))):
        raise TypeError(
            f"Received an invalid value for `{name}['{key}']`: expected a number, so that "
            f"the layer's config stays JSON-serialisable. Received: {value!r}."
        )
    return value
