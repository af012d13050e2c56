"""The implicit driver: ESDIRK steps with Newton stages, for stiff problems.

One driver for both kinds of methods. Adaptive ones (Kvaerno's) control the step with
the embedded error estimate, as ``_adaptive`` does (its ratio, controller and first-step
choice are reused); fixed-step ones (``implicit_euler``, ``trapezoid``) cut each output
interval into the fewest equal steps no longer than ``step_size``. A step whose Newton
iterations fail is retried: smaller (adaptive), or with a fresh Jacobian; when that is no
longer possible the solve stops with a named status (``ode_keras.failures``).

Steps stop at every output time: on stiff problems a cubic Hermite interpolant between
``y0, y1`` and the end derivatives, whose fast components change by orders of magnitude
over a long step, was 15-50x less accurate than the method (HIRES at rtol 1e-6: kvaerno4
and kvaerno5 off by 100x and 90x rtol through it, 6x and 2.2x stopping at the outputs, in as
many steps). The loop state carries the Jacobian, its LU
and the step it was factorised for, so the plain loop, the checkpointed gradient and the
adjoint all replay the same decisions (see ``_implicit_matrix``).
"""

import collections
import types

import numpy as np
import tensorflow as tf

from ode_keras import (
    _adaptive,
    _dense_output,
    _implicit_matrix,
    _implicit_options,
    _newton,
    _outputs,
    _state,
    _stepping,
    failures,
)
from ode_keras._implicit_step import esdirk_step

_Plan = collections.namedtuple(
    "_Plan", "func t_out rtol atol norm min_step max_step jac settings")
_State = collections.namedtuple(
    "_State", "t y f h i_out outputs jacobian factors h_factored stale jacobian_age eta nfe "
    "num_steps num_accepted num_rejected num_jacobians num_factorizations status")
_HERMITE = types.SimpleNamespace(b_mid=None)  # ``_dense_output.fit``: cubic Hermite


