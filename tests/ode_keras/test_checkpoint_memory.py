"""gradient="checkpoint" keeps a long solve's memory bounded where backprop's grows.

Measured as benchmarks/ode_memory.py does, from TensorFlow's BFC allocator in a fresh
process (``TF_CPU_ALLOCATOR_USE_BFC=true``, whose statistics count the bytes of live
tensors): one gradient step is run once to warm up, then the peak above the bytes live
before a second run is what the step needs. Not timed.

Theory, for rk4 on an ``[N, D]`` state: backprop keeps every stage of every step, so its
peak grows in proportion to the steps. The checkpointed gradient keeps ``num_slots``
states (``default_num_slots``, about sqrt(steps) for a fixed-step solve whose steps are
known when tracing) and replays a segment of ``stride`` states (the smallest power of two
with ``num_slots * stride >= steps``), plus one step's intermediates under a tape: from 50
to 400 steps that is 8 + 8 -> 20 + 32 states. Measured (128 x 32 float32 states of 16 KiB):
backprop 12.0 -> 94.3 MiB (15 states a step), checkpoint 1.9 -> 3.1-3.3 MiB.
"""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

from ode_keras._checkpoint import default_num_slots

ROOT = pathlib.Path(__file__).resolve().parents[2]
BATCH, WIDTH = 128, 32
STATE_BYTES = BATCH * WIDTH * 4  # float32
STEPS = (50, 400)

CHILD = textwrap.dedent("""
    import json, sys
    import keras
    import tensorflow as tf
    from ode_keras import odeint

    gradient, batch, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    # One op at a time: the peak then does not depend on how parallel ops interleave.
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(0)
    field = keras.Sequential([keras.layers.Dense(width, activation="tanh"),
                              keras.layers.Dense(width)])
    y0 = tf.Variable(tf.random.normal([batch, width]))
    field(y0)
    variables = [*field.trainable_variables, y0]
    result = {}
    for num_steps in map(int, sys.argv[4:]):
        @tf.function
        def step():
            with tf.GradientTape() as tape:
                ys = odeint(lambda t, y: field(y), y0, tf.constant([0.0, 1.0]), method="rk4",
                            options={"step_size": 1.0 / num_steps}, gradient=gradient)
                loss = tf.reduce_mean(ys[-1] ** 2)
            return tape.gradient(loss, variables)

        step()  # trace, optimise, first allocations
        tf.config.experimental.reset_memory_stats("CPU:0")
        before = tf.config.experimental.get_memory_info("CPU:0")["current"]
        step()
        result[num_steps] = tf.config.experimental.get_memory_info("CPU:0")["peak"] - before
    print(json.dumps(result))
""")


def peak_bytes(*gradients):
    """{steps: peak bytes of one gradient step} per gradient, each in a fresh BFC process.

    The processes run side by side; the allocator counts each one's own tensors.
    """
    env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "true", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(ROOT)}
    runs = [subprocess.Popen([sys.executable, "-c", CHILD, gradient, str(BATCH), str(WIDTH),
                              *map(str, STEPS)], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for gradient in gradients]
    results = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr[-3000:]
        results.append({int(k): v for k, v in json.loads(stdout.strip().splitlines()[-1]).items()})
    return results


def checkpoint_states(num_steps):
    """States the checkpointed gradient holds: the slots and the longest segment replayed."""
    slots, stride = default_num_slots(num_steps), 1
    while slots * stride < num_steps:
        stride *= 2
    return slots + stride


def test_checkpoint_memory_stays_bounded_where_backprop_grows():
    backprop, checkpoint = peak_bytes("backprop", "checkpoint")
    short, long = STEPS
    print(f"peak MiB, {short} -> {long} rk4 steps: backprop "
          f"{backprop[short] / 2**20:.2f} -> {backprop[long] / 2**20:.2f}, checkpoint "
          f"{checkpoint[short] / 2**20:.2f} -> {checkpoint[long] / 2**20:.2f}")
    # Backprop: proportional to the steps, 8x here (less what does not grow with them).
    assert backprop[long] > 5 * backprop[short]
    # At least one state per step and per stage is kept.
    assert backprop[long] - backprop[short] > 4 * (long - short) * STATE_BYTES
    # Checkpoint: 16 -> 52 states, 36 more. Measured growth: 75-90 states' worth: a buffer
    # updated in a loop (tensor_scatter_nd_update, and the slots' thinning under tf.cond)
    # may be copied while the old one is live, so between one and three copies of each.
    growth = checkpoint[long] - checkpoint[short]
    predicted = (checkpoint_states(long) - checkpoint_states(short)) * STATE_BYTES
    assert predicted == 36 * STATE_BYTES
    assert growth < 3 * predicted
    assert growth < 0.05 * (backprop[long] - backprop[short])
    # What does not grow (one step's intermediates under the tape, the gradients, the
    # outputs: ~120 states' worth measured) keeps the long solve far below backprop's.
    assert checkpoint[long] < backprop[long] / 15
