"""``odeint_event``: integrate until an event function crosses zero, differentiably.

Two halves. The *search* (private module ``_event_search``), outside every gradient, steps
the chosen method until ``event_fn`` changes sign and finds the root along the bracketing
step. The *differentiable* half solves again to that time with the caller's own
``odeint_interface``, so the state there carries whichever gradient path the caller chose
(backprop, checkpoint, adjoint), and links the event time in by the implicit function theorem:
``g(t_e, y(t_e)) = 0`` gives

    dt_e = -(dg/dy . dy(t*) + dg/dtheta) / (dg/dt + dg/dy . f)

It does so with one Newton step from the located time ``t*``, whose value is a correction
(the root of ``g`` along the solver's own solution rather than the search's interpolant) and
whose derivative is exactly that formula: ``t_e = t* - g(t*, y(t*)) / stop(dg/dt + dg/dy . f)``,
``y_e = y(t*) + stop(f) (t_e - t*)``.
"""

import inspect
import math

import tensorflow as tf

from ode_keras import _checks, _event_search
from ode_keras.odeint import odeint, prepare


def odeint_event(func, y0, t0, *, event_fn, reverse_time=False, odeint_interface=odeint,
                 **kwargs):
    """Integrate ``dy/dt = func(t, y)`` from ``(t0, y0)`` until ``event_fn(t, y)`` crosses zero.

    The solve runs forwards in time (backwards with ``reverse_time=True``) with the method of
    ``kwargs``, and stops at the first accepted step after which an entry of
    ``event_fn(t, y)`` has changed sign; the event time is the root inside that step (two
    sign changes within one step go unnoticed: bound the step with ``max_step`` if that can
    happen). The event time and the state there are differentiable with respect to ``y0``,
    ``t0``, the variables ``func`` reads and those ``event_fn`` reads (by the implicit
    function theorem; the state's own gradient comes from ``odeint_interface``). Works
    eagerly, inside ``tf.function`` and with ``jit_compile=True``.

    Args:
        func: ``func(t, y) -> dy/dt``, as in :func:`ode_keras.odeint`.
        y0: Initial state: a floating tensor, or a tuple of them.
        t0: The start time, a real scalar (or a 1-element tensor); a variable or a watched
            tensor gets a gradient.
        event_fn: ``event_fn(t, y) -> tensor``, a floating tensor of any shape (``y`` has
            the structure of ``y0``). Each entry is an event function; the first to change
            sign ends the solve. Every entry must be non-zero and finite at ``(t0, y0)``.
        reverse_time: Solve backwards in time from ``t0`` (the event then lies before it).
        odeint_interface: :func:`ode_keras.odeint` (default) or
            :func:`ode_keras.odeint_adjoint`: the function whose gradient path the state at
            the event follows.
        **kwargs: Passed on to ``odeint_interface`` (``method``, ``rtol``, ``atol``,
            ``options``, ``gradient``, ``adjoint_*``); ``method``, ``rtol``, ``atol`` and
            ``options`` also run the search. Fixed-step methods need
            ``options={"step_size": h}``. The search takes at most ``max_num_steps`` steps.

    Returns:
        ``(event_t, solution)``: the event time, a scalar of the state's dtype, and the state
        at ``[t0, event_t]`` with the shape ``[2, *y0.shape]`` (a tuple of them for a tuple
        ``y0``), as ``odeint`` returns it: ``solution[0]`` is ``y0``.

    Raises:
        TypeError, ValueError: For invalid arguments (``event_fn`` not callable, returning
            no floating tensor, zero or non-finite at the start), before any solving.
        ode_keras.failures.SolveError: When no event happens within ``max_num_steps`` steps
            or the solve fails first (inside ``tf.function``: ``InvalidArgumentError``; under
            XLA, which cannot raise, ``event_t`` is NaN).

    Example:
        >>> import tensorflow as tf
        >>> g = tf.Variable(9.81, dtype=tf.float64)
        >>> fall = lambda t, y: (y[1], -g * tf.ones_like(y[1]))   # height, velocity
        >>> y0 = (tf.constant(1.0, tf.float64), tf.constant(0.0, tf.float64))
        >>> with tf.GradientTape() as tape:
        ...     t_hit, (heights, velocities) = odeint_event(
        ...         fall, y0, 0.0, event_fn=lambda t, y: y[0])  # the ground: height 0
        >>> round(float(t_hit), 6)   # sqrt(2 h / g)
        0.451524
        >>> round(float(tape.gradient(t_hit, g)), 6)   # -t / (2 g)
        -0.023013
    """
    _check_arguments(event_fn, reverse_time, odeint_interface, kwargs)
    state, _ = _checks.as_state(y0)
    t0 = _start_time(t0, _checks.control_dtype(state[0].dtype))
    settings = _search_settings(kwargs)
    _check_method(settings)
    problem = prepare(func, y0, tf.stack([t0, tf.stop_gradient(t0) + 1.0 + tf.abs(t0)]),
                      **settings)
    _check_step_size(problem, settings["method"])
    event = _combined_event(event_fn, t0, problem)
    direction = -1.0 if reverse_time else 1.0
    t_star = direction * _locate(problem, event, tf.stop_gradient(t0), direction)
    ys = odeint_interface(func, y0, tf.stack([t0, t_star]), **kwargs)
    ys = tuple(ys) if problem.is_tuple else (ys,)
    event_t, y_event = _through_the_event(problem.func, event, t_star,
                                          tuple(y[-1] for y in ys))
    solution = tuple(tf.stack([y[0], y_e]) for y, y_e in zip(ys, y_event))
    # The search and the Newton step ran in the solver's time dtype; the caller gets the
    # state's, as func sees its times.
    event_t = tf.cast(event_t, problem.y0[0].dtype)
    return event_t, solution if problem.is_tuple else solution[0]


