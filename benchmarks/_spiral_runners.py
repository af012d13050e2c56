"""One ode_demo training step per framework, behind one interface.

A runner owns its field and optimizer, built from the same initial weights, and has
``step(batch) -> (loss, nfe_forward, nfe_backward)`` (floats/ints; ``nfe_backward`` is None where
the backward pass is backpropagation through the solver rather than a solve). Batches come from
:func:`_spiral.batches` and are converted once per runner by ``prepare(batch)``.
"""

import numpy as np
import tensorflow as tf
from _spiral import ATOL, BATCH_SIZE, BATCH_TIME, RTOL, batch_times, keras_field, keras_optimizer

from ode_keras import SolverCounter, odeint, odeint_adjoint


def l1_loss(pred, batch_y):
    """ode_demo's loss: the mean absolute error over the batch."""
    return tf.reduce_mean(tf.abs(pred - batch_y))


class _KerasRunner:
    """Shared plumbing of the TensorFlow runners: field, optimizer, a traced train step."""

    def __init__(self, name, weights, jit_compile, stride=1):
        self.name = name
        self.dtype = tf.as_dtype(weights[0].dtype)
        self.field = keras_field(weights)
        self.optimizer = keras_optimizer(self.field)
        self.batch_t = tf.constant(batch_times(stride, weights[0].dtype))
        # A fixed signature: one trace for the whole run, whatever the batch.
        signature = [tf.TensorSpec([BATCH_SIZE, 1, 2], self.dtype),
                     tf.TensorSpec([BATCH_TIME, BATCH_SIZE, 1, 2], self.dtype)]
        self._train = tf.function(self._train_step, input_signature=signature,
                                  jit_compile=jit_compile)

    def prepare(self, batch):
        """Convert a numpy batch to tensors, once, before timing."""
        return tuple(tf.constant(part, self.dtype) for part in batch)

    def _train_step(self, batch_y0, batch_y):
        variables = self.field.trainable_variables
        with tf.GradientTape() as tape:
            pred, nfe_forward = self.solve(batch_y0)
            loss = l1_loss(pred, batch_y)
        grads = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        return loss, nfe_forward

    def gradients(self, batch):
        """``(loss, [grad per variable])`` of one step, without updating (for the checks)."""
        batch_y0, batch_y = self.prepare(batch)
        with tf.GradientTape() as tape:
            pred, _ = self.solve(batch_y0)
            loss = l1_loss(pred, batch_y)
        grads = tape.gradient(loss, self.field.trainable_variables)
        return float(loss), [g.numpy() for g in grads]

    def step(self, batch):
        """One training step on a prepared batch; returns ``(loss, nfe_f, nfe_b)``."""
        loss, nfe_forward = self._train(*batch)
        return float(loss), int(nfe_forward), None

    def trace_count(self):
        """How many times the train step was traced (1 means no retracing)."""
        return self._train.experimental_get_tracing_count()


class OdeKerasDirect(_KerasRunner):
    """``ode_keras.odeint``: exact gradients, by backpropagation through the dopri5 steps
    (``gradient="backprop"``) or by checkpointed backpropagation (``"checkpoint"``)."""

    def __init__(self, name, weights, jit_compile=False, options=None, gradient="backprop"):
        super().__init__(name, weights, jit_compile)
        self.options, self.gradient = options, gradient

    def solve(self, batch_y0):
        """Predicted trajectory and the forward NFE."""
        pred, stats = odeint(self.field, batch_y0, self.batch_t, rtol=RTOL, atol=ATOL,
                             options=self.options, return_stats=True, gradient=self.gradient)
        return pred, stats["nfe"]


