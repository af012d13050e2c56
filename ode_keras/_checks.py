"""Input checking for ``odeint`` and ``odeint_adjoint``: once, at the boundary.

Each check raises ``TypeError`` or ``ValueError`` naming the argument, what was
expected, what was received and how to fix it. Values known when the graph is
built are checked in Python; values only known at run time (a symbolic ``t``)
get a run-time assertion instead.
"""

import math
import numbers

import numpy as np
import tensorflow as tf

from ode_keras import _grid, _state

# diffrax's default: far above what a trained Neural ODE needs, and a loud error (never a
# hang) for a solve that runs away. Under XLA it also sizes the buffers of the gradient
# through the solver's loops, so it is kept modest.
DEFAULT_MAX_NUM_STEPS = 4096

# Step counts are int32 tensors inside the solvers: a budget must fit in one.
MAX_NUM_STEPS_LIMIT = 2**31 - 1

def control_dtype(dtype):
    """The dtype of the times, step sizes, tolerances and controller state: float64.

    Whatever the state's ``dtype``: float32 times cannot tell ``1e6`` from ``1e6 + 0.03``
    (small steps are lost in rounding), and a long solve adds up one rounding error per
    step in its time. The state keeps its dtype (as in torchdiffeq): ``func`` sees ``t``
    cast to it, and a step size is cast to it where it multiplies the state. Times are
    scalars, so the wide dtype costs nothing measurable; ``dtype``, the state's, is
    accepted for the callers that ask per state.
    """
    del dtype
    return tf.float64


def check_func(func):
    """``func`` must be callable as ``func(t, y)``."""
    if not callable(func):
        raise TypeError(
            "func must be callable as func(t, y) -> dy/dt (a function, or a Keras layer or "
            f"model), got {type(func).__name__}: {func!r}."
        )


def as_state(y0):
    """Return ``(components, is_tuple)``: ``y0`` as a tuple of floating tensors."""
    is_tuple = isinstance(y0, (tuple, list))
    parts = tuple(y0) if is_tuple else (y0,)
    if is_tuple and not parts:
        raise ValueError("y0 must be a tensor or a non-empty tuple of tensors, got ().")
    tensors = []
    for i, part in enumerate(parts):
        name = f"y0[{i}]" if is_tuple else "y0"
        try:
            tensor = tf.convert_to_tensor(part)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must be convertible to a tensor, got {part!r}.") from error
        if not tensor.dtype.is_floating:
            raise TypeError(
                f"{name} must have a floating dtype (float16/32/64), got {tensor.dtype.name}; "
                f"cast it, e.g. tf.cast({name}, tf.float32)."
            )
        tensors.append(tensor)
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1:
        raise TypeError(
            "all components of y0 must share one floating dtype, got "
            f"{[t.dtype.name for t in tensors]}; cast them to one dtype."
        )
    return tuple(tensors), is_tuple


def as_times(t, dtype):
    """Return ``(t, direction)``: ``t`` as a 1-D tensor of ``dtype``; direction is +1 or -1.

    ``direction`` is a Python int when ``t`` is known now, else a scalar tensor.
    """
    t = tf.convert_to_tensor(t)
    value = tf.get_static_value(t)
    shown = f"t={value.tolist()}" if value is not None else f"a tensor of shape {t.shape}"
    _check_time_dtype(t.dtype.is_floating or t.dtype.is_integer, shown, t.dtype.name)
    _check_time_shape(tuple(t.shape), shown, min_times=1)
    t = tf.cast(t, dtype)
    if value is not None:
        # Checked in float64, the solver's times' dtype: what is monotonic here stays so.
        return t, check_time_values(np.asarray(value, np.float64))
    steps = t[1:] - t[:-1]
    direction = tf.sign(t[-1] - t[0])
    tf.debugging.Assert(
        tf.reduce_all(direction * steps > 0) & tf.reduce_all(tf.math.is_finite(t)),
        ["t must be finite and strictly increasing or strictly decreasing; got t =", t],
    )
    return t, direction


def static_times(t):
    """Times known now (a sequence or array): checked, as float64 values, and their direction."""
    try:
        values = np.asarray(t)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"t must be a sequence of real times such as (0.0, 1.0), got t={t!r}.") from error
    shown = f"t={t!r}"
    _check_time_dtype(values.dtype.kind in "iuf", shown, values.dtype)
    _check_time_shape(values.shape, shown)
    values = values.astype(np.float64)
    return values, check_time_values(values)


