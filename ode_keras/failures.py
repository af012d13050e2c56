"""Loud failure: status codes of a solve, and the errors they raise.

The solver loops record why they stopped in an int32 status instead of raising
mid-loop, which keeps them inside a single ``tf.while_loop``. After the loop,
:func:`check` turns a failure into an error of one paragraph that names the
cause, the time reached and the option to change:

- eagerly, a :class:`SolveError` (catch it by name, or as the
  ``tf.errors.InvalidArgumentError`` it subclasses);
- inside ``tf.function``, a ``tf.errors.InvalidArgumentError`` whose message
  holds the same paragraph, formatted in the graph into one string.

XLA (``jit_compile=True``) cannot raise from compiled code, so there the outputs
past the failure are NaN and ``stats["status"]`` says why.
"""

import tensorflow as tf
from tensorflow.python.ops import control_flow_util

OK = 0
MAX_STEPS = 1
STEP_UNDERFLOW = 2
NON_FINITE = 3
SINGULAR_MATRIX = 4
NON_FINITE_JACOBIAN = 5
NEWTON_FAILURE = 6

# The implicit methods' own failures: the message of each, after "ODE solve failed".
_IMPLICIT_MESSAGES = {
    SINGULAR_MATRIX: ("the iteration matrix I - gamma h J of an implicit method is singular "
                      "at t = ", ", even at the smallest step allowed; lower "
                      "min_step in {opts}, or check func's Jacobian there."),
    NON_FINITE_JACOBIAN: ("the Jacobian of func (or its time derivative) is not finite "
                          "(NaN or Inf) at t = ", "; func is not differentiable "
                          "there (a square root or a division at zero?): change func, or "
                          "start the solve elsewhere."),
    NEWTON_FAILURE: ("the Newton iterations of an implicit method's stages did not converge "
                     "at t = ", ", even with a fresh Jacobian at the smallest step allowed "
                     "(or at step_size, for a fixed-step method); take a smaller step_size, "
                     "lower min_step, raise max_newton_iterations or newton_tolerance in "
                     "{opts}, or check that func is smooth there."),
}

# An adaptive explicit method that runs out of steps while rejecting at least this share
# of its attempts is held back by stability, not accuracy: the mark of a stiff problem.
STIFF_REJECTED_SHARE = 0.03


class SolveError(tf.errors.InvalidArgumentError):
    """An ODE solve failed (eagerly): too many steps, step size underflow, non-finite values.

    A subclass of ``tf.errors.InvalidArgumentError``, so code that catches that keeps
    working; inside ``tf.function`` the same message comes as an ``InvalidArgumentError``.

    Attributes:
        status: The status code (:data:`MAX_STEPS`, :data:`STEP_UNDERFLOW`,
            :data:`NON_FINITE`, :data:`SINGULAR_MATRIX`, :data:`NON_FINITE_JACOBIAN`,
            :data:`NEWTON_FAILURE`).
        t: The time the solve reached, a float.
    """

    def __init__(self, message, status=None, t=None):
        super().__init__(None, None, message)
        self.status = status
        self.t = t

    def __reduce__(self):
        return type(self), (self.message, self.status, self.t)


