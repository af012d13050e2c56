"""ODEBlock's evaluation counts (NFE-F, NFE-B), training with fit, XLA and tf.distribute."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from ode_keras import ODEBlock
from tests.ode_keras.odeblock_fields import CountingField, MLPField, regression_data

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("adjoint", [True, False], ids=["adjoint", "direct"])
def test_counts_are_the_evaluations_of_odefunc(adjoint):
    # Eagerly every evaluation runs CountingField.call, so Python counts them.
    block = ODEBlock(CountingField(), t=(0.0, 1.5), adjoint=adjoint)
    x = tf.constant(np.random.rand(4, 3), tf.float32)
    block.build(x.shape)
    CountingField.calls = 0
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(block(x) ** 2)
    forward_calls = CountingField.calls
    gradients = tape.gradient(loss, block.trainable_variables)
    backward_calls = CountingField.calls - forward_calls
    assert all(g is not None for g in gradients)
    assert block.nfe_forward == forward_calls > 0
    assert block.nfe_backward == backward_calls
    assert (backward_calls > 0) == adjoint  # backpropagation replays recorded operations
    block(x)
    assert block.nfe_forward == CountingField.calls - backward_calls
    block.reset_nfe()
    assert (block.nfe_forward, block.nfe_backward) == (0, 0)


@pytest.mark.parametrize("adjoint", [True, False], ids=["adjoint", "direct"])
def test_fit_reduces_the_loss_and_counts_evaluations(adjoint):
    x, y = regression_data()
    block = ODEBlock(MLPField(hidden=16), adjoint=adjoint, name="ode")
    model = keras.Sequential([keras.Input((3,)), block])
    model.compile(keras.optimizers.Adam(0.02), "mse")
    initial_loss = model.evaluate(x, y, verbose=0)
    block.reset_nfe()
    model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    nfe_forward, nfe_backward = block.nfe_forward, block.nfe_backward
    # 32 steps of at least one dopri5 step (1 + 1 + 6 evaluations) each.
    assert nfe_forward >= 32 * 8
    assert (nfe_backward >= 32 * 8) if adjoint else nfe_backward == 0
    final_loss = model.evaluate(x, y, verbose=0)
    assert final_loss < 0.1 * initial_loss  # measured: 0.02-0.03 over three seeds
    assert block.nfe_forward > nfe_forward and block.nfe_backward == nfe_backward


def one_training_step(jit_compile, method="rk4", options=None, rtol=1e-3, atol=1e-3,
                      **block_kwargs):
    """Trainable weights after one SGD step from fixed initial weights."""
    keras.utils.set_random_seed(3)
    block = ODEBlock(MLPField(), method=method, options=options, rtol=rtol, atol=atol,
                     name="ode", **block_kwargs)
    model = keras.Sequential([keras.Input((3,)), block, keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=jit_compile)
    x, y = regression_data(16)
    model.train_on_batch(x, y[:, :1])
    return [v.numpy() for v in model.trainable_variables], block


def test_xla_training_step_equals_the_graph_step():
    rk4 = dict(method="rk4", options={"step_size": 0.25})
    expected, _ = one_training_step(jit_compile=False, **rk4)
    weights, block = one_training_step(jit_compile=True, **rk4)
    for w, e in zip(weights, expected):
        np.testing.assert_allclose(w, e, rtol=1e-5, atol=1e-6)
    # Four rk4 steps of four stages; the backward pass adds one evaluation at t[-1].
    assert (block.nfe_forward, block.nfe_backward) == (16, 17)


def test_fit_with_checkpointed_gradients_reduces_the_loss():
    # 100 samples in batches of 32: the last batch of 4 makes Keras retrace with batch None.
    x, y = regression_data(100)
    block = ODEBlock(MLPField(hidden=16), gradient="checkpoint", name="ode")
    model = keras.Sequential([keras.Input((3,)), block])
    model.compile(keras.optimizers.Adam(0.02), "mse")
    initial_loss = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.2 * initial_loss
    # The backward pass replays recorded steps: no backward solve.
    assert block.nfe_forward > 0 and block.nfe_backward == 0


def test_xla_compiles_the_checkpointed_step_at_default_settings():
    # ODEBlock's defaults (dopri5, rtol = atol = 1e-3, max_num_steps 4096): the checkpointed
    # step under XLA equals backprop's in a graph.
    defaults = dict(method="dopri5", rtol=1e-3, atol=1e-3)
    expected, _ = one_training_step(jit_compile=False, gradient="backprop", **defaults)
    weights, block = one_training_step(jit_compile=True, gradient="checkpoint", **defaults)
    for w, e in zip(weights, expected):
        np.testing.assert_allclose(w, e, rtol=1e-5, atol=1e-6)
    assert block.nfe_forward > 0 and block.nfe_backward == 0


@pytest.mark.slow
def test_xla_compiles_the_adaptive_adjoint():
    tight = dict(method="dopri5", rtol=1e-7, atol=1e-7)
    expected, _ = one_training_step(jit_compile=False, **tight)
    weights, block = one_training_step(jit_compile=True, **tight)
    for w, e in zip(weights, expected):
        np.testing.assert_allclose(w, e, rtol=1e-4, atol=1e-6)
    assert block.nfe_forward > 0 and block.nfe_backward > 0


STRATEGY_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    from tests.ode_keras.odeblock_fields import MLPField, regression_data
    from ode_keras import ODEBlock

    def build():
        keras.utils.set_random_seed(5)
        block = ODEBlock(MLPField(), method="rk4", options={"step_size": 0.5}, name="ode")
        model = keras.Sequential([keras.Input((3,)), block, keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.1), "mse")
        return model, block

    x, y = regression_data(8)
    y = y[:, :1]
    single, single_block = build()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        mirrored, mirrored_block = build()
    # One step on the whole batch: one replica, or two replicas of 4 samples each.
    single.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    mirrored.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    difference = max(float(np.max(np.abs(a.numpy() - b.numpy())))
                     for a, b in zip(single.trainable_variables, mirrored.trainable_variables))
    losses = mirrored.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    # int64 counts, one copy per replica: a total assigned from outside (a load) must not be
    # split into truncated halves.
    counts = [mirrored_block.nfe_forward, mirrored_block.nfe_backward]
    mirrored_block.non_trainable_weights[1].assign(7)
    split = mirrored_block.nfe_backward
    mirrored_block.non_trainable_weights[1].assign(counts[1])
    mirrored.save("mirrored.keras")
    with strategy.scope():
        loaded = keras.models.load_model("mirrored.keras").get_layer("ode")
    print(json.dumps({
        "split": split,
        "loaded": [loaded.nfe_forward, loaded.nfe_backward],
        "replicas": strategy.num_replicas_in_sync,
        "difference": difference,
        "losses": losses.history["loss"],
        "single": [single_block.nfe_forward, single_block.nfe_backward],
        "mirrored": [mirrored_block.nfe_forward, mirrored_block.nfe_backward],
    }))
""")


@pytest.mark.slow
def test_mirrored_strategy_step_equals_the_single_device_step(tmp_path):
    # Logical devices must be set before TensorFlow starts: a fresh process.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", STRATEGY_SCRIPT], capture_output=True,
                         text=True, env=env, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["difference"] < 1e-5
    assert result["losses"][-1] < result["losses"][0]
    # rk4, two steps: 8 evaluations forward, 8 + 1 backward, per replica and per step;
    # under the strategy the counts add up over both replicas and all four steps.
    assert result["single"] == [8, 9]
    assert result["mirrored"] == [4 * 2 * 8, 4 * 2 * 9]
    assert result["split"] == 7  # each replica's copy holds 4 or 3, not 3 and 3
    assert result["loaded"] == result["mirrored"]
