"""``Perturb``: which side of a discontinuity in time ``func`` is evaluated on.

A right-hand side that jumps at a time ``t_j`` (a forcing switched on, a dose given)
has two values there. The solvers ask for one of them where it matters:

- a step that ends on ``t_j`` evaluates its stages at its end on the side it integrated
  over: :attr:`Perturb.PREV` (the limit from below, ``t_j-``) in a solve forwards in time;
- after a step lands on a time of ``options["jump_t"]``, the derivative that starts the
  next step is evaluated afresh on the side ahead: :attr:`Perturb.NEXT` (``t_j+``) forwards;
- fixed-step methods with ``options["perturb"] = True`` do both on every step.

``PREV`` and ``NEXT`` are sides in ``t`` itself (the previous and the next representable
time): a solve backwards in time (decreasing ``t``, or the adjoint's backward solve) asks
for ``NEXT`` at the end of its steps and ``PREV`` after a jump, so one ``func`` serves both.
A ``func`` declaring a parameter named ``perturb`` (for a Keras layer, its ``call``) is
called as ``func(t, y, perturb=Perturb.PREV)`` with ``t`` exactly ``t_j``, and picks its
side itself; where no side is asked for it is called as ``func(t, y)``, so give
``perturb`` the default ``Perturb.NONE``. Any other ``func`` is called at ``t`` moved by
one unit in the last place to that side (``nextafter``, as torchdiffeq does), so that a
comparison such as ``t < t_j`` sees the right side; the gradient with respect to ``t``
passes through the move unchanged.
"""

import enum

__all__ = ["Perturb"]


class Perturb(enum.Enum):
    """The side of a time that ``func`` is evaluated on.

    Attributes:
        NONE: At the time itself.
        PREV: The limit from below, ``t-`` (from smaller times).
        NEXT: The limit from above, ``t+`` (from larger times).

    Example:
        >>> import tensorflow as tf
        >>> from ode_keras import odeint
        >>> def forcing(t, y, perturb=Perturb.NONE):  # dy/dt = 0, then 1 from t = 1
        ...     after = t >= 1.0 if perturb is Perturb.NEXT else t > 1.0
        ...     return tf.where(after, tf.ones_like(y), tf.zeros_like(y))
        >>> ys = odeint(forcing, tf.constant([0.0], tf.float64), [0.0, 2.0],
        ...             options={"jump_t": [1.0]})
        >>> round(float(ys[-1, 0]), 6)  # y = max(t - 1, 0)
        1.0
    """

    NONE = 0
    PREV = 1
    NEXT = 2
