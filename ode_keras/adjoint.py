"""``odeint_adjoint``: gradients by the adjoint sensitivity method, in constant memory.

Chen et al. (2018), Appendix B. The forward solve records nothing for autodiff.
The backward pass integrates the augmented state

    [z, a_z, a_theta, a_t],   dz/dt = f(t, z),        da_z/dt = -a_z . df/dz,
                              da_theta/dt = -a_z . df/dtheta,   da_t/dt = -a_z . df/dt

from ``t[-1]`` back to ``t[0]``, one output interval at a time. At each output
time ``t_i`` it adds the incoming gradient ``dL/dz(t_i)`` to ``a_z``, records
``dL/dt_i = dL/dz(t_i) . f(t_i, z(t_i))`` and resets ``z`` to the value stored
by the forward solve (which keeps the backward error from compounding). The
vector-Jacobian products come from one ``tf.GradientTape`` inside the augmented
dynamics.
"""

import collections
import dataclasses

import tensorflow as tf

from ode_keras import _checks, _grid, _one_sided, _step_callbacks, _stepping
from ode_keras._fixed import FixedStepSolver
from ode_keras._keras_private import backend_variable
from ode_keras._state import accumulation_dtype, mixed_rms_norm
from ode_keras.odeint import Problem, prepare_and_list_reads, solve
from ode_keras.solvers import get_solver


def odeint_adjoint(func, y0, t, *, method="dopri5", rtol=1e-7, atol=1e-9, options=None,
                   adjoint_params=None, adjoint_method=None, adjoint_rtol=None,
                   adjoint_atol=None, adjoint_options=None, return_stats=False,
                   counter=None):
    """Like :func:`odeint`, with gradients from the adjoint method in constant memory.

    The forward pass keeps only the outputs ``ys``; the backward pass solves
    the augmented system ``[z, a_z, a_theta, a_t]`` backwards in time, so memory
    does not grow with the number of steps. Gradients reach ``y0``, the
    parameters and every entry of ``t``. They are exact only up to the
    tolerances of the two solves: expect differences of order ``rtol`` from
    :func:`odeint`'s gradients, which differentiate the forward solver itself.

    ``func`` is also evaluated where Keras cannot see the caller's ``training``
    flag (inside ``tape.gradient``, and eagerly on a worker thread): when it
    holds Dropout or BatchNormalization, pass the flag explicitly, e.g.
    ``lambda t, y: layer(t, y, training=True)`` (``ODEBlock`` does this).

    Args:
        func, y0, t, method, rtol, atol, options, return_stats: As in :func:`odeint`.
        adjoint_params: The variables to differentiate. Defaults to the
            trainable variables of ``func`` when it is a Keras layer or model or
            a ``tf.Module``, else every trainable variable ``func`` reads.
            Variables ``func`` reads that are not listed get no gradient.
        adjoint_method: Method of the backward solve. Defaults to ``method``.
        adjoint_rtol: Relative tolerance of the backward solve. Defaults to ``rtol``.
        adjoint_atol: Absolute tolerance of the backward solve. Defaults to ``atol``.
        adjoint_options: Options of the backward solve; defaults to ``options``
            when the methods agree. ``jump_t`` defaults to the forward one for
            an adaptive ``adjoint_method``; a ``grid_constructor`` is called
            per interval with the augmented dynamics, the augmented state and
            ``[t_i, t_{i-1}]``. The backward solve calls ``func``'s
            ``callback_step_adjoint``, ``callback_accept_step_adjoint`` and
            ``callback_reject_step_adjoint``, with ``y0`` the augmented state
            ``(z, a_z, a_theta, a_t)``. ``{"norm": "seminorm"}`` leaves the
            parameter and time adjoints out of the error norm (Kidger, Chen &
            Lyons 2021), which usually saves backward steps.
        counter: Optional :class:`ode_keras.stats.SolverCounter` that adds the
            forward and backward statistics of every call to running totals.

    Returns:
        As :func:`odeint`.

    Raises:
        TypeError, ValueError: For invalid arguments, before any solving.
        tf.errors.InvalidArgumentError: When the forward or backward solve fails.

    Example:
        >>> import tensorflow as tf
        >>> k = tf.Variable(0.5)
        >>> y0 = tf.constant([1.0])
        >>> with tf.GradientTape() as tape:
        ...     ys = odeint_adjoint(lambda t, y: -k * y, y0, tf.constant([0.0, 2.0]))
        ...     y_end = ys[-1, 0]  # exp(-2k)
        >>> round(float(tape.gradient(y_end, k)), 4)  # d/dk exp(-2k) = -2 exp(-1)
        -0.7358
    """
    problem, variables_read = prepare_and_list_reads(func, y0, t, method=method, rtol=rtol,
                                                     atol=atol, options=options)
    backward = _backward_problem_settings(problem, method, options, adjoint_method,
                                          adjoint_rtol, adjoint_atol, adjoint_options)
    params = _params(func, adjoint_params, variables_read, problem.y0[0].dtype)
    _check_counter(counter)
    num_state = len(problem.y0)
    captured = {}

    # The parameters are explicit inputs, so their gradients need no variable tracking.
    @tf.custom_gradient
    def solve_with_adjoint(*inputs):
        forward = dataclasses.replace(problem, y0=inputs[:num_state], t=inputs[num_state])
        ys, stats = _stepping.run_unrecorded(lambda: solve(forward))
        captured["stats"] = stats

        def grad(*grad_ys, variables=None):
            grads_y0, grad_t, grads_params = _backward_pass(
                forward, ys, grad_ys, params, backward, counter)
            # Variables func read in the forward pass get theirs through `params`.
            return (*grads_y0, grad_t, *grads_params), [None] * len(variables or ())

        return ys, grad

    ys = solve_with_adjoint(*problem.y0, problem.t, *params)
    if counter is not None:
        counter.record_forward(captured["stats"])
    ys = tuple(ys) if problem.is_tuple else ys[0]
    return (ys, captured["stats"]) if return_stats else ys


