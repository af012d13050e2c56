"""Where an event happens: step the solver until the event function changes sign, then root-find.

The search is the forward half of :func:`ode_keras.odeint_event` and lies outside every
gradient: it runs the method's own :class:`~ode_keras._stepping.Stepper` (the steps, step-size
control and failure statuses of ``odeint``) on a horizon it never reaches, and after each step
evaluates the combined event function ``g`` (positive at the start). The first accepted step
that ends with ``g <= 0`` brackets the event. Inside it, the cubic Hermite interpolant of the
step's ends (values and derivatives, 4th-order accurate) gives the state, and the Illinois
variant of regula falsi finds the root of ``g`` along it to round-off. ``events.py`` then
corrects that time once more with the solver's own solution, and differentiates it.

Times here run forwards (``s = direction * t``): a search backwards in time is a forward one
of the field ``-func(-s, y)``, as in :func:`ode_keras.odeint.solve`.
"""

import collections

import tensorflow as tf
from tensorflow.python.ops import control_flow_util

from ode_keras import _event_root, _stepping, failures

Bracket = collections.namedtuple("Bracket", "crossed status s_a y_a s_b y_b num_steps")
Bracket.__doc__ = """The outcome of the step search, in forward time ``s``.

``crossed`` says whether an accepted step ended with the event function at or below zero;
then the event lies in ``[s_a, s_b]``, the last step, whose ends are ``(s_a, y_a)`` and
``(s_b, y_b)``. Otherwise ``s_b`` is the time the search reached, and ``status`` (a code of
:mod:`ode_keras.failures`) says whether the solver failed there; ``num_steps`` counts the
attempted steps.
"""


def time_of(state):
    """The time a driver's loop state has reached (the adaptive ``t``, the fixed ``t_reached``)."""
    return state.t if hasattr(state, "t") else state.t_reached


def search(stepper, s0, s_horizon, y0, f0, event):
    """Step from ``(s0, y0)`` towards ``s_horizon`` until ``event(s, y) <= 0``; a :class:`Bracket`.

    Args:
        stepper: The method's :class:`~ode_keras._stepping.Stepper` on the forward-time field.
        s0, s_horizon: Start time, and a time the search must not pass (it may be ``inf``).
        y0, f0: The state at ``s0`` and the field there, tuples of tensors.
        event: ``event(s, y) -> scalar``, positive at ``s0``.
    """
    plan = stepper.make_plan(tf.stack([s0, s_horizon]))
    start, _ = stepper.start(plan, y0, f0)

    def keep_going(state, s_a, y_a, crossed, count):
        del s_a, y_a, count
        return tf.logical_not(crossed) & stepper.keep_going(plan, state)

    def step(state, s_a, y_a, crossed, count):
        del s_a, y_a, crossed
        new = stepper.advance(plan, state)
        # A rejected step leaves the state (and so g > 0) as it was: only accepted steps cross.
        return new, time_of(state), state.y, event(time_of(new), new.y) <= 0, count + 1

    end, s_a, y_a, crossed, count = tf.while_loop(
        keep_going, step, (start, s0, y0, tf.constant(False), tf.constant(0)),
        maximum_iterations=stepper.max_iterations(plan))
    return Bracket(crossed, end.status, s_a, y_a, time_of(end), end.y, count)


def locate(stepper, func, s0, s_horizon, y0, f0, event):
    """The time of the first event after ``s0``, in forward time; NaN when none was found.

    Runs outside any gradient tape (see :func:`ode_keras._stepping.run_unrecorded`).

    Args:
        stepper, s0, s_horizon, y0, f0, event: As in :func:`search`.
        func: The forward-time field on tuple states, for the interpolant's slopes.

    Returns:
        ``(s_event, bracket)``: the root of ``event`` along the bracketing step, and the
        :class:`Bracket` the search ended with (for the error when nothing crossed).
    """
    def find():
        bracket = search(stepper, s0, s_horizon, y0, f0, event)

        def root():
            along = _event_root.hermite(
                bracket.s_a, bracket.y_a, func(bracket.s_a, bracket.y_a),
                bracket.s_b, bracket.y_b, func(bracket.s_b, bracket.y_b))
            return _event_root.illinois(lambda s: event(s, along(s)),
                                        bracket.s_a, event(bracket.s_a, bracket.y_a),
                                        bracket.s_b, event(bracket.s_b, bracket.y_b))

        nan = tf.constant(float("nan"), s0.dtype)
        return tf.cond(bracket.crossed, root, lambda: nan), bracket

    s_event, bracket = _stepping.run_unrecorded(find)
    return tf.stop_gradient(s_event), tf.nest.map_structure(tf.stop_gradient, bracket)


_CAUSES = {
    failures.OK: "max_num_steps = {} steps were used up",
    failures.MAX_STEPS: "max_num_steps = {} steps were used up",
    failures.NON_FINITE: "the state or its derivative became non-finite (NaN or Inf)",
    failures.STEP_UNDERFLOW: "the step size underflowed",
}
# Any other status a method may report (a failure of its own) is named by its code.
_OTHER_CAUSE = "the solver failed{} (see the status codes of ode_keras.failures)"


def _message(code, bracket, t0, direction, max_num_steps):
    """The paragraph for a search that found no event, as strings and scalar tensors."""
    return [
        "odeint_event found no event: event_fn(t, y) kept the sign it had at t0 = ", t0,
        " up to t = ", direction * bracket.s_b, ", where the search stopped after ",
        bracket.num_steps, " steps: " + _cause(code, max_num_steps) + ". If the "
        "event does happen, raise options['max_num_steps'] or take longer steps (a larger "
        "step_size, looser rtol/atol); check that event_fn changes sign on the way (a zero "
        "touched without a sign change is no event), or set reverse_time=True for an event "
        "before t0."]


def _cause(code, max_num_steps):
    if code in _CAUSES:
        return _CAUSES[code].format(max_num_steps)
    return _OTHER_CAUSE.format("" if code is None else f" with status {code}")


def check_found(bracket, t0, direction, max_num_steps):
    """Raise unless the search crossed: :class:`~ode_keras.failures.SolveError` eagerly.

    Inside ``tf.function`` an ``InvalidArgumentError`` with the same paragraph; under XLA,
    which cannot raise, nothing (the event time is NaN).
    """
    if tf.executing_eagerly():
        if not bool(bracket.crossed):
            code = int(bracket.status)
            parts = _message(code, bracket, t0, direction, max_num_steps)
            text = "".join(p if isinstance(p, str) else _number(p) for p in parts)
            raise failures.SolveError(text, code if code else failures.MAX_STEPS,
                                      float(direction * bracket.s_b))
        return
    if control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()):
        return  # compiled code cannot raise: the event time is NaN
    message = tf.strings.join([p if isinstance(p, str) else _number_in_graph(p) for p in
                               _message(None, bracket, t0, direction, max_num_steps)])
    for code in _CAUSES:
        text = tf.strings.join([p if isinstance(p, str) else _number_in_graph(p) for p in
                                _message(code, bracket, t0, direction, max_num_steps)])
        message = tf.where(tf.equal(bracket.status, code), text, message)
    tf.debugging.Assert(bracket.crossed, [message])


def _number(value):
    value = tf.convert_to_tensor(value).numpy().item()
    return f"{value:.8g}" if isinstance(value, float) else str(value)


def _number_in_graph(value):
    value = tf.convert_to_tensor(value)
    if value.dtype.is_floating:
        return tf.strings.as_string(tf.cast(value, tf.float64), shortest=True)
    return tf.strings.as_string(value)
