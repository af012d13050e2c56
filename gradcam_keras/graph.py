"""One forward pass through a Keras model that also yields an inner layer's output and the logits.

Building ``keras.Model(model.inputs, [inner_layer.output, model.output])`` fails when the layer
sits inside a nested model ("Graph disconnected": the inner tensor belongs to the sub-model's own
graph), and it needs the model to have been called. Instead the model's layer graph is run again,
layer by layer, recursing into the nested models on the way to the layer: the inner feature map
and the outer scores then come from the same computation, so gradients flow between them.

The head is handled on the way: when the model's last operation squashes its scores (a softmax
or sigmoid activation, a ``Softmax`` layer), its input is returned instead, computed with the
layer's own live weights. The caller's model is never modified.
"""

import keras
import tensorflow as tf
from keras import ops

from gradcam_keras.errors import InputError

_SQUASHING = frozenset({"softmax", "sigmoid"})


def is_squashing(layer):
    """Whether ``layer`` ends by mapping scores to probabilities (softmax or sigmoid)."""
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) in _SQUASHING


def final_operation(model):
    """Return the operation that produces the single output of ``model``."""
    if isinstance(model, keras.Sequential):
        return model.layers[-1]
    return model.outputs[0]._keras_history.operation


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


class ForwardPass:
    """Runs a model once, returning the output of one inner layer and the scores before the head.

    Args:
        model: a Sequential or functional Keras model with one input and one output.
        chain: the nested models on the way to the layer, then the layer (``LayerRef.chain``).
        on_capture: called with the layer's output as soon as it is computed; returns the tensor
            the rest of the model continues with (e.g. after ``tape.watch``).

    Example:
        >>> features, logits = ForwardPass(model, ref.chain, lambda t: t)(images)
    """

    def __init__(self, model, chain, on_capture):
        self._model = model
        self._chain = tuple(chain)
        self._on_capture = on_capture
        self._captured = []

    def __call__(self, inputs):
        """Return ``(layer_output, logits)`` for a batch of model inputs."""
        self._captured = []
        logits = self._run(self._model, inputs, final=True)
        if len(self._captured) != 1:
            raise InputError(
                f"layer {self._chain[-1].name!r} is called {len(self._captured)} times in one "
                "forward pass (a shared layer); Grad-CAM needs one feature map per image, pick "
                "a layer that is used once"
            )
        return self._captured[0], logits

    def _run(self, model, inputs, final):
        if isinstance(model, keras.Sequential):
            return self._run_sequential(model, inputs, final)
        if not hasattr(model, "_run_through_graph"):
            raise TypeError(
                f"model {model.name!r} is a subclassed model; its layer graph cannot be re-run, "
                "so wrap it in a functional or Sequential model"
            )
        outputs = model._run_through_graph(
            [inputs], operation_fn=lambda op: self._caller(model, op, final)
        )
        return outputs[0] if isinstance(outputs, (list, tuple)) else outputs

    def _run_sequential(self, model, inputs, final):
        x = inputs
        for layer in model.layers:
            x = self._caller(model, layer, final)(x)
        return x

    def _caller(self, model, op, final):
        is_final = final and op is final_operation(model)

        def call(*args, **kwargs):
            if isinstance(op, keras.Model) and (is_final or any(op is c for c in self._chain)):
                out = self._run(op, args[0], final=is_final)
            elif is_final and is_squashing(op):
                out = pre_activation(op, args[0])
            elif self._captured and _is_plain_dense(op, args[0]) and not kwargs:
                out = dense(op, args[0])  # differentiated below: use the fast gradient
            else:
                out = op(*args, **kwargs)
            if op is self._chain[-1]:
                out = self._on_capture(out)
                self._captured.append(out)
            return out

        return call
