"""``odeint``: solve an initial value problem, differentiably, at given output times."""

import dataclasses
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from ode_keras import _checkpoint, _checks, _grid, _one_sided, _step_callbacks, failures
from ode_keras.solvers import get_solver

GRADIENTS = ("backprop", "checkpoint", "adjoint")
"""The ways :func:`odeint` can be differentiated (its ``gradient`` argument)."""


def odeint(func, y0, t, *, method="dopri5", rtol=1e-7, atol=1e-9, options=None,
           return_stats=False, gradient="backprop"):
    """Integrate ``dy/dt = func(t, y)`` from ``y(t[0]) = y0`` and return ``y`` at every ``t``.

    Gradients with ``tf.GradientTape`` reach ``y0``, the variables ``func``
    reads and every entry of ``t``, in one of three ways (``gradient``):

    - ``"backprop"`` (default): through the solver's operations, the exact
      gradient of the computed solution ("discretise-then-optimise"); memory
      grows with the number of steps, and under XLA with ``max_num_steps``.
    - ``"checkpoint"``: the same gradient (to round-off), in bounded memory:
      the forward solve keeps the state at about ``sqrt(max_num_steps)``
      checkpoints and the backward pass re-runs the steps between them. The
      choice for long solves and for XLA, where it costs nothing for an
      unused step budget.
    - ``"adjoint"``: :func:`odeint_adjoint` with its defaults: constant memory,
      gradients exact only to the solver tolerance.

    Works eagerly, inside ``tf.function`` and with ``jit_compile=True``.

    Args:
        func: Callable ``func(t, y) -> dy/dt`` with ``t`` a scalar tensor and
            ``dy/dt`` of the structure, shape and dtype of ``y``. A Keras layer
            or model whose ``call`` takes ``(t, y)`` works. A ``perturb``
            parameter, if declared, tells ``func`` which side of a jump in time
            to take (:class:`ode_keras.perturb.Perturb`). Callables under the
            names ``callback_step``, ``callback_accept_step`` and
            ``callback_reject_step`` on ``func`` are called with ``(t0, y0, dt)``
            at each step. Inside ``tf.function`` a callback runs once, when
            traced: its TensorFlow ops (``variable.assign_add(1)``,
            ``tf.print``) run at every step, its Python side effects do not.
        y0: Initial state: a floating tensor of any shape, or a tuple of them
            (then ``ys`` is a tuple too).
        t: 1-D tensor of output times, strictly increasing or strictly
            decreasing (integration backwards in time); a single time gives
            ``ys = [y0]`` without solving. The solver
            keeps times in float64 whatever the state's dtype; ``func`` sees
            ``t`` in the state's dtype, and ``t``'s gradient has ``t``'s dtype.
        method: A name from :data:`ode_keras.SOLVERS`. Defaults to ``"dopri5"``.
        rtol: Relative tolerance of the adaptive methods. Defaults to 1e-7.
        atol: Absolute tolerance of the adaptive methods. Defaults to 1e-9.
        options: Method options. Fixed-step methods take at most one of
            ``step_size``, ``grid`` (step points) and ``grid_constructor``
            (``(func, y0, t) -> grid``), and without any step from output time
            to output time; ``perturb=True`` makes each step see ``func`` on its
            own side of its ends. Adaptive methods accept ``first_step``,
            ``min_step``, ``max_step``, ``norm``, ``step_t`` (times the steps
            stop at) and ``jump_t`` (times ``func`` jumps: steps stop there and
            restart on the far side). All accept ``max_num_steps`` (default
            4096). Under XLA, differentiating
            through the solver allocates buffers for ``max_num_steps`` steps:
            pass a realistic budget, or use ``gradient="checkpoint"``.
        return_stats: Also return solver statistics.
        gradient: ``"backprop"``, ``"checkpoint"`` or ``"adjoint"`` (see above).

    Returns:
        ``ys`` with shape ``[len(t), *y0.shape]`` (``ys[0]`` is ``y0``), or a
        tuple of such tensors for a tuple ``y0``. With ``return_stats=True``,
        ``(ys, stats)`` where ``stats`` holds int32 tensors ``nfe``,
        ``num_steps``, ``num_accepted``, ``num_rejected`` and ``status``
        (0 = success, see :mod:`ode_keras.failures`); adaptive methods add
        ``next_step``, the step size the controller would try next.

    Raises:
        TypeError, ValueError: For invalid arguments, before any solving.
        ode_keras.failures.SolveError: When the solve fails eagerly (more than
            ``max_num_steps`` steps, step size underflow, non-finite values);
            the message, one paragraph, names the cause and the time reached.
            It subclasses ``tf.errors.InvalidArgumentError``, which is what a
            failure inside ``tf.function`` raises, with the same message. Under
            XLA the unreached outputs are NaN instead.

    Example:
        >>> import tensorflow as tf
        >>> ys = odeint(lambda t, y: -y, tf.constant([1.0]), tf.constant([0.0, 1.0]))
        >>> round(float(ys[-1, 0]), 5)  # exp(-1)
        0.36788
    """
    _checks.check_choice("gradient", gradient, GRADIENTS)
    if gradient == "adjoint":
        from ode_keras.adjoint import odeint_adjoint  # adjoint.py builds on this module

        return odeint_adjoint(func, y0, t, method=method, rtol=rtol, atol=atol, options=options,
                              return_stats=return_stats)
    settings = dict(method=method, rtol=rtol, atol=atol, options=options)
    if gradient == "checkpoint":
        problem, params = prepare_and_list_reads(func, y0, t, **settings)
    else:
        problem, params = prepare(func, y0, t, **settings), None
    ys, stats = solve(problem, params)
    ys = ys if problem.is_tuple else ys[0]
    return (ys, stats) if return_stats else ys


