"""Every use of Keras private API in ode_keras, in one place.

Checked against Keras 3.15.1 on TensorFlow 2.21;
``tests/ode_keras/test_keras_private_api.py`` fails loudly, naming what changed, if a Keras
release changes them:

- ``Layer.build._is_default``: Keras marks the base class's ``build`` this way. ODEBlock builds
  its odefunc itself when the odefunc overrides ``build``, and needs to tell the two apart.
- ``keras.Variable._value``: the backend ``tf.Variable`` behind a Keras variable. The public
  ``.value`` is a cast tensor inside a mixed-precision autocast scope, so the adjoint and the
  gradient tapes look at ``_value`` too.
"""

import inspect

import tensorflow as tf


def has_single_shape_build(layer):
    """Whether ``layer`` overrides ``build`` with one shape argument, ``build(input_shape)``."""
    build = type(layer).build
    if getattr(build, "_is_default", False):
        return False
    parameters = list(inspect.signature(build).parameters.values())[1:]  # drop self
    return len(parameters) == 1


def backend_variable(variable):
    """The ``tf.Variable`` behind a Keras 3 variable (what tapes and custom_gradient see).

    Raises:
        TypeError: ``variable`` is neither a ``tf.Variable`` nor a Keras variable holding one.
    """
    if isinstance(variable, tf.Variable):
        return variable
    for backend in (getattr(variable, "value", None), getattr(variable, "_value", None)):
        if isinstance(backend, tf.Variable):
            return backend
    raise TypeError(
        "adjoint_params must hold variables (tf.Variable or keras.Variable, e.g. "
        f"model.trainable_variables), got {type(variable).__name__}: {variable!r}.")
