"""Running counts of solver work: the NFE-F and NFE-B of the Neural ODE paper.

Any object with ``record_forward(stats)`` and ``record_backward(stats)`` can be
passed as ``counter=`` to :func:`ode_keras.odeint_adjoint`; the statistics are
dicts of scalar tensors (``nfe``, ``num_steps``). :class:`SolverCounter` keeps
the totals in variables, so counting works eagerly, in ``tf.function`` and under
XLA, and the backward count is updated when gradients are computed.
:class:`ode_keras.ODEBlock` counts with a :class:`SolverCounter` over its own
Keras variables.
"""

import tensorflow as tf

_COUNTS = ("nfe_forward", "steps_forward", "nfe_backward", "steps_backward")


class SolverCounter(tf.Module):
    """Totals of function evaluations and steps, forward and backward.

    Example:
        >>> counter = SolverCounter()
        >>> counter.record_forward({"nfe": tf.constant(26), "num_steps": tf.constant(4)})
        >>> int(counter.nfe_forward)
        26
    """

    def __init__(self, name=None, variables=None):
        """Creates the counter.

        Args:
            name: Module name. Defaults to the class name.
            variables: Optional dict mapping some of ``nfe_forward``,
                ``steps_forward``, ``nfe_backward``, ``steps_backward`` to existing
                variables (``tf.Variable`` or ``keras.Variable``, any numeric dtype)
                to add to; counts without a variable are not kept. Defaults to four
                new int64 variables.
        """
        super().__init__(name=name)
        if variables is None:
            variables = {key: tf.Variable(0, dtype=tf.int64, trainable=False, name=key)
                         for key in _COUNTS}
        unknown = sorted(set(variables) - set(_COUNTS))
        if unknown:
            raise ValueError(f"Unknown counts {unknown}; valid counts are {list(_COUNTS)}.")
        self._counts = dict(variables)

    def record_forward(self, stats):
        """Add the statistics of a forward solve."""
        self._add("forward", stats)

    def record_backward(self, stats):
        """Add the statistics of an adjoint (backward) solve."""
        self._add("backward", stats)

    def _add(self, direction, stats):
        for count, stat in ((f"nfe_{direction}", "nfe"), (f"steps_{direction}", "num_steps")):
            variable = self._counts.get(count)
            if variable is not None:
                variable.assign_add(tf.cast(stats[stat], variable.dtype))

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
