"""Running counts of solver work: the NFE-F and NFE-B of the Neural ODE paper.

Any object with ``record_forward(stats)`` and ``record_backward(stats)`` can be
passed as ``counter=`` to :func:`ode_keras.odeint_adjoint`; the statistics are
dicts of scalar tensors (``nfe``, ``num_steps``). :class:`SolverCounter` keeps
the totals in variables, so counting works eagerly, in ``tf.function`` and under
XLA, and the backward count is updated when gradients are computed.
"""

import tensorflow as tf


class SolverCounter(tf.Module):
    """Totals of function evaluations and steps, forward and backward.

    Example:
        >>> counter = SolverCounter()
        >>> counter.record_forward({"nfe": tf.constant(26), "num_steps": tf.constant(4)})
        >>> int(counter.nfe_forward)
        26
    """

    def __init__(self, name=None):
        super().__init__(name=name)
        self._counts = {
            key: tf.Variable(0, dtype=tf.int64, trainable=False, name=key)
            for key in ("nfe_forward", "steps_forward", "nfe_backward", "steps_backward")
        }

    def record_forward(self, stats):
        """Add the statistics of a forward solve."""
        self._add("forward", stats)

    def record_backward(self, stats):
        """Add the statistics of an adjoint (backward) solve."""
        self._add("backward", stats)

    def _add(self, direction, stats):
        self._counts[f"nfe_{direction}"].assign_add(tf.cast(stats["nfe"], tf.int64))
        self._counts[f"steps_{direction}"].assign_add(tf.cast(stats["num_steps"], tf.int64))

    def reset(self):
        """Set every count back to zero."""
        for variable in self._counts.values():
            variable.assign(0)

    @property
    def nfe_forward(self):
        """Function evaluations in forward solves (NFE-F)."""
        return self._counts["nfe_forward"]

    @property
    def nfe_backward(self):
        """Evaluations of the augmented dynamics in backward solves (NFE-B)."""
        return self._counts["nfe_backward"]

    @property
    def steps_forward(self):
        """Steps attempted in forward solves."""
        return self._counts["steps_forward"]

    @property
    def steps_backward(self):
        """Steps attempted in backward solves."""
        return self._counts["steps_backward"]
