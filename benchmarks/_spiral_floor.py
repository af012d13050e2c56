"""The floor of a training step: the cost of its evaluations of ``f`` alone, in a bare loop.

Whatever a solver does, a training step on ode_demo cannot cost less than evaluating the
field as often as it does: NFE-F evaluations of ``f`` forward, and backward one evaluation of
``f`` with its vector-Jacobian product per backward evaluation (the adjoint's NFE-B; for
backpropagation and checkpointing, one per forward evaluation). This module measures the two
unit costs in compiled ``tf.while_loop``s that do nothing else (an Euler-like update keeps XLA
from dropping the evaluations), so each path can be reported as a multiple of its floor.
"""

import time

import tensorflow as tf
from _spiral import BATCH_SIZE

LOOP = 2000  # evaluations per timed loop: long enough to hide the call overhead


def _loops(field, dtype):
    state_spec = tf.TensorSpec([BATCH_SIZE, 1, 2], dtype)
    # The tf.Variables behind the Keras variables: what tapes watch.
    variables = [v.value if isinstance(v.value, tf.Variable) else v for v in
                 field.trainable_variables]

    @tf.function(input_signature=[state_spec], jit_compile=True)
    def evaluations(y):
        def body(i, y):
            return i + 1, y + 1e-4 * field(tf.zeros([], dtype), y)

        return tf.while_loop(lambda i, _: i < LOOP, body, (0, y))[1]

    @tf.function(input_signature=[state_spec], jit_compile=True)
    def evaluations_with_vjp(y):
        def body(i, y, a, a_params):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(y)
                tape.watch(variables)
                f = field(tf.zeros([], dtype), y)
            vjp_y, *vjp_params = tape.gradient(f, [y, *variables], output_gradients=a)
            return (i + 1, y + 1e-4 * f, a + 1e-4 * vjp_y,
                    [p + 1e-4 * v for p, v in zip(a_params, vjp_params)])

        a_params = [tf.zeros_like(v) for v in variables]
        _, y, a, a_params = tf.while_loop(lambda i, *_: i < LOOP, body,
                                          (0, y, tf.ones_like(y), a_params))
        # Every result is used, so XLA cannot drop the vector-Jacobian products.
        return y + tf.reduce_sum(a) + sum(tf.reduce_sum(p) for p in a_params)

    return evaluations, evaluations_with_vjp


def unit_costs(field, y0, repeats=15):
    """Median milliseconds of one ``f`` evaluation and of one ``f`` with its VJP, batched."""
    costs = []
    for loop in _loops(field, y0.dtype):
        loop(y0)  # compile
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            loop(y0).numpy()
            times.append(time.perf_counter() - start)
        costs.append(1000 * sorted(times)[len(times) // 2] / LOOP)
    return tuple(costs)


def floor_ms(nfe_forward, nfe_backward, costs):
    """The floor of a step: forward evaluations plus backward evaluations with their VJPs."""
    evaluation, evaluation_with_vjp = costs
    return nfe_forward * evaluation + nfe_backward * evaluation_with_vjp
