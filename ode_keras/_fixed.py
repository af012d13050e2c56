"""The fixed-step driver: a prescribed step size, or the points of a user grid.

With ``step_size``, each output interval is cut into the fewest equal steps no
longer than ``step_size``, so every output is a step end: no interpolation
error, and the method keeps its order. With ``grid``, the steps run through the
union of the grid points and the output times.

Each mode has a plan (what the whole solve needs, fixed before the loop), a
named loop state, and an ``advance`` that takes one step from a state to the
next; ``integrate`` only runs ``advance`` in a ``tf.while_loop``.
"""

import collections

import tensorflow as tf

from ode_keras import _checks, _one_sided, _outputs, _state, _step_callbacks, _stepping, failures
from ode_keras._runge_kutta import rk_step

_Plan = collections.namedtuple("_Plan",
                               "func t_out spans steps_per_span total_steps one_sided")
_State = collections.namedtuple("_State", "span j y t_reached outputs status")
_GridPlan = collections.namedtuple("_GridPlan", "func points output_index num_times one_sided")
_GridState = collections.namedtuple("_GridState", "k y t_reached outputs num_steps status")


class FixedStepSolver(_stepping.TableauSolver):
    """Runs a tableau with a prescribed step size or on a user grid.

    Options: ``step_size`` (each output interval is cut into the fewest equal
    steps no longer than it, so steps end exactly on the output times) or
    ``grid`` (the steps go through every grid point and every output time),
    and ``max_num_steps``.
    """

    option_names = ("step_size", "grid", "grid_constructor", "perturb", "max_num_steps")

    @property
    def evaluations_per_step(self):
        """Number of ``func`` evaluations per step."""
        return self.tableau.num_stages

    def check_options(self, options, name, method):
        """``options`` checked for this method, with defaults; see ``_checks.check_options``."""
        return _checks.check_fixed_step_options(method, options, name)

    def step(self, func, t, y, h, t1=None, one_sided=False):
        """One step from ``(t, y)`` to ``t1`` (default ``t + h``); returns the new state.

        ``one_sided`` (the option ``perturb``): ``func`` is seen above ``t`` by the first
        stage and below ``t1`` by the stages at the step's end (see ``ode_keras.perturb``).
        """
        if not one_sided:
            y1, _ = rk_step(self.tableau, func, t, y, func(t, y), h)
            return y1
        f0 = _one_sided.evaluate(func, t, y, _one_sided.ABOVE)
        y1, _ = rk_step(self.tableau, func, t, y, f0, h, t + h if t1 is None else t1,
                        _one_sided.BELOW)
        return y1

    def _reported_step(self, plan, t, y, h, t1):
        """:meth:`step`, reported to the step callbacks ``plan.func`` carries."""
        callbacks = _step_callbacks.of(plan.func)
        callbacks.started(t, y, h)
        y1 = self.step(plan.func, t, y, h, t1, plan.one_sided)
        callbacks.accepted(t, y, h)
        return y1

    def stepper(self, func, *, rtol, atol, options):
        """The solve as a :class:`~ode_keras._stepping.Stepper`, on a step size or a grid."""
        del rtol, atol  # no error control
        if options["grid"] is not None:
            return self._grid_stepper(func, options)
        # One loop over all the steps, not a loop per output interval: under XLA the gradient
        # of a while loop holds buffers for its maximum_iterations, so nested loops would pay
        # (number of outputs) x max_num_steps.
        return _stepping.Stepper(
            make_plan=lambda t_out: self.plan(func, t_out, options["step_size"],
                                              options["perturb"]),
            # Every step evaluates its own first stage: f0 is not needed.
            start=lambda plan, y0, f0: (self.initial_state(plan, y0, options["max_num_steps"]),
                                        None),
            advance=self.advance,
            keep_going=lambda plan, s: ((s.span < plan.t_out.shape[0] - 1)
                                        & tf.equal(s.status, failures.OK)),
            finish=lambda plan, final, y0, _: (
                _outputs.finish(final.outputs, final.span + 1, y0), final.t_reached,
                _stats(self.evaluations_per_step * plan.total_steps, plan.total_steps,
                       final.status)),
            max_iterations=lambda plan: _iteration_bound(plan.t_out, options))

    def plan(self, func, t_out, step_size, one_sided=False):
        """The steps of a solve over ``t_out``: how many per output interval, and in all.

        Without a ``step_size``, one step per output interval: the steps are ``t`` itself.
        """
        steps_per_span, total_steps = _steps_per_span(t_out, step_size)
        return _Plan(func, t_out, t_out[1:] - t_out[:-1], steps_per_span, total_steps,
                     one_sided)

    def initial_state(self, plan, y0, max_num_steps):
        """The loop state at ``t_out[0]``; a solve longer than the budget fails at once."""
        # Refuse up front a solve that would take more than max_num_steps: never hang.
        too_many = ((plan.total_steps > max_num_steps)
                    | (plan.total_steps >= _checks.MAX_NUM_STEPS_LIMIT))  # capped: more
        status = tf.where(too_many, failures.MAX_STEPS, failures.OK)
        return _State(0, 0, y0, plan.t_out[0], _outputs.new(y0, plan.t_out.shape[0]), status)

    def advance(self, plan, s):
        """Take step ``j`` of output interval ``span``; write the output at its end."""
        count = plan.steps_per_span[s.span]
        h = plan.spans[s.span] / tf.cast(count, plan.t_out.dtype)
        t_j = plan.t_out[s.span] + tf.cast(s.j, plan.t_out.dtype) * h
        last = tf.equal(s.j + 1, count)
        y_next = self._reported_step(plan, t_j, s.y, h,
                                     tf.where(last, plan.t_out[s.span + 1], t_j + h))
        finite = _state.all_finite(y_next)
        y = _state.select(finite, y_next, s.y)
        span_done = finite & tf.equal(s.j + 1, count)
        outputs = tf.cond(span_done, lambda: _outputs.write(s.outputs, s.span + 1, y),
                          lambda: s.outputs)
        return _State(span=tf.where(span_done, s.span + 1, s.span),
                      j=tf.where(span_done, 0, s.j + 1), y=y,
                      t_reached=tf.where(finite, t_j + h, s.t_reached), outputs=outputs,
                      status=tf.where(finite, s.status, failures.NON_FINITE))

    def _grid_stepper(self, func, options):
        """Steps through the sorted union of the grid points and the output times."""
        def start(plan, y0, f0):
            outputs = _outputs.new(y0, plan.num_times)
            return _GridState(1, y0, plan.points[0], outputs, 0, failures.OK), None

        def finish(plan, final, y0, _):
            # Outputs are written in time order, so those written are a prefix.
            num_written = tf.reduce_sum(tf.cast(
                (plan.output_index >= 0) & (plan.points <= final.t_reached), tf.int32))
            return (_outputs.finish(final.outputs, num_written, y0), final.t_reached,
                    _stats(self.evaluations_per_step * final.num_steps, final.num_steps,
                           final.status))

        return _stepping.Stepper(
            make_plan=lambda t_out: self.grid_plan(func, t_out, options["grid"],
                                                   options["max_num_steps"], options["perturb"]),
            start=start, advance=self.advance_on_grid,
            keep_going=lambda plan, s: ((s.k < plan.points.shape[0])
                                        & tf.equal(s.status, failures.OK)),
            finish=finish, max_iterations=lambda plan: plan.points.shape[0] - 1)

    def grid_plan(self, func, t_out, grid, max_num_steps, one_sided=False):
        """The step points (grid and output times, sorted) and each one's output index or -1."""
        num_times = t_out.shape[0]
        grid = tf.clip_by_value(grid, t_out[0], t_out[-1])
        points = tf.concat([t_out, grid], axis=0)
        output_index = tf.concat([tf.range(num_times), -tf.ones_like(grid, tf.int32)], axis=0)
        # A stable sort keeps each output time ahead of a grid point equal to it.
        order = tf.argsort(tf.stop_gradient(points), stable=True)
        points, output_index = tf.gather(points, order), tf.gather(output_index, order)
        if points.shape[0] - num_times > max_num_steps:
            raise ValueError(
                f"options['grid'] has {points.shape[0] - num_times} points, more than "
                f"max_num_steps={max_num_steps}; raise options['max_num_steps']."
            )
        return _GridPlan(func, points, output_index, num_times, one_sided)

    def advance_on_grid(self, plan, s):
        """Step from grid point ``k - 1`` to ``k``; write the output if ``k`` is an output time."""
        h = plan.points[s.k] - plan.points[s.k - 1]
        # Points repeated by the union (a grid point on an output time) cost nothing.
        y_next = tf.cond(h > 0, lambda: self._reported_step(plan, plan.points[s.k - 1], s.y, h,
                                                            plan.points[s.k]),
                         lambda: s.y)
        finite = _state.all_finite(y_next)
        index = plan.output_index[s.k]
        outputs = tf.cond(finite & (index >= 0),
                          lambda: _outputs.write(s.outputs, index, y_next), lambda: s.outputs)
        return _GridState(k=s.k + 1, y=y_next,
                          t_reached=tf.where(finite, plan.points[s.k], s.t_reached),
                          outputs=outputs, num_steps=s.num_steps + tf.cast(h > 0, tf.int32),
                          status=tf.where(finite, failures.OK, failures.NON_FINITE))


