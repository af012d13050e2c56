"""``method="scipy_solver"``: SciPy's ``solve_ivp`` behind ``odeint``, for eager use only.

As torchdiffeq's ``scipy_solver``: the state is flattened into one float64 vector,
``solve_ivp`` integrates it (``options["solver"]``: ``"LSODA"`` by default, or
``"RK45"``, ``"RK23"``, ``"DOP853"``, ``"Radau"``, ``"BDF"``) with ``rtol`` and
``atol``, and the outputs are cast back to the state's dtype. Every evaluation of
``func`` goes through NumPy, so it cannot run in ``tf.function`` or under XLA
(refused there with a ``ValueError``). Its own result is not differentiable:
asking a ``GradientTape`` for a gradient through it raises, rather than silently
returning ``None``, and ``gradient="checkpoint"`` is refused. ``odeint_adjoint``
(or ``gradient="adjoint"``) does differentiate it, eagerly: the adjoint's backward
solve is a SciPy solve too.
"""

import numpy as np
import tensorflow as tf

from ode_keras import failures

SCIPY_SOLVERS = ("BDF", "DOP853", "LSODA", "RK23", "RK45", "Radau")
"""The ``solve_ivp`` methods ``options["solver"]`` may name."""

NOT_DIFFERENTIABLE = (
    "method='scipy_solver' is not differentiable: SciPy integrates outside TensorFlow, so no "
    "gradient reaches y0, t or the variables func reads. Use a method of ode_keras (e.g. "
    "'dopri5') to differentiate through the solver, odeint_adjoint (or gradient='adjoint'), "
    "which differentiates scipy_solver eagerly by a backward SciPy solve, or compute the "
    "scipy_solver result outside the GradientTape (or for targets that do not depend on it)."
)


class ScipySolver:
    """Runs ``scipy.integrate.solve_ivp`` on the flattened state (eager only).

    Options: ``solver`` (a ``solve_ivp`` method name, default ``"LSODA"``),
    ``first_step``, ``min_step`` (LSODA only), ``max_step``, and ``max_num_steps``
    (accepted for uniformity; SciPy has no step budget).
    """

    option_names = ("solver", "first_step", "min_step", "max_step", "max_num_steps")
    order = None
    """SciPy's methods vary their order (LSODA, BDF): none is stated."""

    def check_options(self, options, name, method):
        """Refuse graph mode and check ``options``; returns them with defaults filled in."""
        del method  # always "scipy_solver"
        if not tf.executing_eagerly():
            raise ValueError(
                "method='scipy_solver' runs SciPy's solve_ivp on NumPy arrays and works only "
                "eagerly: it cannot run inside tf.function, Keras fit/predict (unless "
                "run_eagerly=True) or under XLA. Use an ode_keras method such as 'dopri5' "
                "there, or call odeint outside tf.function.")
        full = {"solver": "LSODA", **options}
        if full["solver"] not in SCIPY_SOLVERS:
            raise ValueError(
                f"{name}['solver'] must be one of {list(SCIPY_SOLVERS)} (a method of "
                f"scipy.integrate.solve_ivp), got {full['solver']!r}.")
        for key in ("first_step", "min_step", "max_step"):
            value = full.get(key)
            if value is not None and not (isinstance(value, (int, float, np.floating))
                                          and not isinstance(value, bool) and value >= 0):
                raise ValueError(f"{name}['{key}'] must be a non-negative number, got "
                                 f"{value!r}.")
        return full

    def integrate(self, func, y0, f0, t, *, rtol, atol, options):
        """Solve on increasing times ``t``; returns ``(ys, t_reached, stats)``."""
        del f0  # solve_ivp evaluates its own first derivative
        from scipy.integrate import solve_ivp  # SciPy is needed only by this method

        shapes = [tuple(part.shape) for part in y0]
        sizes = [int(np.prod(shape)) for shape in shapes]
        dtype, time_dtype = y0[0].dtype, t.dtype
        times = t.numpy().astype(np.float64)
        with tf.GradientTape(persistent=True) as reads:

            def flat_func(s, flat):
                parts = np.split(flat, np.cumsum(sizes)[:-1])
                state = tuple(tf.constant(p.reshape(shape), part.dtype)
                              for p, shape, part in zip(parts, shapes, y0))
                value = func(tf.constant(s, time_dtype), state)
                return np.concatenate([np.asarray(v, np.float64).ravel() for v in value])

            kwargs = {key: options[key] for key in ("first_step", "min_step", "max_step")
                      if options.get(key) is not None}
            y0_flat = np.concatenate([np.asarray(p, np.float64).ravel() for p in y0])
            result = solve_ivp(flat_func, (times[0], times[-1]), y0_flat,
                               method=options["solver"], t_eval=times, rtol=float(rtol),
                               atol=float(atol), dense_output=True, **kwargs)
        if not result.success:
            reached = result.t[-1] if result.t.size else times[0]
            raise failures.SolveError(
                f"scipy_solver ({options['solver']}) failed before t = {times[-1]} "
                f"(s = {reached} in the solver's increasing time): {result.message}",
                status=failures.NON_FINITE)
        flat = result.y.T  # [len(t), size]
        flat[0] = y0_flat
        parts = np.split(flat, np.cumsum(sizes)[:-1], axis=1)
        ys = tuple(tf.constant(p.reshape((len(times), *shape)), dtype)
                   for p, shape in zip(parts, shapes))
        variables = [v for v in reads.watched_variables() if v.dtype.is_floating]
        ys = _not_differentiable(ys, (*y0, t), variables)
        stats = {"nfe": result.nfev, "num_steps": len(result.sol.ts) - 1, "njev": result.njev,
                 "nlu": result.nlu, "status": failures.OK}
        stats = {key: tf.constant(value, tf.int32) for key, value in stats.items()}
        return ys, t[-1], stats

    def stepper(self, func, *, rtol, atol, options):
        """Refused: the checkpointed gradient replays steps SciPy does not expose."""
        raise ValueError(NOT_DIFFERENTIABLE)


def _not_differentiable(ys, inputs, variables):
    """``ys``, tied to ``inputs`` and ``variables`` by a gradient that raises."""

    @tf.custom_gradient
    def tie(*args):
        for variable in variables:
            variable.read_value()  # makes the variables inputs of this op

        def grad(*cotangents, variables=None):
            raise ValueError(NOT_DIFFERENTIABLE)

        return tuple(tf.identity(y) for y in args[:len(ys)]), grad

    return tie(*ys, *inputs)
