"""Step callbacks, torchdiffeq's names: ``callback_step``, ``callback_accept_step``, ...

A ``func`` (a function, a Keras layer, any callable) may carry callables under the
:data:`NAMES` (called in the forward solve) and the same names ending in ``_adjoint``
(called in ``odeint_adjoint``'s backward solve), each taking ``(t0, y0, dt)``: the time
and state a step starts from and its size. ``callback_step`` runs before every attempted
step, then ``callback_accept_step`` or ``callback_reject_step`` once the step is judged
(fixed-step methods accept every step). Times are the user's: ``t0 + dt`` is the end of
the step, and ``dt < 0`` in a solve backwards in time; ``y0`` has the structure of the
user's state (in the backward solve, an ``_Augmented(z, a_z, a_theta, a_t)`` namedtuple).

Eagerly a callback runs at every step. Inside ``tf.function`` (and XLA) it runs once, when
the solver's loop is traced, and what it does with TensorFlow ops becomes part of every
step: ``counter.assign_add(1)`` on a ``tf.Variable`` counts steps, ``tf.print`` prints
them; plain Python side effects (appending to a list, ``nonlocal`` counters) happen once,
at trace time. ``tf.py_function`` runs Python at every step in ``tf.function``, not in XLA.

The checkpointed gradient replays forward steps in its backward pass: replays are silent
(:func:`muted`), so each step of the solve is reported once.
"""

import collections
import contextlib
import threading

import tensorflow as tf

NAMES = ("callback_step", "callback_accept_step", "callback_reject_step")
ADJOINT_SUFFIX = "_adjoint"

_muted = threading.local()


class StepCallbacks(collections.namedtuple("StepCallbacks", "step accept reject")):
    """The three callbacks of one solve (each a callable or None)."""

    __slots__ = ()

    def started(self, t0, y0, dt):
        """Before a step from ``(t0, y0)`` of size ``dt`` is attempted."""
        if self.step is not None and not _is_muted():
            self.step(t0, y0, dt)

    def judged(self, accept, t0, y0, dt):
        """After the step is accepted or rejected (``accept``, a scalar bool tensor)."""
        if (self.accept is None and self.reject is None) or _is_muted():
            return
        tf.cond(accept, _branch(self.accept, t0, y0, dt), _branch(self.reject, t0, y0, dt))

    def accepted(self, t0, y0, dt):
        """After a step that is always accepted (a fixed step)."""
        if self.accept is not None and not _is_muted():
            self.accept(t0, y0, dt)

    def mapped(self, time=None, state=None):
        """These callbacks called with ``time(t0, dt) -> (t0, dt)`` and ``state(y0)`` applied."""
        def wrap(callback):
            if callback is None:
                return None

            def mapped_callback(t0, y0, dt):
                t0, dt = time(t0, dt) if time is not None else (t0, dt)
                return callback(t0, state(y0) if state is not None else y0, dt)

            return mapped_callback

        return StepCallbacks(*(wrap(c) for c in self))


NONE = StepCallbacks(None, None, None)
"""No callbacks."""


def _branch(callback, t0, y0, dt):
    def run():
        if callback is not None:
            callback(t0, y0, dt)
        return tf.constant(0)  # tf.cond's branches must return alike

    return run


def from_func(func, suffix=""):
    """The callbacks ``func`` carries under :data:`NAMES` (plus ``suffix``), checked."""
    found = []
    for name in NAMES:
        callback = getattr(func, name + suffix, None)
        if callback is not None and not callable(callback):
            raise TypeError(
                f"func.{name}{suffix} must be callable as {name}{suffix}(t0, y0, dt) (or "
                f"absent), got {type(callback).__name__}: {callback!r}.")
        found.append(callback)
    return StepCallbacks(*found)


def attach(func, callbacks, adjoint=NONE):
    """Give an internal ``func`` its callbacks (forward and adjoint); returns ``func``."""
    func.step_callbacks = callbacks
    func.adjoint_step_callbacks = adjoint
    return func


def of(func):
    """The callbacks attached to ``func`` (:data:`NONE` if none)."""
    return getattr(func, "step_callbacks", NONE)


def adjoint_of(func):
    """The ``_adjoint`` callbacks attached to ``func``, for its adjoint's backward solve."""
    return getattr(func, "adjoint_step_callbacks", NONE)


def reversed_in_time(callbacks, direction):
    """Callbacks of a solve in ``s = t / direction``, reporting ``t0`` and ``dt`` in ``t``."""
    def time(s0, ds):
        return tf.cast(direction, s0.dtype) * s0, tf.cast(direction, ds.dtype) * ds

    return callbacks.mapped(time=time)


@contextlib.contextmanager
def muted():
    """Within this context (on this thread), steps run without their callbacks."""
    previous = getattr(_muted, "on", False)
    _muted.on = True
    try:
        yield
    finally:
        _muted.on = previous


def _is_muted():
    return getattr(_muted, "on", False)