@dataclasses.dataclass(frozen=True)
class Problem:
    """A checked initial value problem, in the tuple form the solvers use.

    Frozen: derive a variant with ``dataclasses.replace(problem, y0=...)``.

    Attributes:
        func: ``func(t, y)`` on tuple states, returning a tuple.
        y0: Initial state as a tuple of tensors.
        f0: ``func(t[0], y0)``, evaluated once by the checks and reused.
        t: The output times (1-D tensor, float64: see ``_checks.control_dtype``).
        direction: +1 or -1 (or a scalar tensor when ``t`` is symbolic).
        is_tuple: Whether the user's state is a tuple.
        solver: The checked method's solver.
        rtol, atol: The tolerances (numbers, or scalar tensors).
        options: The solver's options, complete with defaults.
        backward_interval: For a backward solve of the adjoint, the pair of output
            times it integrates between (named if it fails); else None.
    """

    func: Callable
    y0: tuple
    f0: tuple
    t: Any
    direction: Any
    is_tuple: bool
    solver: Any
    rtol: Any
    atol: Any
    options: dict
    backward_interval: Any = None


def prepare(func, y0, t, *, method, rtol, atol, options):
    """Check every argument once and return the :class:`Problem` to solve."""
    _checks.check_func(func)
    y0, is_tuple = _checks.as_state(y0)
    state_dtype = y0[0].dtype
    # The state keeps its dtype; times and step control run in float64 (see control_dtype).
    t, direction = _checks.as_times(t, _checks.control_dtype(state_dtype))
    solver = get_solver(method, "method")
    options = _checks.check_options(method, solver, options)
    options = _grid.construct(_grid.as_tensors(options, t.dtype), func,
                              y0 if is_tuple else y0[0], t)
    rtol, atol = _checks.check_tolerance("rtol", rtol), _checks.check_tolerance("atol", atol)
    accepts_perturb = _one_sided.accepts_perturb(func)

    @_one_sided.takes_side
    def tuple_func(time, state, side=0):
        time = tf.cast(time, state_dtype)  # the solver's float64 time, in the state's dtype
        value = _one_sided.call_user(func, accepts_perturb, time,
                                     tuple(state) if is_tuple else state[0], side)
        return tuple(value) if is_tuple else (value,)

    _step_callbacks.attach(
        tuple_func, _step_callbacks.from_func(func).mapped(
            state=None if is_tuple else lambda state: state[0]),
        adjoint=_step_callbacks.from_func(func, _step_callbacks.ADJOINT_SUFFIX))
    f0 = _checks.check_derivative(func(tf.cast(t[0], state_dtype), y0 if is_tuple else y0[0]),
                                  y0, is_tuple)
    return Problem(func=tuple_func, y0=y0, f0=f0, t=t, direction=direction, is_tuple=is_tuple,
                   solver=solver, rtol=rtol, atol=atol, options=options)


