"""The one runner through a Keras model's graph, and every use of Keras private API.

Building ``keras.Model(model.inputs, [inner_layer.output, model.output])`` fails when the layer
sits inside a nested model ("Graph disconnected": the inner tensor belongs to the sub-model's own
graph), and it needs the model to have been called. Instead ``GraphRunner`` runs the model's
layer graph again, layer by layer, with the live layers and weights, recursing into nested
models, and lets a subclass change what single operations compute: ``ForwardPass`` (the CAMs)
captures an inner layer's output, and ``gradcam_keras.methods.guided`` gates every ReLU's
gradient. The inner feature map and the outer scores then come from the same computation, so
gradients flow between them, and the caller's model is never modified.

The head is handled on the way: when the model's last operation squashes its scores (a softmax
or sigmoid activation, a ``Softmax`` layer), its input is returned instead, computed with the
layer's own live weights.

Keras private API, used here and nowhere else in gradcam_keras (checked against Keras 3.15.1 on
TensorFlow 2.21; ``tests/gradcam_keras/test_keras_private_api.py`` fails loudly if a Keras
release changes them):

- ``Functional._run_through_graph(inputs, operation_fn=...)``: runs a functional model's graph,
  calling ``operation_fn(op)`` to get the callable used for each operation.
- ``KerasTensor._keras_history.operation``: the operation that produced a model's output.

and one attribute of TensorFlow's ``tf.function`` objects, ``_omit_frequent_tracing_warning``
(see ``traced_once_per_object``).
"""

import keras
import tensorflow as tf
from keras import ops

from gradcam_keras.errors import InputError

_SQUASHING = frozenset({"softmax", "sigmoid"})


def traced_once_per_object(function):
    """Return ``function`` (a ``tf.function``) with TensorFlow's "retracing" warning turned off.

    TensorFlow counts traces per Python code object, not per ``tf.function``: a script that
    builds five CAM objects traces ``BaseCAM._step`` five times, once each, and TensorFlow
    then warns of "excessive retracing" although no function was ever traced twice for the
    same input signature (each is traced once per input shape, by design).
    """
    function._omit_frequent_tracing_warning = True
    return function


def can_rerun(model):
    """Whether ``model``'s layer graph can be re-run (Sequential or functional, not subclassed)."""
    return isinstance(model, keras.Sequential) or hasattr(model, "_run_through_graph")


def final_operation(model):
    """Return the operation that produces the single output of ``model``."""
    if isinstance(model, keras.Sequential):
        return model.layers[-1]
    return model.outputs[0]._keras_history.operation


def is_squashing(layer):
    """Whether ``layer`` ends by mapping scores to probabilities (softmax or sigmoid)."""
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) in _SQUASHING


def has_squashing_head(model):
    """Whether the last operation of ``model`` (nested models followed) is a squashing one."""
    op = final_operation(model)
    while isinstance(op, keras.Model):
        op = final_operation(op)
    return is_squashing(op)


@tf.custom_gradient
def matmul(x, kernel):
    """``x @ kernel`` whose gradient for ``x`` is computed as ``(kernel @ dy^T)^T``.

    Same values as ``tf.matmul``'s gradient ``dy @ kernel^T``, but TensorFlow's CPU kernel for
    a transposed right operand is several times slower on large weight matrices: on VGG19's
    25088x4096 fc1 it made the backward pass from the scores to block5_conv4 cost as much as
    an eighth of the forward pass.
    """
    def grad(upstream):
        grad_x = tf.transpose(tf.matmul(kernel, upstream, transpose_b=True))
        return grad_x, tf.matmul(x, upstream, transpose_a=True)

    return tf.matmul(x, kernel), grad


def dense(layer, x, activation=True):
    """``layer(x)`` for a plain ``keras.layers.Dense`` on ``[batch, features]``, via ``matmul``."""
    x = ops.cast(x, layer.compute_dtype)
    y = matmul(x, ops.cast(layer.kernel, x.dtype))
    y = y if layer.bias is None else y + ops.cast(layer.bias, x.dtype)
    return layer.activation(y) if activation and layer.activation is not None else y


def _is_plain_dense(layer, x):
    return (type(layer) is keras.layers.Dense and len(x.shape) == 2
            and not getattr(layer, "quantization_mode", None))