class ImplicitSolver(_stepping.TableauSolver):
    """Runs a stiffly accurate :class:`~ode_keras.implicit_tableaus.ESDIRKTableau`.

    Options: see ``ode_keras._implicit_options`` (``jacobian``, ``max_newton_iterations``,
    ``newton_tolerance``, and the adaptive or fixed-step ones). Fixed-step methods use
    ``rtol``/``atol`` only as the accuracy of their Newton iterations.
    """

    implicit = True

    def __init__(self, tableau):
        super().__init__(tableau)
        self.adaptive = self.carries_step = tableau.adaptive
        self.option_names = (_implicit_options.ADAPTIVE_OPTIONS if self.adaptive
                             else _implicit_options.FIXED_OPTIONS)
        # No interpolation between outputs (see the module docstring).
        self.stop_at_outputs = True

    def check_options(self, options, name, method):
        """``options`` checked for this method, with defaults (see ``_implicit_options``)."""
        return _implicit_options.check(options, name, method, self.adaptive)

    def stepper(self, func, *, rtol, atol, options):
        """The solve as a :class:`~ode_keras._stepping.Stepper` (plan, start, advance...)."""
        return _adaptive.controlled_stepper(self, func, rtol, atol, options)

    def plan(self, func, t_out, rtol, atol, options):
        """What every step needs, as tensors of the times' dtype (float64)."""
        dtype = t_out.dtype
        step_size = options.get("step_size")
        settings = dict(options, step_size=step_size)
        return _Plan(func, t_out, tf.cast(rtol, dtype), tf.cast(atol, dtype),
                     options.get("norm", _state.mixed_rms_norm),
                     tf.constant(options.get("min_step", 0.0), dtype),
                     tf.constant(options.get("max_step", float("inf")), dtype),
                     None, settings)

    def initial_state(self, plan, y0, f0, options):
        """The loop state at ``t_out[0]`` (with a first Jacobian), and the evaluations spent."""
        components = _components(options, y0)
        jac = _implicit_matrix.jacobian_function(plan.func, options["jacobian"], components)
        if options["jacobian"] == "per_sample":
            _implicit_matrix.check_per_sample(y0, components)
        matrix, evaluations, mode = jac(plan.t_out[0], y0)
        if callable(options["jacobian"]):
            _implicit_matrix.check_layout(matrix, mode, y0, components)
        matrix = tf.stop_gradient(matrix)
        h, selection = tf.zeros([], plan.t_out.dtype), 0
        if self.adaptive:
            # The explicit driver's choice (Hairer's heuristic, or a step carried over by
            # the adjoint); it reads only the order and plan fields this plan shares.
            h, selection = _adaptive.choose_first_step(plan, y0, f0, options["first_step"],
                                                       self.order)
            h = tf.stop_gradient(tf.clip_by_value(
                h, plan.min_step, tf.minimum(plan.max_step, plan.t_out[-1] - plan.t_out[0])))
        finite_matrix = tf.reduce_all(tf.math.is_finite(matrix))
        status = tf.where(_state.all_finite(y0, f0),
                          tf.where(finite_matrix, failures.OK, failures.NON_FINITE_JACOBIAN),
                          failures.NON_FINITE)
        zero = tf.constant(0)
        state = _State(
            t=plan.t_out[0], y=y0, f=f0, h=h, i_out=tf.constant(1),
            outputs=_outputs.new(y0, plan.t_out.shape[0]), jacobian=matrix,
            factors=_implicit_matrix.identity_factors(matrix),
            h_factored=tf.zeros([], plan.t_out.dtype), stale=tf.constant(False),
            jacobian_age=tf.constant(0),
            eta=tf.ones([], _state.accumulation_dtype(y0[0].dtype)), nfe=zero, num_steps=zero,
            num_accepted=zero, num_rejected=zero, num_jacobians=tf.constant(1),
            num_factorizations=zero, status=status)
        return state, 1 + selection + evaluations

    def advance(self, plan, s):
        """Attempt one step from ``s``; accept or reject it; emit the outputs it passes."""
        t_end, h, reaches_end = self._step_to_try(plan, s)
        jacobian, evaluations = _implicit_matrix.refresh(self._jac_for(plan, s), s.t, s.y,
                                                         s.stale, s.jacobian)
        # Steps accepted since the Jacobian was evaluated: 0 when it is at this step's start.
        age = tf.where(s.stale, 0, s.jacobian_age)
        factors, refactored = _implicit_matrix.refactor(
            jacobian, self.tableau.gamma, h, s.h_factored, s.factors, s.stale)
        system = self._system(plan, s, jacobian, factors)
        step = esdirk_step(self.tableau, system, s.t, s.y, s.f, h, s.eta, ~factors.regular)
        converged = step.converged & factors.regular
        # Newton iterates that overflowed count as non-finite values, not slow convergence.
        finite = _state.all_finite(step.y1, step.f1) & ~step.overflowed
        ratio = tf.zeros([], plan.rtol.dtype)
        if self.adaptive:
            ratio = _adaptive.error_ratio(step.error, s.y, step.y1, plan.rtol, plan.atol,
                                          plan.norm)
        ratio = tf.where(finite & converged, ratio, tf.constant(float("inf"), ratio.dtype))
        accept = ratio <= 1.0
        t1 = tf.where(reaches_end, t_end, s.t + h)
        coefficients = _dense_output.fit(_HERMITE, s.y, step.y1, s.f, step.f1, step.stages, h)
        i_out, outputs = _adaptive._emit(plan.t_out, accept, s.t, t1, h, s.y, coefficients,
                                         s.i_out, s.outputs)
        t_next = tf.where(accept, t1, s.t)
        h_next = self._next_step(plan, s, h, ratio, converged, accept & reaches_end)
        accepted = tf.cast(accept, tf.int32)
        return _State(
            t=t_next, y=_state.select(accept, step.y1, s.y),
            f=_state.select(accept, step.f1, s.f), h=h_next, i_out=i_out, outputs=outputs,
            jacobian=jacobian, factors=factors,
            h_factored=tf.where(refactored, tf.stop_gradient(h), s.h_factored),
            stale=tf.where(accept, step.rate > _implicit_matrix.REFRESH_RATE, age > 0),
            jacobian_age=tf.where(accept, age + 1, age),
            eta=tf.cast(step.eta, s.eta.dtype), nfe=s.nfe + step.iterations + evaluations,
            num_steps=s.num_steps + 1, num_accepted=s.num_accepted + accepted,
            num_rejected=s.num_rejected + 1 - accepted,
            num_jacobians=s.num_jacobians + tf.cast(s.stale, tf.int32),
            num_factorizations=s.num_factorizations + tf.cast(refactored, tf.int32),
            status=self._status(plan, s, accept, finite, converged, factors.regular,
                                jacobian, tf.equal(age, 0), h, t_next, h_next))

    def _jac_for(self, plan, s):
        components = len(s.y) if plan.settings["implicit_components"] is None else (
            plan.settings["implicit_components"])
        return _implicit_matrix.jacobian_function(plan.func, plan.settings["jacobian"],
                                                  components)

    def _system(self, plan, s, jacobian, factors):
        """The step's :class:`~ode_keras._newton.StageSystem`."""
        # The scale in float32 at least: a half-precision atol of 1e-9 would be 0.
        dtype = _state.accumulation_dtype(s.y[0].dtype)
        scale = tuple(tf.cast(plan.atol, dtype) + tf.cast(plan.rtol, dtype)
                      * tf.abs(tf.cast(y, dtype)) for y in s.y)
        mode = "full" if jacobian.shape.rank == 2 else "per_sample"
        settings = plan.settings
        # Newton cannot get below the round-off of the state's own dtype, about eps / rtol
        # in the scaled norm (Hairer's floor for its tolerance), however small kappa is.
        eps = max(np.finfo(y.dtype.as_numpy_dtype).eps for y in s.y)
        kappa = tf.maximum(tf.constant(settings["newton_tolerance"], dtype),
                           10.0 * tf.constant(eps, dtype) / tf.cast(plan.rtol, dtype))
        return _newton.StageSystem(
            plan.func, factors, mode, scale, plan.norm, settings["max_newton_iterations"],
            kappa, _components(settings, s.y))

    def _step_to_try(self, plan, s):
        """The time the step may not pass, the step to try, and whether it lands there."""
        num_times = plan.t_out.shape[0]
        t_end = (tf.gather(plan.t_out, tf.minimum(s.i_out, num_times - 1))
                 if self.stop_at_outputs else plan.t_out[-1])
        remaining = t_end - s.t
        if not self.adaptive:
            # Equal steps over the output interval: the same h, so the same LU, throughout.
            span = t_end - tf.gather(plan.t_out, tf.minimum(s.i_out, num_times - 1) - 1)
            step_size = tf.constant(plan.settings["step_size"], span.dtype)
            count = tf.maximum(tf.math.ceil(tf.stop_gradient(span) / step_size - 1e-6), 1.0)
            h = span / count
            reaches_end = tf.stop_gradient(remaining) <= 1.5 * tf.stop_gradient(h)
            return t_end, tf.where(reaches_end, remaining, h), reaches_end
        # Hold the factorised step when the controller would grow it only a little.
        hold = (s.h >= s.h_factored) & (s.h <= _implicit_matrix.HOLD_GROWTH * s.h_factored)
        h = tf.where(hold, s.h_factored, s.h)
        reaches_end = h >= remaining
        return t_end, tf.where(reaches_end, remaining, h), reaches_end

    def _next_step(self, plan, s, h, ratio, converged, landed):
        """The next step: the controller's after a Newton success, else half this one."""
        if not self.adaptive:
            return s.h
        h_next = tf.where(converged, _adaptive.propose_step(h, ratio, self.order), 0.5 * h)
        h_next = tf.where(landed, tf.maximum(h_next, s.h), h_next)
        return tf.stop_gradient(tf.clip_by_value(h_next, plan.min_step, plan.max_step))

    def _status(self, plan, s, accept, finite, converged, regular, jacobian, fresh, h,
                t_next, h_next):
        """OK, or why the solve cannot go on (the named statuses of ``failures``)."""
        cause = tf.where(~regular, failures.SINGULAR_MATRIX,
                         tf.where(~finite, failures.NON_FINITE,
                                  tf.where(~converged, failures.NEWTON_FAILURE,
                                           failures.STEP_UNDERFLOW)))
        if self.adaptive:
            stuck = tf.not_equal(_adaptive._status(plan, accept, finite, h, t_next, h_next),
                                 failures.OK)
        else:  # a fixed step cannot shrink: fail once a fresh Jacobian did not help
            stuck = ~accept & (fresh | (converged & ~finite))
        status = tf.where(stuck, cause, failures.OK)
        finite_matrix = tf.reduce_all(tf.math.is_finite(jacobian))
        return tf.where(finite_matrix, status, failures.NON_FINITE_JACOBIAN)

    def finish(self, plan, final, y0, initial_evaluations):
        """``(ys, t_reached, stats)`` from the loop's last state."""
        return _adaptive.finish(plan, final, y0, initial_evaluations + final.nfe,
                                num_jacobians=final.num_jacobians,
                                num_factorizations=final.num_factorizations)


def _components(options, y):
    """How many leading components the Jacobian covers."""
    count = options["implicit_components"]
    return len(y) if count is None else min(count, len(y))
