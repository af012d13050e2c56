"""The Keras private API that ``ode_keras._keras_private`` relies on is still there and still
means what it did (checked on Keras 3.15.1, TensorFlow 2.21). A failure here names what changed."""

import keras
import tensorflow as tf

from ode_keras._keras_private import backend_variable, has_single_shape_build


def test_the_base_build_is_still_marked_as_the_default():
    assert getattr(keras.layers.Layer.build, "_is_default", False), (
        "keras.layers.Layer.build lost its _is_default mark: ode_keras._keras_private."
        "has_single_shape_build needs another way to see whether build is overridden")

    class Plain(keras.layers.Layer):
        def call(self, t, y):
            return y

    class ShapeBuild(Plain):
        def build(self, input_shape):
            self.built = True

    class TwoShapeBuild(Plain):
        def build(self, t_shape, y_shape):
            self.built = True

    assert [has_single_shape_build(cls()) for cls in (Plain, ShapeBuild, TwoShapeBuild)] == [
        False, True, False]


def test_keras_variables_are_found_inside_a_mixed_precision_autocast_scope():
    # Inside a mixed_float16 layer call, keras.Variable.value is a float16 copy; the
    # adjoint must still reach the tf.Variable itself, through the private _value.
    from keras.src.backend.common.variables import AutocastScope

    dense = keras.layers.Dense(2)
    dense.build((None, 3))
    with AutocastScope("float16"):
        assert not isinstance(dense.kernel.value, tf.Variable)
        assert isinstance(dense.kernel._value, tf.Variable), (
            "keras.Variable._value is no longer the backend tf.Variable")
        assert backend_variable(dense.kernel) is dense.kernel._value
