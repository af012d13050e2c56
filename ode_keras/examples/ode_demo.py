"""Learn the spiral dynamics dy/dt = (y**3) A from short stretches of one trajectory.

The first demonstration of Chen et al. (2018), as in torchdiffeq's ``examples/ode_demo.py``: a
small network f(y) = W2 tanh(W1 y**3 + b1) + b2 is trained so that ``odeint(f, y(t_i), ...)``
reproduces 20 random stretches of 10 points of the true spiral per iteration. Every
``--test_freq`` iterations the whole trajectory is integrated from the true initial state and its
mean absolute error against the truth is printed as ``Iter N | Total Loss X``.

Run::

    python -m ode_keras.examples.ode_demo --niters 2000 --adjoint --viz figures/

Differences from the original, on purpose:

- ``--method`` reaches the solver (the original parses it and never uses it).
- The truth is integrated in float64 (dopri5, rtol 1e-7, atol 1e-9), then cast to the float32 of
  training, so the data carries no float32 round-off of its own.
- States are ``[batch, 2]`` rather than ``[batch, 1, 2]``: the singleton axis only served
  ``torch.mm``.
- RMSprop uses rho=0.99 and epsilon=1e-8, PyTorch's defaults (Keras's are 0.9 and 1e-7).
- The learning rate decays from ``--lr`` to 0 along a cosine over ``--niters``
  (``--lr_schedule constant`` restores the original). At a constant rate the total loss over
  the last 200 iterations jumps between about 0.06-0.10 and 0.40-0.69 from one test to the
  next (seeds 0-4), in torchdiffeq as here, so where a run stops says little; the decay lets
  it settle.
"""
# ruff: noqa: E402 (TensorFlow is imported after the command line is parsed)


from ode_keras.examples import _cli


def build_parser():
    """Returns the command line parser of the spiral demo."""
    parser = _cli.new_parser("ode_demo", __doc__)
    parser.add_argument("--method", choices=_cli.METHODS, default="dopri5")
    parser.add_argument("--step_size", type=float, default=None,
                        help="step size, needed by the fixed-step methods (euler, rk4, ...)")
    parser.add_argument("--data_size", type=int, default=1000)
    parser.add_argument("--batch_time", type=int, default=10)
    parser.add_argument("--batch_size", type=int, default=20)
    parser.add_argument("--niters", type=int, default=2000)
    parser.add_argument("--test_freq", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lr_schedule", choices=("cosine", "constant"), default="cosine",
                        help="cosine: decay --lr to 0 over --niters (default); constant: the "
                             "original's fixed rate, whose last iterations stay noisy")
    parser.add_argument("--adjoint", action="store_true",
                        help="train with odeint_adjoint (O(1) memory) instead of odeint")
    parser.add_argument("--viz", metavar="DIR", default=None, help="write the figures to DIR")
    parser.add_argument("--seed", type=int, default=0)
    return parser


_cli.parse_early(__name__, build_parser)  # --help exits here, before TensorFlow

import time

import keras
import numpy as np
import tensorflow as tf

from ode_keras import odeint, odeint_adjoint
from ode_keras.examples._common import RunningAverage, pyplot, save_figure

TRUE_A = ((-0.1, 2.0), (-2.0, -0.1))
TRUE_Y0 = ((2.0, 0.0),)
T_END = 25.0


def true_dynamics(t, y):
    """The spiral field dy/dt = (y**3) A of the ground truth."""
    del t  # autonomous
    return tf.matmul(y**3, tf.constant(TRUE_A, dtype=y.dtype))


def make_truth(data_size):
    """Integrates the true spiral on ``linspace(0, 25, data_size)``.

    Args:
        data_size: Number of output times.

    Returns:
        ``(t, y)`` as float32 arrays of shapes ``[data_size]`` and ``[data_size, 1, 2]``.
    """
    t = tf.linspace(tf.constant(0.0, tf.float64), T_END, data_size)
    y = odeint(true_dynamics, tf.constant(TRUE_Y0, tf.float64), t, rtol=1e-7, atol=1e-9)
    return t.numpy().astype(np.float32), y.numpy().astype(np.float32)


def get_batch(rng, t, true_y, batch_time, batch_size):
    """Draws ``batch_size`` stretches of ``batch_time`` consecutive points of the truth.

    Returns:
        ``(y0, t, y)``: shapes ``[batch_size, 2]``, ``[batch_time]`` and
        ``[batch_time, batch_size, 2]``; every stretch is timed from 0, as the field is autonomous.
    """
    starts = rng.choice(len(t) - batch_time, size=batch_size, replace=False)
    batch_y = np.stack([true_y[starts + i, 0] for i in range(batch_time)])
    return batch_y[0], t[:batch_time], batch_y


class SpiralODEFunc(keras.layers.Layer):
    """The learned field f(t, y) = W2 tanh(W1 y**3 + b1) + b2, weights N(0, 0.1**2), biases 0.

    Args:
        hidden: Width of the hidden layer. Defaults to 50.
        **kwargs: Base layer keyword arguments.
    """

    def __init__(self, hidden=50, **kwargs):
        super().__init__(**kwargs)
        init = dict(kernel_initializer=keras.initializers.RandomNormal(stddev=0.1),
                    bias_initializer="zeros")
        self.hidden = keras.layers.Dense(hidden, activation="tanh", **init)
        self.out = keras.layers.Dense(2, **init)

    def call(self, t, y):
        return self.out(self.hidden(y**3))