# ---------------------------------------------------------------------------
#  Settings of the backward solve, checked with the forward ones
# ---------------------------------------------------------------------------

def _backward_problem_settings(problem, method, options, adjoint_method, adjoint_rtol,
                               adjoint_atol, adjoint_options):
    if adjoint_method is None:
        method, solver = method, problem.solver
    else:
        method, solver = adjoint_method, get_solver(adjoint_method, "adjoint_method")
    if adjoint_options is None:
        adjoint_options = dict(options or {}) if solver is problem.solver else {}
    if not isinstance(adjoint_options, dict):
        raise TypeError(
            f"adjoint_options must be a dict or None, got {type(adjoint_options).__name__}.")
    adjoint_options = dict(adjoint_options)
    seminorm = adjoint_options.get("norm") == "seminorm"
    if seminorm:
        if "norm" not in solver.option_names:
            raise ValueError(
                f"adjoint_options['norm'] = 'seminorm' needs an adaptive adjoint_method, got "
                f"{method!r}; use e.g. adjoint_method='dopri5'.")
        del adjoint_options["norm"]
    adjoint_options = _checks.check_options(method, solver, adjoint_options, "adjoint_options")
    if adjoint_options.get("jump_t") is None and "jump_t" in solver.option_names:
        # func jumps at the same times on the way back (the default options carry them).
        adjoint_options["jump_t"] = problem.options.get("jump_t")
        _grid.check_disjoint("adjoint_options", adjoint_options["step_t"],
                             adjoint_options["jump_t"])
    adjoint_options = _grid.as_tensors(adjoint_options, problem.t.dtype)
    if seminorm:
        adjoint_options["norm"] = _seminorm(len(problem.y0))
    rtol = problem.rtol if adjoint_rtol is None else _checks.check_tolerance(
        "adjoint_rtol", adjoint_rtol)
    atol = problem.atol if adjoint_atol is None else _checks.check_tolerance(
        "adjoint_atol", adjoint_atol)
    return {"solver": solver, "rtol": rtol, "atol": atol, "options": adjoint_options}


def _params(func, adjoint_params, variables_read, state_dtype):
    if adjoint_params is None:
        is_module = isinstance(func, tf.Module) or hasattr(func, "trainable_variables")
        adjoint_params = func.trainable_variables if is_module else variables_read
        # Only floating variables are parameters: an integer one (an evaluation counter,
        # trainable by default in TensorFlow) gets no gradient, as with odeint.
        adjoint_params = [v for v in adjoint_params
                          if tf.as_dtype(backend_variable(v).dtype).is_floating]
    elif not isinstance(adjoint_params, (list, tuple)):
        raise TypeError(
            "adjoint_params must be a list or tuple of variables, got "
            f"{type(adjoint_params).__name__}: {adjoint_params!r}; for one variable k pass "
            "adjoint_params=[k].")
    params = []
    for variable in map(backend_variable, adjoint_params):
        _check_param_dtype(variable, state_dtype)
        if not any(variable is p for p in params):
            params.append(variable)
    return params


