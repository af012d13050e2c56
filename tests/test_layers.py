"""ODEBlock: outputs and gradients from the mathematics, the Keras contract, NFE counts.

References are computed independently of the solvers: a linear field dy/dt = y W
has the solution y0 expm(W (t - t0)) and, through the Frechet derivative of the
matrix exponential, an exact gradient with respect to W.
"""

import doctest
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

import ode_keras.layers
from ode_keras import ODEBlock

ROOT = pathlib.Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(2018)
W = 0.6 * RNG.normal(size=(3, 3))  # a generic real matrix: rotation, growth and decay
Y0 = RNG.normal(size=(4, 3))
TIGHT = dict(rtol=1e-10, atol=1e-10)


@keras.saving.register_keras_serializable(package="test_layers")
class LinearField(keras.layers.Layer):
    """dy/dt = y W; its one-argument build receives the state's shape."""

    def build(self, input_shape):
        size = input_shape[-1]
        self.kernel = self.add_weight(shape=(size, size), initializer="orthogonal", name="w")

    def call(self, t, y):
        return tf.matmul(y, self.kernel)


@keras.saving.register_keras_serializable(package="test_layers")
class MLPField(keras.layers.Layer):
    """A time-dependent tanh MLP; default build, so Keras builds its sublayers by tracing."""

    def __init__(self, units=3, hidden=8, **kwargs):
        super().__init__(**kwargs)
        self.units, self.hidden_units = units, hidden
        self.hidden = keras.layers.Dense(hidden, activation="tanh", dtype=self.dtype_policy)
        self.out = keras.layers.Dense(units, dtype=self.dtype_policy)

    def call(self, t, y):
        time_column = tf.ones_like(y[..., :1]) * tf.cast(t, y.dtype)
        return self.out(self.hidden(tf.concat([y, time_column], axis=-1)))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "hidden": self.hidden_units}


class CountingField(MLPField):
    """Counts its calls in Python: eagerly, one call is one evaluation."""

    calls = 0

    def call(self, t, y):
        CountingField.calls += 1
        return super().call(t, y)


def linear_block(t=(0.0, 1.0), **kwargs):
    """A float64 block with dy/dt = y W, built, with W set."""
    block = ODEBlock(LinearField(dtype="float64"), t=t, dtype="float64", **kwargs)
    block.build(Y0.shape)
    block.odefunc.kernel.assign(W)
    return block


def exact_states(times):
    """y0 expm(W (t_i - t_0)) for every t_i, stacked time first."""
    return np.stack([Y0 @ scipy.linalg.expm(W * (ti - times[0])) for ti in times])


