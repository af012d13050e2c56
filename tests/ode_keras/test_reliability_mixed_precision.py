"""Issue #12, item 3: ODEBlock under mixed precision (float16 states, float32 control).

Every test restores the global dtype policy in a fixture.
"""

import keras
import numpy as np
import pytest
from keras.src import testing as keras_testing

from ode_keras import ODEBlock


@keras.saving.register_keras_serializable(package="test_reliability_mp")
class F(keras.layers.Layer):
    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = keras.layers.Dense(units)

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, t, y):
        return self.dense(y)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_a_block_with_its_own_mixed_policy_over_a_float32_odefunc():
    # Before: TypeError: func(t, y) returned dtype float32 but y0 has dtype float16.
    out = ODEBlock(F(), dtype="mixed_float16")(np.ones((2, 4), "float32"))
    assert out.dtype == "float16" and out.shape == (2, 4)
    assert np.isfinite(np.asarray(out, "float32")).all()


def _fit_changes_the_block(method, options, gradient):
    keras.utils.set_random_seed(0)  # the same initial weights every run
    inputs = keras.Input((4,))
    block = ODEBlock(F(), method=method, options=options, gradient=gradient)
    outputs = keras.layers.Dense(1, dtype="float32")(block(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    before = [np.array(w) for w in block.trainable_weights]
    # Dynamic loss scaling skips the first steps (float16 overflow at a scale of 2**15).
    history = model.fit(x, x[:, :1], epochs=6, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.allclose(a, np.array(b))
               for a, b in zip(before, block.trainable_weights)), (method, gradient)
    assert block.nfe_forward > 0


@pytest.mark.parametrize("gradient", ["adjoint", "backprop", "checkpoint"])
def test_fit_under_the_global_mixed_float16_policy(mixed_float16, gradient):
    # Before: TypeError: Input 'y' of 'Mul' Op has type float16 that does not match type
    # float32 (dopri5's initial_step in the adjoint backward pass; rk4 too).
    for method, options in (("dopri5", None), ("rk4", {"step_size": 0.25})):
        _fit_changes_the_block(method, options, gradient)


@pytest.mark.parametrize("gradient", ["adjoint", "backprop", "checkpoint"])
def test_implicit_methods_fit_under_the_global_mixed_float16_policy(mixed_float16, gradient):
    # Before: rodas5p's adjoint flattened its float16 state with its float32 parameter
    # adjoints (a dtype error), then, with some initial weights, ran out of steps on float16
    # stages' round-off; implicit_euler's adjoint stopped on a Newton failure: a
    # quadrature's lagging correction taken for a contraction rate, and, at a loss scale of
    # 2**10, float16 round-off near its range, which now yields NaN gradients for the loss
    # scale to come down, as an overflow does.
    for method, options in (("implicit_euler", {"step_size": 0.25}), ("rodas5p", None)):
        _fit_changes_the_block(method, options, gradient)


class _Harness(keras_testing.TestCase):
    def runTest(self):
        pass


@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning")  # the harness's
def test_keras_run_layer_test_including_its_mixed_precision_check():
    """Keras's own layer-test harness (``keras.src.testing.TestCase.run_layer_test``, a
    private API) on ODEBlock: serialisation, shapes, training, and its mixed-precision
    check, which failed before: first the block cast its state while the odefunc kept its
    policy, then the check found the float64 NFE counters (every float weight must be
    float32); the counters are int64 now."""
    harness = _Harness()
    harness.run_layer_test(
        ODEBlock, init_kwargs={"odefunc": F(), "rtol": 1e-3, "atol": 1e-3},
        input_shape=(2, 4), expected_output_shape=(2, 4),
        expected_num_trainable_weights=2, expected_num_non_trainable_weights=2,
        supports_masking=False, run_mixed_precision_check=True)


def test_the_counts_are_exact_int64_weights_that_save_and_load(tmp_path):
    # The mixed-precision check above wants float weights in float32; the counts are int64
    # instead (before: float64, which also loses counts past 2**53).
    inputs = keras.Input((4,))
    block = ODEBlock(F(), method="rk4", options={"step_size": 0.5})
    model = keras.Model(inputs, block(inputs))
    assert [w.dtype for w in block.non_trainable_weights] == ["int64", "int64"]
    block.non_trainable_weights[0].assign(2**53 + 1)
    model(np.ones((2, 4), "float32"))  # two rk4 steps: 8 evaluations
    assert block.nfe_forward == 2**53 + 9
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras").layers[-1]
    assert (loaded.nfe_forward, loaded.nfe_backward) == (2**53 + 9, 0)