def _check_arguments(event_fn, reverse_time, odeint_interface, kwargs):
    if not callable(event_fn):
        raise TypeError(
            "event_fn must be callable as event_fn(t, y) -> tensor whose entries cross zero at "
            f"the event, got {type(event_fn).__name__}: {event_fn!r}; e.g. "
            "event_fn=lambda t, y: y[..., 0] for the first coordinate reaching 0.")
    if not isinstance(reverse_time, bool):
        raise TypeError(f"reverse_time must be True or False, got {reverse_time!r}.")
    if not callable(odeint_interface):
        raise TypeError(
            "odeint_interface must be ode_keras.odeint or ode_keras.odeint_adjoint (a callable "
            f"odeint_interface(func, y0, t, **kwargs)), got {odeint_interface!r}.")
    if kwargs.get("return_stats"):
        raise ValueError(
            "odeint_event returns (event_t, solution) and takes no return_stats=True; call "
            "odeint(func, y0, [t0, event_t], return_stats=True) for the statistics.")


def _search_settings(kwargs):
    """``method``, ``rtol``, ``atol`` and ``options`` from ``kwargs``, with odeint's defaults."""
    defaults = inspect.signature(odeint).parameters
    return {name: kwargs.get(name, defaults[name].default)
            for name in ("method", "rtol", "atol", "options")}


def _start_time(t0, dtype):
    """``t0`` as a scalar tensor of the times' dtype."""
    t0 = tf.convert_to_tensor(t0)
    if not (t0.dtype.is_floating or t0.dtype.is_integer):
        raise TypeError(f"t0 must be a real number (the start time), got dtype {t0.dtype.name}.")
    if t0.shape.num_elements() != 1:
        raise ValueError(
            f"t0 must be a scalar start time (or a tensor of one element), got shape {t0.shape}; "
            "odeint_event starts from one time and returns the event time.")
    value = tf.get_static_value(t0)
    if value is not None and not math.isfinite(float(value.reshape(-1)[0])):
        raise ValueError(f"t0 must be finite, got t0={value.reshape(-1)[0]}.")
    return tf.cast(tf.reshape(t0, []), dtype)


def _check_method(settings):
    if settings["method"] == "scipy_solver":
        raise ValueError(
            "odeint_event steps a method of ode_keras to find the event; method='scipy_solver' "
            "has no steps to watch. Use e.g. method='dopri5'.")
    options = settings["options"]
    if isinstance(options, dict) and options.get("grid") is not None:
        raise ValueError(
            "odeint_event needs options['step_size'] for a fixed-step method, not a grid: the "
            "search steps until the event, wherever it lies; e.g. options={'step_size': 0.01}.")


def _check_step_size(problem, method):
    """A fixed-step method must have a step size: without one it would step on the output
    times, and the search has none to step on."""
    if "step_size" in problem.solver.option_names and problem.options.get("step_size") is None:
        raise ValueError(
            f"odeint_event needs options['step_size'] for the fixed-step method {method!r}: "
            "the search steps until the event, wherever it lies; e.g. "
            "options={'step_size': 0.01}, or use an adaptive method such as 'dopri5'.")