# ---------------------------------------------------------------------------
#  Outputs and gradients
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("t", [(0.0, 1.0), (0.5, -0.7)], ids=["forward", "backward"])
def test_final_state_is_the_matrix_exponential(t):
    block = linear_block(t, **TIGHT)
    np.testing.assert_allclose(block(Y0).numpy(), exact_states(t)[-1], rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("time_major", [True, False])
def test_return_sequences_gives_the_state_at_every_time(time_major):
    times = (0.0, 0.3, 1.1, 2.0)
    block = linear_block(times, return_sequences=True, time_major=time_major, **TIGHT)
    states = block(Y0).numpy()
    expected = exact_states(times)
    if not time_major:
        expected = expected.transpose(1, 0, 2)
    assert states.shape == expected.shape == block.compute_output_shape(Y0.shape)
    np.testing.assert_allclose(states, expected, rtol=1e-8, atol=1e-9)
    first = states[0] if time_major else states[:, 0]
    np.testing.assert_array_equal(first, Y0)


def test_symbolic_output_shapes_follow_the_layout():
    inputs = keras.Input((5, 3))
    assert ODEBlock(MLPField())(inputs).shape == (None, 5, 3)
    sequences = ODEBlock(MLPField(), t=(0, 1, 2), return_sequences=True)
    assert sequences(inputs).shape == (3, None, 5, 3)
    batch_major = ODEBlock(MLPField(), t=(0, 1, 2), return_sequences=True, time_major=False)
    assert batch_major(inputs).shape == (None, 3, 5, 3)


def exact_gradients(T, cotangent):
    """dL/dy0 and dL/dW of L = sum(cotangent * y0 expm(W T)), from the Frechet derivative.

    The adjoint of E -> L_exp(A, E) is G -> L_exp(A^T, G), and A = W T.
    """
    expm_wt = scipy.linalg.expm(W * T)
    grad_y0 = cotangent @ expm_wt.T
    grad_w = T * scipy.linalg.expm_frechet(W.T * T, Y0.T @ cotangent, compute_expm=False)
    return grad_y0, grad_w


@pytest.mark.parametrize("adjoint", [True, False], ids=["adjoint", "direct"])
def test_gradients_equal_the_exact_gradient(adjoint):
    block = linear_block((0.0, 1.3), adjoint=adjoint, **TIGHT)
    cotangent = RNG.normal(size=Y0.shape)
    y0 = tf.constant(Y0)
    with tf.GradientTape() as tape:
        tape.watch(y0)
        loss = tf.reduce_sum(block(y0) * cotangent)
    grad_y0, grad_w = tape.gradient(loss, [y0, block.odefunc.kernel])
    exact_y0, exact_w = exact_gradients(1.3, cotangent)
    np.testing.assert_allclose(grad_y0.numpy(), exact_y0, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(grad_w.numpy(), exact_w, rtol=1e-7, atol=1e-8)


def test_adjoint_and_direct_gradients_agree_on_a_nonlinear_field():
    gradients = []
    for adjoint in (True, False):
        keras.utils.set_random_seed(7)  # the same weights for both blocks
        block = ODEBlock(MLPField(dtype="float64"), t=(0.0, 0.8), rtol=1e-9, atol=1e-9,
                         adjoint=adjoint, dtype="float64")
        y0 = tf.constant(Y0)
        with tf.GradientTape() as tape:
            tape.watch(y0)
            loss = tf.reduce_sum(tf.sin(block(y0)))
        gradients.append(tape.gradient(loss, [y0, *block.odefunc.trainable_variables]))
    for adjoint_grad, direct_grad in zip(*gradients):
        np.testing.assert_allclose(adjoint_grad.numpy(), direct_grad.numpy(), rtol=1e-6,
                                   atol=1e-8)


# ---------------------------------------------------------------------------
#  Building, config, saving
# ---------------------------------------------------------------------------

class TrainingProbe(keras.layers.Layer):
    """dy/dt = -y, recording the ``training`` flag of every evaluation."""

    seen = []

    def call(self, t, y, training=None):
        TrainingProbe.seen.append(training)
        return -y


@pytest.mark.parametrize("adjoint", [True, False], ids=["adjoint", "direct"])
@pytest.mark.parametrize("graph", [False, True], ids=["eager", "graph"])
def test_training_flag_reaches_every_evaluation(adjoint, graph):
    block = ODEBlock(TrainingProbe(), adjoint=adjoint)
    x = tf.ones((2, 3))
    block.build(x.shape)

    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = block(x, training=True)
        return tape.gradient(y, x)

    TrainingProbe.seen = []
    gradient = tf.function(step)(x) if graph else step(x)
    np.testing.assert_allclose(gradient.numpy(), np.exp(-1.0), rtol=1e-3)
    assert TrainingProbe.seen and set(TrainingProbe.seen) == {True}


def test_two_argument_build_receives_both_shapes():
    class Field(keras.layers.Layer):
        def build(self, t_shape, y_shape):
            self.shapes = (tuple(t_shape), tuple(y_shape))
            self.scale = self.add_weight(shape=(y_shape[-1],), initializer="ones")

        def call(self, t, y):
            return -self.scale * y

    block = ODEBlock(Field(), rtol=1e-8, atol=1e-8)
    out = block(np.ones((2, 5), "float32"))
    assert block.odefunc.shapes == ((), (2, 5))
    np.testing.assert_allclose(out.numpy(), np.full((2, 5), np.exp(-1.0)), rtol=1e-6)


def test_build_rejects_an_odefunc_of_the_wrong_output_shape():
    block = ODEBlock(MLPField(units=2))
    with pytest.raises(ValueError, match=r"`odefunc` must return dy/dt with the shape.*"
                                         r"\(None, 3\).*\(None, 2\)"):
        block(keras.Input((3,)))


def sample_blocks():
    return [
        ODEBlock(MLPField(), t=(0.0, 0.5, 1.0), method="rk4", options={"step_size": 0.1},
                 adjoint=False, return_sequences=True, time_major=False, name="fixed"),
        ODEBlock(MLPField(), t=np.array([1.0, 0.0]), rtol=1e-5, atol=1e-6,
                 options={"max_num_steps": 500, "first_step": np.float32(0.01)},
                 adjoint_options={"norm": "seminorm"}, name="adaptive"),
    ]


@pytest.mark.parametrize("index", [0, 1])
def test_config_round_trip(index):
    block = sample_blocks()[index]
    x = np.random.rand(2, 3).astype("float32")
    expected = block(x).numpy()
    config = block.get_config()
    config = json.loads(json.dumps(config))  # what a .keras file stores
    clone = ODEBlock.from_config(config)
    assert clone.get_config() == config
    assert isinstance(clone.odefunc, MLPField) and clone.odefunc is not block.odefunc
    clone.build(x.shape)
    clone.set_weights(block.get_weights())
    np.testing.assert_array_equal(clone(x).numpy(), expected)


def test_save_and_load_give_the_same_predictions(tmp_path):
    model = keras.Sequential([
        keras.Input((3,)), keras.layers.Dense(3),
        ODEBlock(MLPField(), t=(0.0, 0.5, 1.0), return_sequences=True, time_major=False,
                 adjoint_options={"norm": "seminorm"}, name="ode"),
        keras.layers.Flatten(), keras.layers.Dense(1),
    ])
    x = np.random.rand(5, 3).astype("float32")
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    assert loaded.get_layer("ode").get_config() == model.get_layer("ode").get_config()


def test_docstring_example_runs():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(ode_keras.layers.ODEBlock, globs={"ODEBlock": ODEBlock}):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0 and results.failed == 0


# ---------------------------------------------------------------------------
#  Evaluation counts and training
# ---------------------------------------------------------------------------

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


def regression_data(samples=64):
    """Inputs and their images under the flow of dy/dt = y A, a target an ODEBlock can fit.

    The same ``samples`` give the same data, so two models can be trained alike.
    """
    rng = np.random.default_rng(samples)
    a = 0.5 * rng.normal(size=(3, 3))
    x = rng.normal(size=(samples, 3)).astype("float32")
    return x, (x @ scipy.linalg.expm(a)).astype("float32")


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


def one_training_step(jit_compile, method="rk4", options=None, rtol=1e-3, atol=1e-3):
    """Trainable weights after one SGD step from fixed initial weights."""
    keras.utils.set_random_seed(3)
    block = ODEBlock(MLPField(), method=method, options=options, rtol=rtol, atol=atol,
                     name="ode")
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
    from test_layers import MLPField, regression_data
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
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "difference": difference,
        "losses": losses.history["loss"],
        "single": [single_block.nfe_forward, single_block.nfe_backward],
        "mirrored": [mirrored_block.nfe_forward, mirrored_block.nfe_backward],
    }))