def _check_time_dtype(is_real, shown, dtype):
    if not is_real:
        raise TypeError(
            f"t must hold real times (real numbers such as (0.0, 1.0)), got {shown} of dtype "
            f"{dtype}."
        )


def _check_time_shape(shape, shown, min_times=2):
    """A 1-D static shape of ``min_times`` times or more (1 for ``odeint``: ``ys`` is ``[y0]``)."""
    if len(shape) != 1 or shape[0] is None:
        raise ValueError(
            f"t must be a 1-D tensor of output times with a static length, got {shown} with "
            f"shape {shape}; pass e.g. tf.constant([0.0, 1.0])."
        )
    if shape[0] < min_times:
        raise ValueError(
            f"t must hold at least {min_times} time{'s' if min_times > 1 else ''} (the start"
            f"{' and an output time' if min_times > 1 else ''}), got {shown}: ys[0] is y0 at "
            "t[0], and the solve runs to t[-1]."
        )


def check_time_values(values):
    """Finite and strictly monotonic times; returns the direction, +1 or -1."""
    if not np.all(np.isfinite(values)):
        raise ValueError(f"t must hold finite times, got t={values.tolist()}.")
    steps = np.diff(values)
    if np.all(steps > 0):
        return 1
    if np.all(steps < 0):
        return -1
    raise ValueError(
        f"t must be strictly increasing or strictly decreasing, got t={values.tolist()}; sort "
        "the times and drop repeated ones."
    )


def check_tolerance(name, value):
    """``rtol``, ``atol`` and their adjoint twins: positive and finite; returns the value.

    A tensor known only when the graph runs is passed through unchecked.
    """
    static = tf.get_static_value(tf.convert_to_tensor(value)) if tf.is_tensor(value) else value
    if static is None:
        return value
    if (isinstance(static, (bool, np.bool_))
            or not isinstance(static, numbers.Real | np.floating | np.ndarray)
            or np.ndim(static) != 0):
        raise TypeError(
            f"{name} must be a positive real number, got {name}={value!r} of type "
            f"{type(value).__name__}."
        )
    if not (static > 0 and math.isfinite(static)):
        raise ValueError(
            f"{name} must be positive and finite, got {name}={static}; typical values run "
            "from 1e-3 (training) to rtol=1e-7, atol=1e-9 (accurate solves); for a purely "
            "relative tolerance use a tiny atol."
        )
    return value


def check_grid(grid, name="options"):
    """``options['grid']``: a 1-D sequence of step points; returned as a float64 array."""
    grid = np.asarray(grid, dtype=np.float64) if not tf.is_tensor(grid) else grid
    if len(grid.shape) != 1 or grid.shape[0] is None:
        raise ValueError(
            f"{name}['grid'] must be a 1-D tensor of step points, got shape "
            f"{tuple(grid.shape)}."
        )
    return grid


def check_derivative(f0, y0, is_tuple):
    """``func(t0, y0)`` must have the structure, shapes and dtype of ``y0``."""
    if f0 is None:
        raise TypeError(
            "func(t, y) returned None; it must return dy/dt, a tensor with the shape and "
            "dtype of y (a tuple of them for a tuple state). Did func forget a `return`?"
        )
    if is_tuple != isinstance(f0, (tuple, list)) or (is_tuple and len(f0) != len(y0)):
        expected = f"a tuple of {len(y0)} tensors" if is_tuple else "a single tensor"
        received = type(f0).__name__
        if isinstance(f0, (tuple, list)):
            received += f" of length {len(f0)}"
        raise TypeError(
            f"func(t, y) must return dy/dt with the structure of y0 ({expected}), got "
            f"{received}."
        )
    parts = tuple(f0) if is_tuple else (f0,)
    for i, (f, y) in enumerate(zip(parts, y0)):
        where = f"[{i}]" if is_tuple else ""
        if f is None:
            raise TypeError(f"func(t, y){where} returned None; it must return dy/dt{where}, "
                            f"a tensor with the shape and dtype of y{where}.")
        f = tf.convert_to_tensor(f)
        if f.dtype != y.dtype:
            raise TypeError(
                f"func(t, y){where} returned dtype {f.dtype.name} but y0{where} has dtype "
                f"{y.dtype.name}; make func return the state's dtype."
            )
        if not f.shape.is_compatible_with(y.shape):
            raise ValueError(
                f"func(t, y){where} returned shape {f.shape} but y0{where} has shape {y.shape}; "
                "dy/dt must have the shape of the state."
            )
    return tuple(tf.convert_to_tensor(f) for f in parts)