def pre_activation(layer, x):
    """Return what ``layer(x)`` computes before its squashing activation.

    Uses the layer's current weights (``layer.kernel``, ``layer.bias``), so it stays right if the
    model is trained further.

    Raises:
        InputError: for a squashing layer type whose pre-activation cannot be computed here.
    """
    if isinstance(layer, (keras.layers.Softmax, keras.layers.Activation)):
        return x
    if _is_plain_dense(layer, x):
        return dense(layer, x, activation=False)
    conv_like = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
    if isinstance(layer, conv_like) and layer.data_format == "channels_last":
        y = layer.convolution_op(x, ops.cast(layer.kernel, x.dtype))
        return y if layer.bias is None else y + ops.cast(layer.bias, x.dtype)
    raise InputError(
        f"the model's last layer {layer.name!r} ({type(layer).__name__}) applies "
        f"{layer.activation.__name__}, and its input cannot be recomputed without changing "
        "the model; pass score='softmax' (CLI: --score softmax) or a model whose last layer "
        "is linear, or a separate Softmax/Activation layer"
    )


class GraphRunner:
    """Runs a model's layer graph again and returns its scores before a squashing head.

    Subclasses change single operations through three hooks: ``descend(model, is_final)``
    (run a nested model's graph instead of calling it; default: always), ``apply(op, args,
    kwargs)`` (compute one operation; default: call it) and ``after(op, out)`` (see or replace
    its output; default: unchanged).
    """

    def run(self, model, inputs):
        """Return the output of ``model`` on ``inputs``, a final softmax/sigmoid left out."""
        return self._run(model, inputs, final=True)

    def descend(self, model, is_final):
        """Whether a nested model is run operation by operation (True) or called whole."""
        del model, is_final
        return True

    def apply(self, op, args, kwargs):
        """Compute one operation."""
        return op(*args, **kwargs)

    def after(self, op, out):
        """Return what the rest of the graph continues with after ``op`` gave ``out``."""
        del op
        return out

    def _run(self, model, inputs, final):
        if isinstance(model, keras.Sequential):
            x = inputs
            for layer in model.layers:
                x = self._caller(model, layer, final)(x)
            return x
        if not can_rerun(model):
            raise TypeError(
                f"model {model.name!r} is a subclassed model; its layer graph cannot be re-run, "
                "so wrap it in a functional or Sequential model"
            )
        outputs = model._run_through_graph(
            [inputs], operation_fn=lambda op: self._caller(model, op, final)
        )
        return outputs[0] if isinstance(outputs, (list, tuple)) else outputs

    def _caller(self, model, op, final):
        is_final = final and op is final_operation(model)

        def call(*args, **kwargs):
            if isinstance(op, keras.Model) and self.descend(op, is_final):
                out = self._run(op, args[0], final=is_final)
            elif is_final and is_squashing(op):
                out = pre_activation(op, args[0])
            else:
                out = self.apply(op, args, kwargs)
            return self.after(op, out)

        return call


class ForwardPass(GraphRunner):
    """Runs a model once, returning the output of one inner layer and the scores before the head.

    Args:
        model: a Sequential or functional Keras model with one input and one output.
        chain: the nested models on the way to the layer, then the layer (``LayerRef.chain``).
        on_capture: called with the layer's output as soon as it is computed; returns the tensor
            the rest of the model continues with (e.g. after ``tape.watch``).
    """

    def __init__(self, model, chain, on_capture):
        self._model = model
        self._chain = tuple(chain)
        self._on_capture = on_capture
        self._captured = []

    def __call__(self, inputs):
        """Return ``(layer_output, logits)`` for a batch of model inputs."""
        self._captured = []
        logits = self.run(self._model, inputs)
        if not self._captured:
            raise InputError(
                f"layer {self._chain[-1].name!r} is not computed on the way from the model's "
                "input to its output (an input layer, or a layer outside that path); pick a "
                "convolutional layer the model uses (see --list-layers)")
        if len(self._captured) != 1:
            raise InputError(
                f"layer {self._chain[-1].name!r} is called {len(self._captured)} times in one "
                "forward pass (a shared layer); Grad-CAM needs one feature map per image, pick "
                "a layer that is used once"
            )
        return self._captured[0], logits

    def descend(self, model, is_final):
        """Only the nested models on the way to the layer, and a final one (for its head)."""
        return is_final or any(model is c for c in self._chain)

    def apply(self, op, args, kwargs):
        """Dense layers after the capture use ``matmul``'s fast gradient."""
        if self._captured and _is_plain_dense(op, args[0]) and not kwargs:
            return dense(op, args[0])
        return op(*args, **kwargs)

    def after(self, op, out):
        """Capture the layer's output (through ``on_capture``)."""
        if op is self._chain[-1]:
            out = self._on_capture(out)
            self._captured.append(out)
        return out