def prepare_and_list_reads(func, y0, t, **settings):
    """:func:`prepare`, and the trainable variables ``func`` read while it was checked.

    The boundary check evaluates ``func`` once; a tape around it lists what it reads, the
    parameters of the gradient paths that take them explicitly (adjoint, checkpoint).
    """
    with tf.GradientTape() as reads:
        problem = prepare(func, y0, t, **settings)
    return problem, reads.watched_variables()


def solve(problem, checkpointed_params=None):
    """Solve a checked problem; returns ``(ys, stats)`` with ``ys`` a tuple.

    Decreasing times are solved as increasing ones in ``s = -t``, where the
    state obeys ``dy/ds = -func(-s, y)``. A failed solve raises here.
    With ``checkpointed_params`` (the variables ``func`` reads, possibly none),
    the solve's gradient is the checkpointed one.
    """
    if problem.t.shape[0] == 1:  # one time: ys is [y0], nothing to solve
        return tuple(y[None] for y in problem.y0), _no_stats()
    func, f0, t, direction = problem.func, problem.f0, problem.t, problem.direction
    options = problem.options
    if not (isinstance(direction, int) and direction == 1):
        user_func = func

        def flip(values):  # a symbolic direction is in the times' dtype, float64
            return tuple(tf.cast(direction, v.dtype) * v for v in values)

        @_one_sided.takes_side
        def func(s, y, side=0):
            return flip(_one_sided.evaluate(user_func, direction * s, y,
                                            _one_sided.flip(side, direction)))

        _step_callbacks.attach(
            func, _step_callbacks.reversed_in_time(_step_callbacks.of(user_func), direction))
        f0 = flip(f0)
        t = direction * t
        options = _grid.reversed_in_time(options, direction)
    if checkpointed_params is None:
        ys, s_reached, stats = problem.solver.integrate(
            func, problem.y0, f0, t, rtol=problem.rtol, atol=problem.atol, options=options)
    else:
        stepper = problem.solver.stepper(func, rtol=problem.rtol, atol=problem.atol,
                                         options=options)
        ys, s_reached, stats = _checkpoint.integrate(stepper, problem.y0, f0, t,
                                                     checkpointed_params)
    status = _loss_scale_overflow_passes(problem, stats["status"])
    failures.check(status, direction * s_reached,
                   max_num_steps=options["max_num_steps"], t_end=problem.t[-1], stats=stats,
                   backward=problem.backward_interval)
    return ys, stats


def _loss_scale_overflow_passes(problem, status):
    """``status`` with the failures a half-precision adjoint meets from overflow made OK.

    A half-precision adjoint overflows when a loss scale is too high: the gradients come out
    non-finite (the outputs it did not reach are NaN), and a LossScaleOptimizer skips the
    step and lowers the scale. An implicit method meets it as well as a Jacobian that
    overflows, or as Newton iterations stalling on float16's round-off near its range (at
    a scale of 2**10 on a small Dense field, not at 1). Any other solve keeps its status.
    """
    if problem.backward_interval is None or problem.y0[0].dtype not in (tf.float16,
                                                                         tf.bfloat16):
        return status
    overflow = (tf.equal(status, failures.NON_FINITE)
                | tf.equal(status, failures.NON_FINITE_JACOBIAN)
                | tf.equal(status, failures.NEWTON_FAILURE))
    return tf.where(overflow, failures.OK, status)


def _no_stats():
    """The statistics of a solve that takes no step."""
    zero = tf.constant(0, tf.int32)
    return {"nfe": zero, "num_steps": zero, "num_accepted": zero, "num_rejected": zero,
            "status": tf.constant(failures.OK, tf.int32)}
