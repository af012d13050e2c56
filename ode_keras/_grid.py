"""Times a solve must respect: a fixed-step grid, and the adaptive ``step_t`` and ``jump_t``.

- ``grid`` (fixed step): the step points, or ``grid_constructor(func, y0, t) -> grid``,
  called once per solve with the user's ``func``, ``y0`` and ``t`` (in the adjoint's
  backward solve, once per interval with the augmented dynamics, the augmented state and
  the pair of times ``[t_i, t_{i-1}]``). Steps run through the grid and the output times.
- ``step_t`` (adaptive): times every step must stop at exactly.
- ``jump_t`` (adaptive): times where ``func`` jumps. Steps stop there too, and the
  derivative that starts the next step is evaluated afresh on the side ahead
  (:class:`~ode_keras.perturb.Perturb`), so no step integrates across a jump.

The times are the user's; they are checked here, cast to the solver's time dtype, and
negated with ``t`` for a solve backwards in time. Inside the adaptive driver they are a
sorted table, :class:`Stops`, closed by ``+inf``, searched at each step.
"""

import collections

import numpy as np
import tensorflow as tf

from ode_keras import _one_sided

TIME_OPTIONS = ("grid", "step_t", "jump_t")
"""Options holding times, negated with ``t`` when the solve runs backwards."""

Stops = collections.namedtuple("Stops", "times is_jump")
Stops.__doc__ = """The adaptive solve's stopping times, sorted and closed by ``+inf``."""


def check_times(name, key, value):
    """``options[key]``: a 1-D sequence or tensor of finite times; None passes."""
    if value is None:
        return None
    if tf.is_tensor(value):
        static = tf.get_static_value(value)
        shape = tuple(value.shape)
    else:
        try:
            static = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name}['{key}'] must be a 1-D sequence of times, such as "
                            f"[0.5, 1.0], got {value!r}.") from error
        shape = static.shape
    if len(shape) != 1 or shape[0] is None:
        raise ValueError(f"{name}['{key}'] must be a 1-D sequence of times with a static "
                         f"length, got shape {shape}; e.g. {name}={{'{key}': [0.5, 1.0]}}.")
    if static is not None and not np.all(np.isfinite(static)):
        raise ValueError(f"{name}['{key}'] must hold finite times, got {np.asarray(static)}.")
    return value if tf.is_tensor(value) else static


def check_disjoint(name, step_t, jump_t):
    """A time cannot be both a stop and a jump (as in torchdiffeq); known values only."""
    values = [tf.get_static_value(v) if tf.is_tensor(v) else v for v in (step_t, jump_t)]
    if any(v is None for v in values):
        return
    both = np.intersect1d(*values)
    if both.size:
        raise ValueError(f"{name}['step_t'] and {name}['jump_t'] share the times "
                         f"{both.tolist()}; list each time once (in jump_t if func jumps).")


def check_grid_constructor(name, value):
    """``options['grid_constructor']``: None or callable as ``(func, y0, t) -> grid``."""
    if value is not None and not callable(value):
        raise TypeError(f"{name}['grid_constructor'] must be callable as "
                        f"grid_constructor(func, y0, t) -> grid, got {value!r}.")


def as_tensors(options, dtype):
    """``options`` with its time options as 1-D tensors of ``dtype``."""
    return {**options, **{key: tf.cast(tf.convert_to_tensor(options[key]), dtype)
                          for key in TIME_OPTIONS if options.get(key) is not None}}


def construct(options, func, y0, t, name="options"):
    """``options`` with a ``grid_constructor`` replaced by the grid it builds for ``t``."""
    constructor = options.get("grid_constructor")
    if constructor is None:
        return options
    grid = check_times(name, "grid_constructor(func, y0, t)", constructor(func, y0, t))
    options = {**options, "grid": grid}
    del options["grid_constructor"]
    return as_tensors(options, t.dtype)


def reversed_in_time(options, direction):
    """``options`` for the solve in ``s = t / direction`` (``direction`` is +-1)."""
    return {**options, **{key: tf.cast(direction, options[key].dtype) * options[key]
                          for key in TIME_OPTIONS if options.get(key) is not None}}


def stops(options, dtype):
    """The :class:`Stops` of ``step_t`` and ``jump_t``, or None when there are none."""
    step_t, jump_t = options.get("step_t"), options.get("jump_t")
    if step_t is None and jump_t is None:
        return None
    named = [(v, is_jump) for v, is_jump in ((step_t, False), (jump_t, True)) if v is not None]
    parts = [tf.reshape(tf.cast(v, dtype), [-1]) for v, _ in named]
    flags = [tf.fill(tf.shape(p), is_jump) for p, (_, is_jump) in zip(parts, named)]
    times = tf.concat([*parts, tf.constant([np.inf], dtype)], axis=0)
    order = tf.argsort(times, stable=True)
    return Stops(tf.gather(times, order), tf.gather(tf.concat([*flags, [False]], 0), order))


def clip_at_stop(table, t, t_end):
    """``(min(t_end, next stop after t), whether that is a jump)``; no stops: ``(t_end, None)``."""
    if table is None:
        return t_end, None
    # The first stop after t (a count, not tf.searchsorted: XLA compiles it).
    index = tf.reduce_sum(tf.cast(table.times <= t, tf.int32))
    stop = table.times[index]
    return tf.minimum(t_end, stop), table.is_jump[index] & (stop <= t_end)


def restart_after_jump(func, landed_on_jump, t1, y1, f1):
    """``f1``, or where a step landed on a jump, ``func`` evaluated afresh on the side ahead."""
    return tf.cond(landed_on_jump, lambda: tuple(_one_sided.evaluate(func, t1, y1,
                                                                     _one_sided.ABOVE)),
                   lambda: tuple(f1))


def jumps_passed(table, t_start, t_reached, t_end):
    """Evaluations spent restarting after jumps: those in ``(t_start, t_reached]``, not at
    ``t_end``, the last output time, where the solve stops instead."""
    if table is None:
        return 0
    passed = (table.is_jump & (table.times > t_start) & (table.times <= t_reached)
              & (table.times < t_end))
    return tf.reduce_sum(tf.cast(passed, tf.int32))