def _check_param_dtype(variable, state_dtype):
    """A parameter adjoint is integrated with the state: it needs the state's float dtype
    (or float32, the variables' dtype under mixed precision, for a half-precision state)."""
    allowed = {state_dtype, accumulation_dtype(state_dtype)}
    if variable.dtype not in allowed:
        raise TypeError(
            f"adjoint_params holds the variable {variable.name!r} of dtype "
            f"{variable.dtype.name}, but the state y0 is {state_dtype.name}: the adjoint "
            f"integrates dL/dparam with the state, so each variable must be "
            f"{' or '.join(sorted(d.name for d in allowed))}. Leave integer variables out "
            "of adjoint_params (they get no gradient), or cast y0 and the variables to one "
            "dtype.")


def _check_counter(counter):
    if counter is not None and not all(
            callable(getattr(counter, name, None))
            for name in ("record_forward", "record_backward")):
        raise TypeError(
            "counter must be an ode_keras.stats.SolverCounter (anything with "
            "record_forward(stats) and record_backward(stats)) or None, got "
            f"{type(counter).__name__}: {counter!r}.")


# ---------------------------------------------------------------------------
#  The backward pass
# ---------------------------------------------------------------------------

class _Augmented(collections.namedtuple("_Augmented", "z a_z a_theta a_t")):
    """The augmented state ``[z, a_z, a_theta, a_t]``: tuples of tensors and a scalar.

    The solvers step flat tuples of tensors; :meth:`flat` and :meth:`unflat` are the
    one place that lays the named parts out in a row and reads them back.
    """

    __slots__ = ()

    def flat(self):
        return (*self.z, *self.a_z, *self.a_theta, self.a_t)

    @classmethod
    def unflat(cls, values, num_state):
        values = tuple(values)
        return cls(values[:num_state], values[num_state:2 * num_state],
                   values[2 * num_state:-1], values[-1])


# The backward loop's carry: the adjoints at output time t_i and the running totals.
_Carry = collections.namedtuple(
    "_Carry", "i a_z a_theta a_t time_grads nfe num_steps step_size")


def _backward_pass(forward, ys, grad_ys, params, backward, counter):
    """Integrate the augmented state from t[-1] to t[0]; returns the gradients."""
    t = forward.t
    num_times = t.shape[0]
    grad_ys = tuple(tf.zeros_like(y) if g is None else g for y, g in zip(ys, grad_ys))
    interval = _Interval(forward, ys, grad_ys, params, backward)
    # dL/dt in the state's dtype (float32 for half precision): as a float64 part of the
    # augmented state it would make the whole step-error norm float64.
    a_t_dtype = accumulation_dtype(ys[0].dtype)
    start = _Carry(i=num_times - 1, a_z=tuple(g[-1] for g in grad_ys),
                   a_theta=tuple(tf.zeros_like(p) for p in params), a_t=tf.zeros([], a_t_dtype),
                   time_grads=tf.TensorArray(a_t_dtype, size=num_times), nfe=0, num_steps=0,
                   # No step to carry yet: the first interval selects one.
                   step_size=tf.zeros([], t.dtype))
    (end,) = tf.while_loop(lambda c: c.i > 0, lambda c: (interval(c),), (start,),
                           maximum_iterations=num_times - 1)
    if counter is not None:
        counter.record_backward({"nfe": end.nfe, "num_steps": end.num_steps})
    grad_t = tf.cast(end.time_grads.write(0, end.a_t).stack(), t.dtype)
    return end.a_z, grad_t, end.a_theta