def check_options(method, solver, options, name="options"):
    """Validate ``options`` for ``solver``; returns a complete dict with defaults filled in.

    ``name`` is the argument that held them (``"options"``, ``"adjoint_options"``).
    """
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise TypeError(f"{name} must be a dict or None, got {type(options).__name__}.")
    unknown = sorted(set(options) - set(solver.option_names))
    if unknown:
        raise ValueError(
            f"Unknown options {unknown} for method {method!r}; valid options are "
            f"{sorted(solver.option_names)}."
        )
    full = {"max_num_steps": DEFAULT_MAX_NUM_STEPS, **options}
    _check_positive_int(name, "max_num_steps", full["max_num_steps"])
    return solver.check_options(full, name, method)


def check_fixed_step_options(method, options, name):
    """A fixed-step method's ``options`` (``max_num_steps`` checked): at most one of
    step_size, grid, grid_constructor (none: the steps are ``t`` itself); ``perturb``."""
    given = [key for key in ("step_size", "grid", "grid_constructor")
             if options.get(key) is not None]
    if len(given) > 1:
        raise ValueError(
            f"The fixed-step method {method!r} takes at most one of {name}['step_size'], "
            f"{name}['grid'] and {name}['grid_constructor'], got {given}; keep one (none "
            "steps from output time to output time)."
        )
    if options.get("step_size") is not None:
        _check_positive_number(name, "step_size", options["step_size"], options)
    full = {"step_size": None, "grid": None, "grid_constructor": None, "perturb": False,
            **options}
    full["grid"] = _grid.check_times(name, "grid", full["grid"])
    _grid.check_grid_constructor(name, full["grid_constructor"])
    if not isinstance(full["perturb"], (bool, np.bool_)):
        raise TypeError(f"{name}['perturb'] must be True or False, got {full['perturb']!r}.")
    return full


def check_adaptive_options(options, name):
    """An adaptive method's ``options`` (``max_num_steps`` checked), with defaults filled in."""
    full = {"first_step": None, "min_step": 0.0, "max_step": float("inf"),
            "norm": _state.mixed_rms_norm, "step_t": None, "jump_t": None, **options}
    for key in ("step_t", "jump_t"):
        full[key] = _grid.check_times(name, key, full[key])
    _grid.check_disjoint(name, full["step_t"], full["jump_t"])
    if full["first_step"] is not None:
        _check_positive_number(name, "first_step", full["first_step"], full)
    _check_positive_number(name, "max_step", full["max_step"], full)
    if not (isinstance(full["min_step"], numbers.Real) and 0 <= full["min_step"]
            <= full["max_step"]):
        raise ValueError(
            f"{name}['min_step'] must be a number with 0 <= min_step <= max_step, got "
            f"min_step={full['min_step']!r}, max_step={full['max_step']!r}."
        )
    if not callable(full["norm"]):
        raise TypeError(
            f"{name}['norm'] must be callable, mapping the tuple of scaled errors to a scalar "
            f"tensor, got {full['norm']!r}."
        )
    return full


def _check_positive_number(name, key, value, options):
    """A positive finite number; a scalar tensor known now is replaced by its value."""
    if tf.is_tensor(value):
        static = tf.get_static_value(value)
        if static is None or np.ndim(static) != 0:
            raise TypeError(
                f"{name}['{key}'] must be a positive Python number (the solver plans its "
                f"steps from it when the graph is built), got a tensor {value!r} whose value "
                f"is not known now; pass a float, e.g. {name}={{'{key}': 0.01}}.")
        value = options[key] = static.item()
    if isinstance(value, np.generic):
        value = options[key] = value.item()
    if isinstance(value, bool) or not (isinstance(value, numbers.Real) and value > 0):
        raise ValueError(f"{name}['{key}'] must be a positive number, got {value!r} of type "
                         f"{type(value).__name__}.")


def _check_positive_int(name, key, value):
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral)
            or not 1 <= value <= MAX_NUM_STEPS_LIMIT):
        raise ValueError(
            f"{name}['{key}'] must be a positive integer, from 1 to 2**31 - 1 = "
            f"{MAX_NUM_STEPS_LIMIT} (step counts are int32), got {value!r} of type "
            f"{type(value).__name__}.")


def check_choice(name, value, choices):
    """``value`` must be one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got "
                         f"{value!r}.")
