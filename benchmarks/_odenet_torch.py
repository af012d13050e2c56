"""torchdiffeq's ODE-Net for MNIST, in torch, initialised from the Keras model's weights.

The architecture of torchdiffeq's ``examples/odenet_mnist.py`` (Chen et al. 2018): a
downsampling stem (28x28 -> 6x6, 64 channels), one ODE block whose field is GroupNorm, ReLU,
a convolution that also sees ``t``, GroupNorm, ReLU, the same again, GroupNorm, and a
GroupNorm-ReLU-pooling-linear head. It mirrors ``ode_keras.examples._mnist_models`` layer for
layer, so :func:`load_keras_weights` can copy every weight across; the layouts differ (torch
is channels-first), which it converts.
"""

import numpy as np
import torch
from torch import nn

CHANNELS = 64


def _group_norm(channels=CHANNELS):
    # min(32, channels) groups and epsilon 1e-5, as in the Keras model.
    return nn.GroupNorm(min(32, channels), channels, eps=1e-5)


class TimeConv(nn.Module):
    """A 3x3 convolution of ``[t, x]``: the time as an extra first input channel."""

    def __init__(self, channels=CHANNELS):
        super().__init__()
        self.conv = nn.Conv2d(channels + 1, channels, 3, padding=1)

    def forward(self, t, x):
        time_channel = torch.ones_like(x[:, :1]) * t
        return self.conv(torch.cat([time_channel, x], dim=1))


class Field(nn.Module):
    """The ODE-Net's right-hand side; ``nfe`` counts its evaluations (forward and backward)."""

    def __init__(self, channels=CHANNELS):
        super().__init__()
        self.norms = nn.ModuleList(_group_norm(channels) for _ in range(3))
        self.convs = nn.ModuleList(TimeConv(channels) for _ in range(2))
        self.nfe = 0

    def forward(self, t, x):
        self.nfe += 1
        out = self.convs[0](t, torch.relu(self.norms[0](x)))
        out = self.convs[1](t, torch.relu(self.norms[1](out)))
        return self.norms[2](out)


class Block(nn.Module):
    """Integrates the field over t in [0, 1] with dopri5 by ``odeint`` or ``odeint_adjoint``."""

    def __init__(self, tol, adjoint):
        super().__init__()
        import torchdiffeq

        self.field = Field()
        self.tol = tol
        self.solve = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint

    def forward(self, x):
        times = torch.tensor([0.0, 1.0], dtype=x.dtype)
        return self.solve(self.field, x, times, rtol=self.tol, atol=self.tol,
                          method="dopri5")[-1]


def build(tol=1e-3, adjoint=False):
    """The classifier, an ``nn.Sequential``; its ``[7]`` is the :class:`Block`."""
    return nn.Sequential(
        nn.Conv2d(1, CHANNELS, 3), _group_norm(), nn.ReLU(),
        nn.Conv2d(CHANNELS, CHANNELS, 4, 2, 1), _group_norm(), nn.ReLU(),
        nn.Conv2d(CHANNELS, CHANNELS, 4, 2, 1),
        Block(tol, adjoint),
        _group_norm(), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(CHANNELS, 10))


def parameters_in_keras_order(model):
    """The torch parameters in the order of the Keras model's ``trainable_variables``.

    Keras orders a Sequential's variables layer by layer; inside the ODE field, the three
    GroupNorms come before the two convolutions (the order their attributes are set in
    ``ODEFunc.__init__``), and each layer lists kernel/gamma before bias/beta, as torch does.
    """
    layers = []
    for module in model:
        if isinstance(module, Block):
            layers += [*module.field.norms, *(c.conv for c in module.field.convs)]
        else:
            layers.append(module)
    return [p for layer in layers for p in layer.parameters()]


def to_torch_layout(value):
    """A Keras weight in torch layout: kernels HWIO to OIHW, dense ``[in, out]`` transposed."""
    value = np.asarray(value)
    if value.ndim == 4:
        return value.transpose(3, 2, 0, 1)
    if value.ndim == 2:
        return value.T
    return value


def to_keras_layout(value):
    """The inverse of :func:`to_torch_layout`."""
    if value.ndim == 4:
        return value.transpose(2, 3, 1, 0)
    if value.ndim == 2:
        return value.T
    return value


def load_keras_weights(model, keras_variables):
    """Copy the Keras model's ``trainable_variables`` into ``model``, checking every shape."""
    params = parameters_in_keras_order(model)
    if len(params) != len(keras_variables):
        raise ValueError(f"{len(params)} torch parameters, {len(keras_variables)} Keras ones")
    with torch.no_grad():
        for param, variable in zip(params, keras_variables):
            value = to_torch_layout(variable.numpy())
            if tuple(param.shape) != value.shape:
                raise ValueError(f"{variable.path}: Keras {value.shape}, torch {param.shape}")
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


class TorchStep:
    """One SGD training step of the torch ODE-Net, with the NFE counts of the field.

    Args:
        name: Row label.
        keras_variables: The Keras model's ``trainable_variables``, copied in.
        adjoint: ``odeint_adjoint`` if True, else ``odeint`` (backpropagation).
        tol: rtol and atol of dopri5.
        lr, momentum: SGD settings.
    """

    def __init__(self, name, keras_variables, adjoint, tol=1e-3, lr=0.1, momentum=0.9):
        self.name = name
        self.model = build(tol, adjoint)
        load_keras_weights(self.model, keras_variables)
        self.field = self.model[7].field
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=momentum)
        self.loss_fn = nn.CrossEntropyLoss()

    @staticmethod
    def prepare(batch):
        """NHWC numpy images and int labels to NCHW float32 and int64 tensors."""
        images, labels = batch
        return (torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))),
                torch.from_numpy(labels.astype(np.int64)))

    def loss_and_grads(self, prepared):
        """Loss and gradients in place; returns ``(loss, nfe_f, nfe_b)``."""
        images, labels = prepared
        self.optimizer.zero_grad()
        self.field.nfe = 0
        loss = self.loss_fn(self.model(images), labels)
        nfe_f = self.field.nfe
        loss.backward()
        return loss.item(), nfe_f, self.field.nfe - nfe_f

    def step(self, prepared):
        """One training step; returns ``(loss, nfe_f, nfe_b)``."""
        out = self.loss_and_grads(prepared)
        self.optimizer.step()
        return out

    def gradients(self, prepared):
        """The loss and the gradients, Keras layouts and order, without an update."""
        loss, _, _ = self.loss_and_grads(prepared)
        return loss, [to_keras_layout(p.grad.numpy())
                      for p in parameters_in_keras_order(self.model)]