def _combined_event(event_fn, t0, problem):
    """``g(t, y)`` on tuple states: the smallest entry of ``event_fn`` times its sign at t0.

    ``g`` is positive at the start and reaches zero when the first entry changes sign.
    """
    state_dtype = problem.y0[0].dtype

    def entries(t, y):
        # t in the state's dtype and y in the caller's structure, as func gets them.
        return event_fn(tf.cast(t, state_dtype), tuple(y) if problem.is_tuple else y[0])

    start = _check_event_value(entries(t0, problem.y0), t0.dtype)
    signs = tf.stop_gradient(tf.sign(start))

    def event(t, y):
        return tf.reduce_min(tf.cast(entries(t, y), t0.dtype) * signs)

    return event


def _check_event_value(value, dtype):
    """``event_fn(t0, y0)``: a floating tensor, every entry non-zero and finite; cast to dtype."""
    received = f"got {type(value).__name__}: {value!r}"
    try:
        value = None if value is None else tf.convert_to_tensor(value)
    except (TypeError, ValueError):
        value = None
    if value is None:
        raise TypeError(
            "event_fn(t, y) must return a floating tensor (one entry per event function), "
            f"{received}. Did event_fn forget a `return`?")
    if not value.dtype.is_floating:
        raise TypeError(
            f"event_fn(t, y) must return a floating tensor, got dtype {value.dtype.name}: the "
            "event is where it crosses zero, e.g. y[0] - 1.0 rather than y[0] > 1.0.")
    if value.shape.num_elements() == 0:
        raise ValueError(f"event_fn(t, y) returned an empty tensor (shape {value.shape}); it "
                         "must hold at least one event function.")
    value = tf.cast(value, dtype)
    usable = tf.reduce_all(tf.math.is_finite(value) & tf.not_equal(value, 0.0))
    message = ("event_fn(t0, y0) must be non-zero and finite in every entry: the event is a "
               "change of sign from the start. A zero means the start lies on the event "
               "surface (after a bounce, say): move the state off it, e.g. y + 1e-7, or start "
               "later. Got event_fn(t0, y0) =")
    if tf.executing_eagerly():
        if not bool(usable):
            raise ValueError(f"{message} {value.numpy().tolist()}.")
    else:
        tf.debugging.Assert(usable, [message, value])
    return value


def _locate(problem, event, t0, direction):
    """The event time in forward time ``s = direction * t``, found outside any gradient."""
    func, f0 = problem.func, problem.f0
    if direction < 0:
        func = lambda s, y: tuple(-v for v in problem.func(-s, y))  # noqa: E731
        f0 = tuple(-v for v in f0)
    options = problem.options
    stepper = problem.solver.stepper(func, rtol=problem.rtol, atol=problem.atol,
                                     options=options)
    s0 = direction * t0
    if options.get("step_size") is not None:
        # Fixed steps of step_size, max_num_steps of them: the furthest the search may go
        # (a little less, so that rounding the step size, in float32 say, cannot count one
        # step over the budget and have the driver refuse the whole search up front).
        horizon = s0 + options["step_size"] * options["max_num_steps"] * (1.0 - 1e-6)
    else:
        horizon = tf.constant(float("inf"), s0.dtype)
    s_event, bracket = _event_search.locate(stepper, func, s0, horizon, problem.y0, f0,
                                            lambda s, y: event(direction * s, y))
    _event_search.check_found(bracket, t0, direction, options["max_num_steps"])
    return s_event


def _through_the_event(func, event, t_star, y_star):
    """One Newton step from ``t*`` on ``g(t, y(t)) = 0``: the event time and state, linked.

    Its value refines ``t*`` with the solver's solution; its derivative is the implicit
    function theorem's ``dt_e = -(dg/dy . dy + dg/dtheta) / (dg/dt + dg/dy . f)``.
    """
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(t_star)
        tape.watch(y_star)
        g = event(t_star, y_star)
    dg_dt, dg_dy = tape.gradient(g, (t_star, y_star),
                                 unconnected_gradients=tf.UnconnectedGradients.ZERO)
    f = tuple(tf.stop_gradient(v) for v in func(t_star, y_star))
    # The rate of g along the solution; zero for an event touched without crossing.
    rate = dg_dt + sum(tf.cast(tf.reduce_sum(a * b), t_star.dtype) for a, b in zip(dg_dy, f))
    event_t = t_star - g / tf.stop_gradient(rate)
    shift = event_t - t_star
    return event_t, tuple(y + v * tf.cast(shift, y.dtype) for y, v in zip(y_star, f))
