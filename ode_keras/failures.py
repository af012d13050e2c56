"""Loud failure: status codes of a solve, and the errors they raise.

The solver loops record why they stopped in an int32 status instead of raising
mid-loop, which keeps them inside a single ``tf.while_loop``. After the loop,
:func:`check` turns a failure into a ``tf.errors.InvalidArgumentError`` that
names the cause, the time reached and the option to change; this works eagerly
and inside ``tf.function``. XLA (``jit_compile=True``) cannot raise from compiled
code, so there the outputs past the failure are NaN and ``stats["status"]`` says
why.
"""

import tensorflow as tf

OK = 0
MAX_STEPS = 1
STEP_UNDERFLOW = 2
NON_FINITE = 3


def _messages(max_num_steps):
    return {
        MAX_STEPS: (
            f"ODE solve failed: max_num_steps={max_num_steps} steps were taken before "
            "reaching the last output time; the solve stopped at t =",
            "The problem may be stiff or the tolerances too tight: raise max_num_steps in "
            "options, loosen rtol/atol, or try another method.",
        ),
        STEP_UNDERFLOW: (
            "ODE solve failed: step size underflow (below min_step in options, or machine "
            "precision) at t =",
            "The solution may be blowing up or be stiff there: check func, loosen rtol/atol, "
            "or lower min_step in options.",
        ),
        NON_FINITE: (
            "ODE solve failed: the state or its derivative became non-finite (NaN or Inf) "
            "at t =",
            "Check func for overflow or division by zero; for an adaptive method, smaller "
            "tolerances keep steps short near a fast transient.",
        ),
    }


def check(status, t_reached, *, max_num_steps, t_end):
    """Raise ``InvalidArgumentError`` unless ``status`` is OK (eagerly or in a graph).

    Args:
        status: int32 scalar status of the solve.
        t_reached: The (user-facing) time the solve reached.
        max_num_steps: The step budget, quoted in the message.
        t_end: The (user-facing) last output time, quoted in the message.
    """
    for code, (before, after) in _messages(max_num_steps).items():
        tf.debugging.Assert(
            tf.not_equal(status, code),
            [before, t_reached, "(the last output time is", t_end, ").", after],
            summarize=1,
        )
