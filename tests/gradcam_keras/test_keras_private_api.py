"""The Keras private API that ``gradcam_keras._graph`` relies on is still there and still means
what it did (checked on Keras 3.15.1, TensorFlow 2.21). A failure here names what changed."""

import inspect

import keras
import numpy as np
from keras import layers

from gradcam_keras import _graph


def _functional():
    inputs = keras.Input((3,))
    return keras.Model(inputs, layers.Dense(2, name="out")(layers.Dense(4, name="h")(inputs)))


def test_functional_models_still_run_their_graph_with_an_operation_fn():
    model = _functional()
    assert hasattr(model, "_run_through_graph"), (
        "keras.Model lost _run_through_graph: gradcam_keras._graph.GraphRunner needs a new way "
        "to re-run a functional model's graph")
    parameters = inspect.signature(model._run_through_graph).parameters
    assert "operation_fn" in parameters, f"_run_through_graph now takes {list(parameters)}"
    seen = []

    def operation_fn(op):
        seen.append(op.name)
        return op

    x = np.ones((2, 3), np.float32)
    out = model._run_through_graph([x], operation_fn=operation_fn)
    out = out[0] if isinstance(out, (list, tuple)) else out
    np.testing.assert_allclose(np.asarray(out), np.asarray(model(x)), rtol=1e-6)
    assert seen == ["h", "out"], f"operation_fn was called for {seen}"


def test_keras_history_still_names_the_operation_of_an_output():
    model = _functional()
    assert model.outputs[0]._keras_history.operation is model.get_layer("out")
    assert _graph.final_operation(model) is model.get_layer("out")
    assert _graph.can_rerun(model) and _graph.can_rerun(keras.Sequential([layers.Dense(1)]))