def _parts(code, *, t_reached, t_end, stats, max_num_steps, backward):
    """The message of a failure as a list of strings and scalar tensors (the numbers)."""
    if backward is None:
        where, opts, tols = "ODE solve failed", "options", "rtol/atol"
    else:
        where = ["ODE solve failed in the adjoint's backward solve (the augmented system "
                 "integrated from t = ", backward[0], " back to t = ", backward[1], ")"]
        opts, tols = "adjoint_options", "adjoint_rtol/adjoint_atol"
    where = where if isinstance(where, list) else [where]
    if code == MAX_STEPS and "next_step" not in stats:  # fixed steps: refused up front
        return [*where, f": max_num_steps={max_num_steps} steps are not enough to reach "
                "t = ", t_end, ": the step size needs ", stats["num_steps"], " steps (counts "
                "stop at 2**31 - 1), so the solve stopped before its first step, at t = ",
                t_reached, f"; to solve it, raise max_num_steps in {opts} or take a larger "
                "step_size."]
    if code == MAX_STEPS:
        return [*where, f": max_num_steps={max_num_steps} steps were not enough to reach "
                "t = ", t_end, "; the solve stopped at t = ", t_reached, " after ",
                stats["num_steps"], " attempted steps (", stats["num_rejected"],
                f" rejected). To go further, raise max_num_steps in {opts}, loosen {tols}, "
                "or try another method."]
    if code in _IMPLICIT_MESSAGES:
        before, after = _IMPLICIT_MESSAGES[code]
        return [*where, ": " + before, t_reached, after.format(opts=opts)]
    if code == STEP_UNDERFLOW:
        return [*where, ": step size underflow (below min_step in "
                f"{opts}, or machine precision) at t = ", t_reached, "; the solution may be "
                f"blowing up or be stiff there: check func, loosen {tols}, or lower min_step "
                f"in {opts}."]
    return [*where, ": the state or its derivative became non-finite (NaN or Inf) at t = ",
            t_reached, "; check func for overflow or division by zero; for an adaptive "
            f"method, smaller {tols} keep steps short near a fast transient."]


_STIFF = (" The problem looks stiff: an explicit method that rejects this many steps is "
          "held to tiny steps by stability, not accuracy, and tighter or looser tolerances "
          "change little; try a stiff method: method='kvaerno5' (or 'rodas5p').")


def _looks_stiff(stats):
    if "next_step" not in stats or "num_jacobians" in stats:
        return False  # fixed-step methods reject nothing; implicit ones are the advice
    steps = tf.cast(stats["num_steps"], tf.float32)
    return tf.cast(stats["num_rejected"], tf.float32) >= STIFF_REJECTED_SHARE * steps


def check(status, t_reached, *, max_num_steps, t_end, stats, backward=None):
    """Raise unless ``status`` is OK: :class:`SolveError` eagerly, else in the graph.

    Args:
        status: int32 scalar status of the solve.
        t_reached: The (user-facing) time the solve reached.
        max_num_steps: The step budget, quoted in the message.
        t_end: The (user-facing) last output time, quoted in the message.
        stats: The solve's statistics (steps and rejections, quoted).
        backward: For the adjoint's backward solve, the pair of times of its interval
            (the message then names it and the ``adjoint_*`` settings); else None.
    """
    kwargs = dict(t_reached=t_reached, t_end=t_end, stats=stats,
                  max_num_steps=max_num_steps, backward=backward)
    if tf.executing_eagerly():
        code = int(status)
        if code != OK:
            text = "".join(_text(p) for p in _parts(code, **kwargs))
            if code == MAX_STEPS and bool(_looks_stiff(stats)):
                text += _STIFF
            raise SolveError(text, code, float(t_reached))
        return
    if control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()):
        return  # compiled code cannot raise: NaN outputs and the status say it
    message = tf.constant("")
    for code in (MAX_STEPS, STEP_UNDERFLOW, NON_FINITE, *_IMPLICIT_MESSAGES):
        text = tf.strings.join([_tensor_text(p) for p in _parts(code, **kwargs)])
        if code == MAX_STEPS:
            text = tf.where(_looks_stiff(stats), text + _STIFF, text)
        message = tf.where(tf.equal(status, code), text, message)
    tf.debugging.Assert(tf.equal(status, OK), [message])


def _text(part):
    if isinstance(part, str):
        return part
    value = part.numpy().item() if tf.is_tensor(part) else part
    return f"{value:.8g}" if isinstance(value, float) else str(value)


def _tensor_text(part):
    if isinstance(part, str):
        return part
    part = tf.convert_to_tensor(part)
    if part.dtype.is_floating:
        return tf.strings.as_string(tf.cast(part, tf.float64), shortest=True)
    return tf.strings.as_string(part)