def learning_rate(args):
    """The learning rate of ``args``: a constant, or a cosine decay from ``--lr`` to 0."""
    if args.lr_schedule == "constant":
        return args.lr
    return keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=max(args.niters, 1))


def batch_loss(func, solve, solver_kwargs, batch_y0, batch_t, batch_y):
    """The L1 loss of ``func`` on a batch from ``get_batch``, as a scalar tensor."""
    pred_y = solve(func, batch_y0, batch_t, **solver_kwargs)
    return tf.reduce_mean(tf.abs(pred_y - batch_y))


def make_train_step(func, optimizer, solve, solver_kwargs):
    """Returns a graph-mode training step ``(y0, t, y) -> L1 loss`` that updates ``func``."""

    @tf.function(reduce_retracing=True)
    def train_step(batch_y0, batch_t, batch_y):
        with tf.GradientTape() as tape:
            loss = batch_loss(func, solve, solver_kwargs, batch_y0, batch_t, batch_y)
        grads = tape.gradient(loss, func.trainable_variables)
        optimizer.apply_gradients(zip(grads, func.trainable_variables))
        return loss

    return train_step


def train(args):
    """Trains the spiral model as ``args`` (from ``build_parser``) say; writes figures if asked.

    Returns:
        A list of dicts, before training (iteration 0), then every ``--test_freq`` iterations
        and after the last one: ``iter``, ``total_loss`` (the whole trajectory from the true
        initial state) and ``batch_loss`` (running average of the training batches' loss; at
        iteration 0, the loss of the first batch before training).
    """
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t, true_y = make_truth(args.data_size)
    func = SpiralODEFunc()
    optimizer = keras.optimizers.RMSprop(learning_rate(args), rho=0.99, epsilon=1e-8)
    options = {"step_size": args.step_size} if args.step_size else None
    solver_kwargs = dict(method=args.method, options=options)
    train_step = make_train_step(func, optimizer, odeint_adjoint if args.adjoint else odeint,
                                 solver_kwargs)
    full_solve = tf.function(lambda y0, ts: odeint(func, y0, ts, **solver_kwargs))
    meter, history, start = RunningAverage(), [], time.perf_counter()
    # Iteration 0 reports the loss of the first training batch before any training (there is
    # no running average yet); the batches are drawn one ahead, in the same order as before.
    batch = get_batch(rng, t, true_y, args.batch_time, args.batch_size)
    initial_loss = float(batch_loss(func, odeint, solver_kwargs, *batch))
    for itr in range(args.niters + 1):
        if itr > 0:
            meter.update(train_step(*batch))
            batch = get_batch(rng, t, true_y, args.batch_time, args.batch_size)
        if itr % args.test_freq == 0 or itr == args.niters:
            pred_y = full_solve(true_y[0], t).numpy()
            total = float(np.mean(np.abs(pred_y - true_y)))
            running = meter.avg if itr > 0 else initial_loss
            history.append(dict(iter=itr, total_loss=total, batch_loss=running))
            print(f"Iter {itr:04d} | Total Loss {total:.6f} | Batch Loss {running:.6f} | "
                  f"{time.perf_counter() - start:.1f} s")
    if args.viz:
        plot_spiral(args.viz, t, true_y, pred_y, func)
    return history


def plot_spiral(viz_dir, t, true_y, pred_y, func):
    """Writes ``spiral.png``: trajectories against time, phase portrait and learned field."""
    plt = pyplot()
    fig, (ax_traj, ax_phase, ax_field) = plt.subplots(1, 3, figsize=(12, 4))
    for k, (name, color) in enumerate(zip("xy", ("tab:green", "tab:blue"))):
        ax_traj.plot(t, true_y[:, 0, k], "-", color=color, label=f"true {name}")
        ax_traj.plot(t, pred_y[:, 0, k], "--", color=color, label=f"learned {name}")
    ax_traj.set(title="Trajectories", xlabel="t", ylabel="x, y")
    ax_traj.legend(fontsize=7)
    ax_phase.plot(true_y[:, 0, 0], true_y[:, 0, 1], "g-", label="true")
    ax_phase.plot(pred_y[:, 0, 0], pred_y[:, 0, 1], "b--", label="learned")
    ax_phase.set(title="Phase portrait", xlabel="x", ylabel="y", xlim=(-2, 2), ylim=(-2, 2))
    ax_phase.legend(fontsize=7)
    grid_y, grid_x = np.mgrid[-2:2:21j, -2:2:21j]
    points = np.stack([grid_x.ravel(), grid_y.ravel()], axis=-1).astype(np.float32)
    field = func(tf.constant(0.0), tf.constant(points)).numpy()
    field /= np.linalg.norm(field, axis=-1, keepdims=True) + 1e-12  # direction only
    ax_field.streamplot(grid_x, grid_y, field[:, 0].reshape(21, 21),
                        field[:, 1].reshape(21, 21), color="black")
    ax_field.set(title="Learned vector field", xlabel="x", ylabel="y", xlim=(-2, 2), ylim=(-2, 2))
    fig.tight_layout()
    return save_figure(fig, viz_dir, "spiral.png")


def main(argv=None):
    """Runs the demo from command line arguments ``argv``; returns the exit status 0."""
    train(build_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
