"""The solution at the output times, filled in as a solve passes them.

Each state component gets a ``tf.TensorArray`` of one entry per output time;
they work as loop variables in eager mode, in graphs and under XLA.

The checkpointed gradient replays single steps under a tape and needs, instead
of the values a step writes, their inner product with the outputs' cotangents:
a :class:`Projection` takes the place of the arrays there, and :func:`write`
accumulates into it.
"""

import collections

import tensorflow as tf


class Projection(collections.namedtuple("Projection", "total cotangents")):
    """``total = sum over writes of <cotangents[index], value>``, a scalar.

    ``cotangents`` holds one ``[num_times, *shape]`` tensor per state component. A
    namedtuple of tensors, so it is a valid ``tf.while_loop`` variable like the arrays.
    """

    @classmethod
    def zero(cls, cotangents):
        """A projection of nothing written yet."""
        return cls(tf.zeros([], cotangents[0].dtype), tuple(cotangents))


def new(y0, num_times):
    """Arrays for ``num_times`` outputs, with ``y0`` already written at index 0."""
    return tuple(
        tf.TensorArray(y.dtype, size=num_times, element_shape=y.shape).write(0, y) for y in y0
    )


def write(outputs, index, values):
    """Write one state (a tuple) at ``index`` (or add its projection, see above)."""
    if isinstance(outputs, Projection):
        total = outputs.total + sum(
            tf.cast(tf.reduce_sum(tf.gather(c, index) * v), outputs.total.dtype)
            for c, v in zip(outputs.cotangents, values))
        return Projection(total, outputs.cotangents)
    return tuple(array.write(index, value) for array, value in zip(outputs, values))


def finish(outputs, num_written, y0):
    """Stack the arrays, filling the outputs a failed solve never reached with NaN.

    Under XLA a failure cannot raise, so NaN makes it visible in the result.
    """
    num_times = outputs[0].size()
    nan_state = tuple(tf.fill(tf.shape(y), tf.constant(float("nan"), y.dtype)) for y in y0)

    def write_nan(i, arrays):
        return i + 1, write(arrays, i, nan_state)

    _, outputs = tf.while_loop(
        lambda i, _: i < num_times, write_nan, (num_written, outputs),
        maximum_iterations=num_times,
    )
    return tuple(array.stack() for array in outputs)