def _steps_per_span(t_out, step_size):
    """The fewest equal steps no longer than ``step_size`` per output interval, and their sum."""
    # A quotient a rounding error above a whole number (0.5 / 0.05 = 10.000000000000002)
    # must not cost an extra step. Counted in float64 and capped at 2**31 - 1 before the
    # cast to int32, which would wrap around (1e10 steps became 1); a capped count fails
    # the budget check in initial_state. No step_size: one step per interval.
    # tf.constant, not tf.cast: a Python float would pass through float32 (0.01 became
    # 0.00999999977, and [0, 40] took 4001 steps).
    quotients = tf.cast(tf.stop_gradient(t_out[1:] - t_out[:-1]), tf.float64) / tf.constant(
        step_size if step_size is not None else float("inf"), tf.float64)
    steps = tf.maximum(tf.math.ceil(quotients - 1e-6), 1.0)
    cap = tf.constant(float(_checks.MAX_NUM_STEPS_LIMIT), tf.float64)
    return (tf.cast(tf.minimum(steps, cap), tf.int32),
            tf.cast(tf.minimum(tf.reduce_sum(steps), cap), tf.int32))


def _known_total_steps(t_out, step_size):
    """The number of steps if ``t_out`` is known when tracing (eager, or a constant), else None."""
    t_value = tf.get_static_value(t_out)
    if t_value is None:
        return None
    with tf.init_scope():  # evaluate now, outside any graph being built
        return _steps_per_span(tf.constant(t_value), step_size)[1].numpy().item()


def _iteration_bound(t_out, options):
    """``maximum_iterations`` of the step loop: the budget, or fewer when known now."""
    # Constant times (ODEBlock's t, say) give the number of steps when tracing: then XLA's
    # buffers are only as long as the solve.
    known_steps = _known_total_steps(t_out, options["step_size"])
    if known_steps is None:
        return options["max_num_steps"]
    return max(1, min(known_steps, options["max_num_steps"]))


def _stats(evaluations, num_steps, status):
    num_steps = tf.convert_to_tensor(num_steps, tf.int32)
    return {
        "nfe": evaluations,
        "num_steps": num_steps,
        "num_accepted": num_steps,
        "num_rejected": tf.zeros_like(num_steps),
        "status": status,
    }
