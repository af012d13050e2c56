"""NFELogger: each ODEBlock's NFE-F and NFE-B per training batch in the Keras logs."""

import csv

import keras
import numpy as np
import pytest

from ode_keras import ODEBlock
from ode_keras.callbacks import NFELogger, find_ode_blocks

BATCHES = 3  # 12 samples in batches of 4


@keras.saving.register_keras_serializable(package="test_callbacks")
class Field(keras.layers.Layer):
    def build(self, input_shape):
        self.dense = keras.layers.Dense(input_shape[-1], activation="tanh")

    def call(self, t, y):
        return self.dense(y)


class Recorder(keras.callbacks.Callback):
    """Reads the blocks' counters itself: at an epoch's start, before validation, at its end."""

    def __init__(self, blocks):
        super().__init__()
        self.blocks, self.increases, self.batch_logs, self.validation = blocks, [], [], []
        self._start = self._end = None

    def _read(self):
        return [(block.nfe_forward, block.nfe_backward) for block in self.blocks]

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._end = self._read(), None

    def on_test_begin(self, logs=None):
        self._end = self._end or self._read()

    def on_train_batch_end(self, batch, logs=None):
        self.batch_logs.append({k: v for k, v in logs.items() if "nfe" in k})

    def on_epoch_end(self, epoch, logs=None):
        end = self._end or self._read()
        self.validation.append(self._read() != end)  # validation called the blocks
        self.increases.append([(f1 - f0, b1 - b0) for (f0, b0), (f1, b1) in zip(self._start, end)])


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(12, 2)).astype("float32"), np.zeros((12, 2), "float32")


def _fit(model, logger, **kwargs):
    blocks = find_ode_blocks(model)
    recorder = Recorder(blocks)
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x, y = _data()
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False,
                        callbacks=[logger, recorder, *kwargs.pop("callbacks", [])], **kwargs)
    return history.history, recorder


@pytest.mark.parametrize("gradient", ["backprop", "adjoint"])
def test_one_block_logs_the_counters_increase_per_training_batch(gradient):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), ODEBlock(Field(), gradient=gradient)])
    logs, recorder = _fit(model, NFELogger())
    for epoch, [(forward, backward)] in enumerate(recorder.increases):
        assert logs["nfe_forward"][epoch] == pytest.approx(forward / BATCHES)
        assert logs["nfe_backward"][epoch] == pytest.approx(backward / BATCHES)
        assert forward >= 6 * BATCHES
    assert (min(logs["nfe_backward"]) > 0) == (gradient == "adjoint")
    assert max(logs["nfe_backward"]) == 0 or gradient == "adjoint"
    assert not any(recorder.batch_logs[0])  # per batch only when asked


def test_two_blocks_in_nested_models_are_logged_under_their_names_without_validation_calls():
    keras.utils.set_random_seed(0)
    inner = keras.Sequential([ODEBlock(Field(), gradient="backprop", name="second")])
    model = keras.Sequential([keras.Input((2,)), ODEBlock(Field(), name="first"), inner])
    logger = NFELogger()
    x, y = _data()
    logs, recorder = _fit(model, logger, validation_data=(x[:4], y[:4]))
    assert [block.name for block in logger.blocks] == ["first", "second"]
    assert not {"nfe_forward", "nfe_backward"} & set(logs)
    for epoch, increases in enumerate(recorder.increases):
        for name, (forward, backward) in zip(("first", "second"), increases):
            assert logs[f"{name}/nfe_forward"][epoch] == pytest.approx(forward / BATCHES)
            assert logs[f"{name}/nfe_backward"][epoch] == pytest.approx(backward / BATCHES)
    assert min(logs["first/nfe_backward"]) > 0 and max(logs["second/nfe_backward"]) == 0
    # Validation ran and called the blocks, yet is not in the figures.
    assert "val_loss" in logs and recorder.validation == [True, True]


def test_csv_logger_writes_the_nfe_columns(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), ODEBlock(Field())])
    path = tmp_path / "log.csv"
    logs, _ = _fit(model, NFELogger(), callbacks=[keras.callbacks.CSVLogger(str(path))])
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2
    for row, forward, backward in zip(rows, logs["nfe_forward"], logs["nfe_backward"]):
        assert float(row["nfe_forward"]) == pytest.approx(forward)
        assert float(row["nfe_backward"]) == pytest.approx(backward) and backward > 0


def test_per_batch_figures_reach_later_callbacks_and_average_to_the_epochs():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), ODEBlock(Field())])
    logs, recorder = _fit(model, NFELogger(per_batch=True))
    batch_logs = recorder.batch_logs
    assert len(batch_logs) == 2 * BATCHES
    assert all(set(b) == {"nfe_forward", "nfe_backward"} for b in batch_logs)
    assert all(b["nfe_forward"] >= 6 and b["nfe_backward"] > 0 for b in batch_logs)
    for epoch in range(2):
        batches = batch_logs[epoch * BATCHES:(epoch + 1) * BATCHES]
        for key in ("nfe_forward", "nfe_backward"):
            assert np.mean([b[key] for b in batches]) == pytest.approx(logs[key][epoch])


def test_a_model_without_blocks_and_wrong_blocks_are_refused():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    x, y = _data()
    with pytest.raises(ValueError, match="no ODEBlock"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[NFELogger()])
    with pytest.raises(TypeError, match="ODEBlock"):
        NFELogger(blocks=[keras.layers.Dense(2)])
