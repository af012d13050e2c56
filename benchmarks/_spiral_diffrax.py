"""The ode_demo training step in JAX with diffrax, behind the interface of ``_spiral_runners``.

The same field, initial weights, batches, tolerances (dopri5 at rtol 1e-7 / atol 1e-9, an RMS
norm) and optimiser (optax's RMSprop with torch's epsilon outside the square root) as the other
runners; the whole training step (solve, L1 loss, gradient, update) is one ``jax.jit``. The batch
is one state ``[20, 1, 2]`` solved at once, as torchdiffeq and ode_keras do, so that the step-size
controller sees the batch as one system; ``per_sample=True`` solves each start on its own under
``jax.vmap`` instead (diffrax's idiom, with 20 step-size sequences).

``adjoint`` is diffrax's name for the gradient path: ``"backsolve"`` (``BacksolveAdjoint``, the
continuous adjoint: a backward solve of the augmented system) or ``"checkpoint"``
(``RecursiveCheckpointAdjoint``, diffrax's default: exact gradients of the discretisation, by
binomial checkpointing of the step loop).

JAX must run on one CPU thread for a fair comparison, so this module sets ``XLA_FLAGS`` before
jax is first imported (import it before anything else imports jax).
"""

import os

os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402
from _spiral import ATOL, LEARNING_RATE, RMS_RHO, RTOL, TORCH_EPS, batch_times  # noqa: E402

MAX_STEPS = 4096  # diffrax's default, as ode_keras's max_num_steps


def _imports():
    import diffrax
    import jax
    import jax.numpy as jnp
    import optax

    return diffrax, jax, jnp, optax


class Diffrax:
    """diffrax ``Dopri5`` with a ``PIDController`` (an I-controller at its defaults)."""

    def __init__(self, name, weights, adjoint, per_sample=False):
        diffrax, jax, jnp, optax = _imports()
        self.name, self.jax, self.jnp, self.diffrax = name, jax, jnp, diffrax
        self.adjoint = {"backsolve": diffrax.BacksolveAdjoint(),
                        "checkpoint": diffrax.RecursiveCheckpointAdjoint()}[adjoint]
        self.per_sample = per_sample
        self.params = [jnp.asarray(w) for w in weights]
        self.optimizer = optax.rmsprop(LEARNING_RATE, decay=RMS_RHO, eps=TORCH_EPS,
                                       eps_in_sqrt=False)
        self.opt_state = self.optimizer.init(self.params)
        self.batch_t = jnp.asarray(batch_times(1, weights[0].dtype))
        self._train = jax.jit(self._train_step)
        self._loss_and_grad = jax.jit(jax.value_and_grad(self._loss, has_aux=True))

    @staticmethod
    def _field(t, y, params):
        kernel1, bias1, kernel2, bias2 = params
        import jax.numpy as jnp

        return jnp.tanh(y**3 @ kernel1 + bias1) @ kernel2 + bias2

    def _solve_one(self, y0, params):
        diffrax = self.diffrax
        solution = diffrax.diffeqsolve(
            diffrax.ODETerm(self._field), diffrax.Dopri5(), t0=self.batch_t[0],
            t1=self.batch_t[-1], dt0=None, y0=y0, args=params,
            saveat=diffrax.SaveAt(ts=self.batch_t),
            stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
            adjoint=self.adjoint, max_steps=MAX_STEPS)
        return solution.ys, solution.stats["num_steps"]

    def _loss(self, params, batch_y0, batch_y):
        if self.per_sample:
            pred, steps = self.jax.vmap(self._solve_one, in_axes=(0, None))(batch_y0, params)
            pred, steps = self.jnp.swapaxes(pred, 0, 1), self.jnp.sum(steps)
        else:
            pred, steps = self._solve_one(batch_y0, params)
        return self.jnp.mean(self.jnp.abs(pred - batch_y)), steps

    def _train_step(self, params, opt_state, batch_y0, batch_y):
        import optax

        (loss, steps), grads = self.jax.value_and_grad(self._loss, has_aux=True)(
            params, batch_y0, batch_y)
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, steps

    def prepare(self, batch):
        """Convert a numpy batch to device arrays, once, before timing."""
        return tuple(self.jnp.asarray(part) for part in batch)

    def step(self, batch):
        """One training step; NFE-F is Dopri5's 6 evaluations per step plus the 2 of its start.

        diffrax does not count the backward pass's evaluations, so NFE-B is None.
        """
        self.params, self.opt_state, loss, steps = self._train(self.params, self.opt_state,
                                                               *batch)
        loss = float(loss.block_until_ready())
        return loss, 2 + 6 * int(steps), None

    def gradients(self, batch):
        """``(loss, [grad per variable])`` of one step, without updating (for the checks)."""
        (loss, _), grads = self._loss_and_grad(self.params, *self.prepare(batch))
        return float(loss), [np.asarray(g) for g in grads]