class OdeKerasAdjoint(_KerasRunner):
    """``ode_keras.odeint_adjoint``, with a :class:`SolverCounter` for NFE-F and NFE-B."""

    def __init__(self, name, weights, jit_compile=False, adjoint_options=None, stride=1):
        super().__init__(name, weights, jit_compile, stride)
        self.adjoint_options = adjoint_options
        self.counter = SolverCounter()

    def solve(self, batch_y0):
        """Predicted trajectory and the forward NFE (the counter also gets the backward NFE)."""
        # The field's trainable variables are its adjoint_params by default.
        pred, stats = odeint_adjoint(self.field, batch_y0, self.batch_t, rtol=RTOL, atol=ATOL,
                                     adjoint_options=self.adjoint_options, return_stats=True,
                                     counter=self.counter)
        return pred, stats["nfe"]

    def step(self, batch):
        """One training step; NFE-B is the counter's increase during the step."""
        before = int(self.counter.nfe_backward)
        loss, nfe_forward, _ = super().step(batch)
        return loss, nfe_forward, int(self.counter.nfe_backward) - before


class TfpDormandPrince(_KerasRunner):
    """TensorFlow Probability's ``DormandPrince``, whose gradient is always its adjoint.

    With ``count_backward=True`` the field increments a variable on every evaluation, so the
    backward NFE is the total minus TFP's forward count (kept out of the timed runs).
    """

    def __init__(self, name, weights, jit_compile=False, count_backward=False):
        super().__init__(name, weights, jit_compile)
        import tensorflow_probability as tfp

        self.solver = tfp.math.ode.DormandPrince(rtol=RTOL, atol=ATOL)
        self.evaluations = tf.Variable(0, dtype=tf.int64, trainable=False) \
            if count_backward else None

    def _func(self, t, y):
        if self.evaluations is not None:
            self.evaluations.assign_add(1)
        return self.field(t, y)

    def solve(self, batch_y0):
        """Predicted trajectory (at ``solution_times=batch_t``) and the forward NFE."""
        results = self.solver.solve(self._func, self.batch_t[0], batch_y0,
                                    solution_times=self.batch_t)
        return results.states, results.diagnostics.num_ode_fn_evaluations

    def step(self, batch):
        """One training step; NFE-B only when counting."""
        before = None if self.evaluations is None else int(self.evaluations)
        loss, nfe_forward, _ = super().step(batch)
        if before is None:
            return loss, nfe_forward, None
        return loss, nfe_forward, int(self.evaluations) - before - nfe_forward


class TorchDiffEq:
    """torchdiffeq's ``odeint`` or ``odeint_adjoint``, the ode_demo training step verbatim."""

    def __init__(self, name, weights, adjoint, adjoint_options=None, stride=1):
        import torch
        import torchdiffeq
        from _spiral import torch_field, torch_optimizer

        self.name, self.torch = name, torch
        self.dtype = torch.float64 if weights[0].dtype == np.float64 else torch.float32
        self.field = torch_field(weights)
        self.optimizer = torch_optimizer(self.field)
        self.batch_t = torch.from_numpy(batch_times(stride, weights[0].dtype))
        self.odeint = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
        self.adjoint = adjoint
        self.extra = {"adjoint_options": adjoint_options} if adjoint_options else {}

    def prepare(self, batch):
        """Convert a numpy batch to tensors, once, before timing."""
        return tuple(self.torch.from_numpy(np.ascontiguousarray(part)) for part in batch)

    def _loss(self, batch_y0, batch_y):
        pred = self.odeint(self.field, batch_y0, self.batch_t, rtol=RTOL, atol=ATOL,
                           method="dopri5", **self.extra)
        return self.torch.mean(self.torch.abs(pred - batch_y))

    def step(self, batch):
        """One training step; returns ``(loss, nfe_f, nfe_b)`` from the field's counter."""
        self.optimizer.zero_grad()
        start = self.field.nfe
        loss = self._loss(*batch)
        forward = self.field.nfe
        loss.backward()
        self.optimizer.step()
        backward = self.field.nfe - forward if self.adjoint else None
        return loss.item(), forward - start, backward

    def gradients(self, batch):
        """``(loss, [grad per variable])`` in the Keras layout, without updating."""
        self.optimizer.zero_grad()
        loss = self._loss(*self.prepare(batch))
        loss.backward()
        net = self.field.net
        grads = [net[0].weight.grad.T, net[0].bias.grad, net[2].weight.grad.T, net[2].bias.grad]
        return loss.item(), [g.numpy().copy() for g in grads]