""")


@pytest.mark.slow
def test_mirrored_strategy_step_equals_the_single_device_step():
    # Logical devices must be set before TensorFlow starts: a fresh process.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    run = subprocess.run([sys.executable, "-c", STRATEGY_SCRIPT], capture_output=True,
                         text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["difference"] < 1e-5
    assert result["losses"][-1] < result["losses"][0]
    # rk4, two steps: 8 evaluations forward, 8 + 1 backward, per replica and per step;
    # under the strategy the counts add up over both replicas and all four steps.
    assert result["single"] == [8, 9]
    assert result["mirrored"] == [4 * 2 * 8, 4 * 2 * 9]


# ---------------------------------------------------------------------------
#  Bad arguments
# ---------------------------------------------------------------------------

class TakesOneInput(keras.layers.Layer):
    def call(self, y):
        return y


BAD_ARGUMENTS = [
    (dict(odefunc=lambda t, y: -y), TypeError, r"`odefunc`.*keras.layers.Layer.*function"),
    (dict(odefunc=keras.Sequential([keras.layers.Dense(3)])), TypeError,
     r"`odefunc`.*call\(t, y\).*call\(inputs, training, mask\).*wrap"),
    (dict(odefunc=TakesOneInput()), TypeError, r"`odefunc`.*call\(y\)"),
    (dict(t=(0.0,)), ValueError, r"`t`.*at least 2 times.*t=\(0.0,\)"),
    (dict(t=[[0.0, 1.0]]), ValueError, r"`t`.*1-D.*shape \(1, 2\)"),
    (dict(t=(0.0, 1.0, 1.0)), ValueError, r"`t`.*strictly increasing.*\[0.0, 1.0, 1.0\]"),
    (dict(t=(0.0, 2.0, 1.0)), ValueError, r"`t`.*strictly.*decreasing.*\[0.0, 2.0, 1.0\]"),
    (dict(t=(0.0, np.inf)), ValueError, r"`t`.*finite.*inf"),
    (dict(t=("a", "b")), TypeError, r"`t`.*real numbers.*'a'"),
    (dict(t=(0.0, 1j)), TypeError, r"`t`.*real numbers"),
    (dict(method="rk45"), ValueError, r"`method`.*'adaptive_heun'.*'dopri5'.*method='rk45'"),
    (dict(method=None), TypeError, r"`method`.*one of.*method=None"),
    (dict(rtol=0.0), ValueError, r"`rtol`.*positive.*rtol=0.0"),
    (dict(atol=-1e-3), ValueError, r"`atol`.*positive.*atol=-0.001"),
    (dict(atol=float("nan")), ValueError, r"`atol`.*finite.*atol=nan"),
    (dict(rtol="1e-3"), TypeError, r"`rtol`.*number.*rtol='1e-3'.*str"),
    (dict(rtol=True), TypeError, r"`rtol`.*rtol=True"),
    (dict(adjoint="yes"), TypeError, r"`adjoint`.*True or False.*adjoint='yes'"),
    (dict(return_sequences=1), TypeError, r"`return_sequences`.*return_sequences=1"),
    (dict(time_major=None), TypeError, r"`time_major`.*time_major=None"),
    (dict(options=[("first_step", 0.1)]), TypeError, r"`options`.*dict or None.*list"),
    (dict(options={"norm": np.max}), TypeError,
     r"`options\['norm'\]`.*JSON-serialisable.*callable.*seminorm.*odeint"),
    (dict(options={"norm": "seminorm"}), TypeError, r"`options\['norm'\]`.*adjoint_options"),
    (dict(options={"bogus": 1}), ValueError,
     r"`options`.*Unknown options \['bogus'\].*first_step"),
    (dict(options={"first_step": object()}), TypeError, r"`options\['first_step'\]`.*number"),
    (dict(options={"max_num_steps": 2.5}), ValueError, r"`options`.*max_num_steps.*2.5"),
    (dict(method="rk4"), ValueError, r"`options`.*'rk4' needs.*step_size"),
    (dict(method="rk4", options={"step_size": -0.1}), ValueError, r"`options`.*step_size.*-0.1"),
    (dict(method="rk4", options={"grid": [[0.0, 1.0]]}), ValueError, r"`options\['grid'\]`.*1-D"),
    (dict(adjoint=False, adjoint_options={"norm": "seminorm"}), ValueError,
     r"`adjoint_options`.*adjoint=True.*adjoint=False"),
    (dict(adjoint_options={"norm": "l2"}), TypeError, r"`adjoint_options\['norm'\]`.*'l2'"),
    (dict(method="rk4", options={"step_size": 0.1}, adjoint_options={"norm": "seminorm"}),
     ValueError, r"`adjoint_options`.*seminorm needs an adaptive method.*'rk4'"),
    (dict(adjoint_options={"max_step": 0}), ValueError, r"`adjoint_options`.*max_step.*0"),
    (dict(unknown_argument=1), (TypeError, ValueError), r"unknown_argument"),
]


@pytest.mark.parametrize("kwargs, error, message", BAD_ARGUMENTS,
                         ids=[str(i) for i in range(len(BAD_ARGUMENTS))])
def test_bad_arguments_name_the_argument_and_the_value(kwargs, error, message):
    kwargs = {"odefunc": MLPField(), **kwargs}
    with pytest.raises(error, match=message):
        ODEBlock(**kwargs)