class _Interval:
    """One backward interval: from output time ``t_i`` back to ``t_{i-1}``."""

    def __init__(self, forward, ys, grad_ys, params, backward):
        self.t, self.direction, self.ys, self.grad_ys = forward.t, forward.direction, ys, grad_ys
        self.num_state, self.is_tuple = len(ys), forward.is_tuple
        # The user's callback_step_adjoint etc. see the augmented state, named.
        self.dynamics = _step_callbacks.attach(
            _augmented_dynamics(forward.func, self.num_state, params),
            _step_callbacks.adjoint_of(forward.func).mapped(state=self.named))
        self.backward = backward
        # Each backward solve is handed the derivative evaluated at t_i, and counts it in its
        # nfe, except the fixed-step Runge-Kutta solvers, which evaluate their own first stage.
        solver = backward["solver"]
        self.extra_evaluations = 1 if isinstance(solver, FixedStepSolver) else 0
        # Each interval starts from the step the previous one proposed (the first selects
        # its own): re-selecting per interval, as torchdiffeq does, costs an evaluation and,
        # on short intervals, a needlessly small first step. A first_step the user set is
        # kept throughout.
        self.carry_step = (isinstance(solver, _stepping.TableauSolver) and solver.carries_step
                           and backward["options"]["first_step"] is None)

    def __call__(self, c):
        # At output time t_i: the forward state, and dL/dt_i from the output's sensitivity.
        state = _Augmented(tuple(y[c.i] for y in self.ys), c.a_z, c.a_theta, c.a_t)
        # func below t_i (in the direction of the forward solve), the side the backward
        # solve integrates over, in case func jumps at an output time.
        derivative = self.dynamics(self.t[c.i], state.flat(),
                                   side=_one_sided.flip(_one_sided.BELOW, self.direction))
        # In a_t's dtype (float32 for a half-precision state, else a no-op cast).
        dL_dti = sum(tf.cast(tf.reduce_sum(g[c.i] * f), c.a_t.dtype)
                     for g, f in zip(self.grad_ys, derivative[:self.num_state]))
        state = state._replace(a_t=c.a_t - dL_dti)
        end, stats = self._solve(c, state, derivative)
        # At t_{i-1}: add the incoming sensitivity; z is reset from ys next time round.
        a_z = tuple(a + g[c.i - 1] for a, g in zip(end.a_z, self.grad_ys))
        return _Carry(
            i=c.i - 1, a_z=a_z, a_theta=end.a_theta, a_t=end.a_t,
            time_grads=c.time_grads.write(c.i, dL_dti),
            nfe=c.nfe + stats["nfe"] + self.extra_evaluations,
            num_steps=c.num_steps + stats["num_steps"],
            step_size=stats["next_step"] if self.carry_step else c.step_size)

    def named(self, values):
        """The flat augmented state as an ``_Augmented``, ``z`` and ``a_z`` shaped as ``y0``."""
        state = _Augmented.unflat(values, self.num_state)
        return state if self.is_tuple else state._replace(z=state.z[0], a_z=state.a_z[0])

    def _solve(self, c, state, derivative):
        """Solve the augmented system from t_i back to t_{i-1}; the state there, and stats."""
        times = tf.stack([self.t[c.i], self.t[c.i - 1]])
        options = _grid.construct(self.backward["options"], self.dynamics, self.named(
            state.flat()), times, "adjoint_options")
        if self.carry_step:
            options = {**options, "first_step": c.step_size}
        if "implicit_components" in self.backward["solver"].option_names:
            # An implicit method's Jacobian covers [z, a_z] only: the parameter and time
            # adjoints are quadratures (no dynamics depends on them).
            options = {**options, "implicit_components": 2 * self.num_state}
        problem = Problem(
            func=self.dynamics, y0=state.flat(), f0=derivative,
            t=times, direction=-self.direction,
            is_tuple=True, solver=self.backward["solver"], rtol=self.backward["rtol"],
            atol=self.backward["atol"], options=options,
            backward_interval=(self.t[c.i], self.t[c.i - 1]))
        solution, stats = solve(problem)
        return _Augmented.unflat((s[-1] for s in solution), self.num_state), stats


def _augmented_dynamics(func, num_state, params):
    """The right-hand side of ``[z, a_z, a_theta, a_t]`` (Chen et al. 2018, eq. 48-51)."""
    @_one_sided.takes_side
    def dynamics(t, values, side=0):
        state = _Augmented.unflat(values, num_state)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(t)
            tape.watch(state.z)
            tape.watch(params)
            f = _one_sided.evaluate(func, t, state.z, side)
        negative_a = [-a for a in state.a_z]
        vjp_t, vjp_z, vjp_params = tape.gradient(
            f, (t, state.z, params), output_gradients=negative_a,
            unconnected_gradients=tf.UnconnectedGradients.ZERO)
        vjp_params = tuple(_dense(g) for g in vjp_params)
        # t is float64 (the solver's times); a_t has the state's accumulation dtype.
        return _Augmented(tuple(f), tuple(vjp_z), vjp_params,
                          tf.cast(vjp_t, state.a_t.dtype)).flat()

    return dynamics


def _dense(gradient):
    # Embedding-style layers give IndexedSlices; the adjoint state needs dense tensors.
    return tf.convert_to_tensor(gradient)


def _seminorm(num_state):
    """Error norm over ``z`` and ``a_z`` only: the parameter and time adjoints do not
    feed back into the dynamics, so their errors need not limit the step size."""
    def norm(scaled_errors):
        errors = _Augmented.unflat(scaled_errors, num_state)
        return mixed_rms_norm(errors.z + errors.a_z)

    return norm
