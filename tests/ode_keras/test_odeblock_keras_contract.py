"""ODEBlock and the Keras layer contract: training flag, build, config, saving."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from ode_keras import ODEBlock
from tests.ode_keras.odeblock_fields import MLPField


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
        ODEBlock(MLPField(), method="bosh3", gradient="checkpoint", name="checkpointed"),
    ]


@pytest.mark.parametrize("index", [0, 1, 2])
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


def test_a_checkpointed_block_saves_loads_and_trains(tmp_path):
    model = keras.Sequential([keras.Input((3,)), ODEBlock(MLPField(), gradient="checkpoint",
                                                          name="ode")])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x = np.random.rand(6, 3).astype("float32")
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.get_layer("ode").get_config()["gradient"] == "checkpoint"
    assert loaded.get_layer("ode").gradient == "checkpoint"
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    before = [w.numpy() for w in loaded.trainable_variables]
    loaded.train_on_batch(x, np.zeros_like(x))
    assert all(np.any(w.numpy() != b) for w, b in zip(loaded.trainable_variables, before))
