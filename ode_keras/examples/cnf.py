"""A continuous normalizing flow that turns a Gaussian into two concentric circles.

Chen et al. (2018), Section 4, as in torchdiffeq's ``examples/cnf.py``: the state ``(z, log p)``
follows ``dz/dt = f(z, t)`` and ``d log p/dt = -tr(df/dz)`` (the instantaneous change of
variables), with ``f(z, t) = mean_i u_i(t) tanh(w_i(t)^T z + b_i(t))``, 64 units whose parameters
a small hypernetwork computes from ``t``. The trace is exact: one reverse-mode pass per dimension
(two in 2-D) inside the field. Training integrates each batch of data from t=10 down to t=0 and
maximises ``log p(x) = log N(z(0); 0, 0.1 I) - delta log p(0)`` with Adam.

Run::

    python -m ode_keras.examples.cnf --niters 1000 --viz figures/

The base distribution is torchdiffeq's ``MultivariateNormal(0, covariance_matrix=0.1 I)``: a
variance of 0.1, so a standard deviation of sqrt(0.1) = 0.316.

Differences from the original, on purpose:

- The circles are generated here in NumPy (the same recipe as scikit-learn's ``make_circles``:
  radii 1 and ``factor``, Gaussian noise), which needs no extra dependency.
- ``--adjoint`` is on by default (``--no-adjoint`` backpropagates through the solver); the
  original's flag is off by default.
- The final negative log-likelihood is also measured on a fresh batch of 4,096 points, and the
  figures are PNGs (target, samples, density; samples at five times) rather than a GIF.
"""
# ruff: noqa: E402 (TensorFlow is imported after the command line is parsed)

import argparse

from ode_keras.examples import _cli


def build_parser():
    """Returns the command line parser of the CNF experiment."""
    parser = _cli.new_parser("cnf", __doc__)
    parser.add_argument("--niters", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--num_samples", type=int, default=512)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--hidden_dim", type=int, default=32)
    parser.add_argument("--tol", type=float, default=1e-5, help="rtol and atol of dopri5")
    parser.add_argument("--adjoint", action=argparse.BooleanOptionalAction, default=True,
                        help="gradients by odeint_adjoint (default) or through odeint")
    parser.add_argument("--print_freq", type=int, default=10)
    parser.add_argument("--viz", metavar="DIR", default=None, help="write the figures to DIR")
    parser.add_argument("--seed", type=int, default=0)
    return parser


_cli.parse_early(__name__, build_parser)  # --help exits here, before TensorFlow

import time

import keras
import numpy as np
import tensorflow as tf

from ode_keras import odeint, odeint_adjoint
from ode_keras.examples._common import RunningAverage, count_parameters, pyplot, save_figure

T0, T1 = 0.0, 10.0
BASE_VARIANCE = 0.1


def make_circles(rng, n, noise=0.06, factor=0.5):
    """``n`` points on two concentric circles (radii 1 and ``factor``) with Gaussian noise.

    Returns:
        A float32 array ``[n, 2]``: ``n // 2`` points on the outer circle, the rest inside.
    """
    n_out = n // 2
    angles = np.concatenate([np.linspace(0, 2 * np.pi, n_out, endpoint=False),
                             np.linspace(0, 2 * np.pi, n - n_out, endpoint=False)])
    radii = np.where(np.arange(n) < n_out, 1.0, factor)
    points = radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return (points + noise * rng.standard_normal((n, 2))).astype(np.float32)


def circles_log_density(x, noise=0.06, factor=0.5):
    """The exact log-density of ``make_circles``'s distribution (rings blurred by Gaussian noise).

    Averaging N(x; r (cos a, sin a), noise**2 I) over the angle a gives, with rho = |x| and I0
    the modified Bessel function, exp(-(rho**2 + r**2) / (2 s**2)) I0(rho r / s**2) / (2 pi s**2);
    the mean of -log p over the data is the best NLL any model can reach.

    Args:
        x: Points ``[n, 2]``.
        noise: Standard deviation s of the noise. Defaults to 0.06.
        factor: Radius of the inner ring (the outer one has radius 1). Defaults to 0.5.

    Returns:
        A float64 array ``[n]`` of log p(x).
    """
    from scipy.special import i0e, logsumexp

    rho = np.hypot(x[:, 0], x[:, 1]).astype(np.float64)[:, None]
    radii = np.array([1.0, factor])
    s2 = noise**2
    # i0e(u) = exp(-u) I0(u) keeps the Bessel term finite for rings much wider than the noise.
    log_ring = (-((rho - radii) ** 2) / (2 * s2) + np.log(i0e(rho * radii / s2))
                - np.log(2 * np.pi * s2))
    return logsumexp(log_ring, axis=1) - np.log(2.0)


def base_log_prob(z):
    """log N(z; 0, 0.1 I) for points ``z`` ``[n, 2]``."""
    return -tf.math.log(2 * np.pi * BASE_VARIANCE) - tf.reduce_sum(z**2, -1) / (2 * BASE_VARIANCE)


class CNFField(keras.layers.Layer):
    """The flow's field on the state ``(z, log p)``, with the exact trace of df/dz.

    A hypernetwork maps ``t`` through Dense(hidden, tanh), Dense(hidden, tanh) to the weights
    ``w`` ``[width, 2]``, ``u`` ``[width, 2]`` (gated by a sigmoid) and biases ``b`` ``[width]``.

    Args:
        width: Number of tanh units of the field. Defaults to 64.
        hidden_dim: Units of the hypernetwork's hidden layers. Defaults to 32.
        dim: Dimension of z. Defaults to 2.
        **kwargs: Base layer keyword arguments.
    """

    def __init__(self, width=64, hidden_dim=32, dim=2, **kwargs):
        super().__init__(**kwargs)
        self.width, self.dim = width, dim
        self.hyper = keras.Sequential([keras.layers.Dense(hidden_dim, activation="tanh"),
                                       keras.layers.Dense(hidden_dim, activation="tanh"),
                                       keras.layers.Dense(3 * width * dim + width)])

    def field_params(self, t):
        """The field's ``(w, b, u)`` at time ``t``: shapes ``[width, dim]``, ``[width]``, same."""
        params = self.hyper(tf.reshape(tf.cast(t, self.compute_dtype), [1, 1]))[0]
        w, u, gate, b = tf.split(params, [self.width * self.dim] * 3 + [self.width])
        shape = [self.width, self.dim]
        return tf.reshape(w, shape), b, tf.reshape(u, shape) * tf.sigmoid(tf.reshape(gate, shape))

    def velocity(self, t, z):
        """dz/dt = mean_i u_i tanh(w_i . z + b_i) for points ``z`` ``[n, dim]``."""
        w, b, u = self.field_params(t)
        return tf.matmul(tf.tanh(tf.matmul(z, w, transpose_b=True) + b), u) / self.width

    def call(self, t, state):
        z, _ = state
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(z)
            dz_dt = self.velocity(t, z)
            components = [dz_dt[:, i] for i in range(self.dim)]
        # Exact trace: row i of the Jacobian is the gradient of component i (points independent).
        trace = tf.add_n([tape.gradient(components[i], z)[:, i] for i in range(self.dim)])
        del tape
        return dz_dt, -trace[:, None]


def make_train_step(field, optimizer, solve, tol):
    """Returns a graph-mode step ``x -> -mean log p(x)`` that updates ``field``."""
    times = tf.constant([T1, T0])

    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(log_likelihood(field, x, times, solve, tol))
        grads = tape.gradient(loss, field.trainable_variables)
        optimizer.apply_gradients(zip(grads, field.trainable_variables))
        return loss

    return train_step


def log_likelihood(field, x, times, solve=odeint, tol=1e-5):
    """log p(x) under the flow: integrate (x, 0) from ``times[0]`` = T1 down to T0."""
    x = tf.convert_to_tensor(x)
    zs, delta_logp = solve(field, (x, tf.zeros_like(x[:, :1])), times, method="dopri5",
                           rtol=tol, atol=tol)
    return base_log_prob(zs[-1]) - delta_logp[-1, :, 0]


def train(args):
    """Trains the flow as ``args`` (from ``build_parser``) say; writes figures if asked.

    Returns:
        A list of ``(iteration, running_nll)`` pairs, after the first iteration, then every
        ``--print_freq`` iterations and after the last one.
    """
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    field = CNFField(args.width, args.hidden_dim)
    field(tf.constant(T0), (tf.zeros([1, 2]), tf.zeros([1, 1])))  # builds the weights
    print(f"CNF: {count_parameters(field):,} parameters")
    train_step = make_train_step(field, keras.optimizers.Adam(args.lr),
                                 odeint_adjoint if args.adjoint else odeint, args.tol)
    meter, history, start = RunningAverage(), [], time.perf_counter()
    for itr in range(1, args.niters + 1):
        meter.update(train_step(make_circles(rng, args.num_samples)).numpy())
        if itr == 1 or itr % args.print_freq == 0 or itr == args.niters:
            history.append((itr, meter.avg))
            elapsed = time.perf_counter() - start
            print(f"Iter: {itr}, running avg loss: {meter.avg:.4f} | {elapsed / itr:.3f} s/iter")
    test_x = make_circles(rng, 4096)
    log_p = log_likelihood(field, test_x, tf.constant([T1, T0]), tol=args.tol)
    nll = -float(tf.reduce_mean(log_p))
    print(f"Test NLL (4,096 fresh points): {nll:.4f} nats; the true density's NLL on them: "
          f"{-np.mean(circles_log_density(test_x)):.4f} nats")
    if args.viz:
        plot_flow(args.viz, field, rng, args.tol)
    return history


def plot_flow(viz_dir, field, rng, tol, num_samples=20000):
    """Writes ``cnf.png`` (target, samples, learned density at t=T1) and ``cnf_evolution.png``
    (base samples pushed forward, at five times from T0 to T1)."""
    plt = pyplot()
    lim = [[-1.5, 1.5], [-1.5, 1.5]]
    z0 = (np.sqrt(BASE_VARIANCE) * rng.standard_normal((num_samples, 2))).astype(np.float32)
    times = tf.linspace(T0, T1, 5)
    samples, _ = odeint(field, (tf.constant(z0), tf.zeros([num_samples, 1])), times,
                        rtol=tol, atol=tol)
    grid = np.stack(np.meshgrid(np.linspace(-1.5, 1.5, 100), np.linspace(-1.5, 1.5, 100)), -1)
    log_p = log_likelihood(field, grid.reshape(-1, 2).astype(np.float32),
                           tf.constant([T1, T0]), tol=tol)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    axes[0].hist2d(*make_circles(rng, num_samples).T, bins=150, range=lim)
    axes[1].hist2d(*samples[-1].numpy().T, bins=150, range=lim)
    axes[2].imshow(np.exp(log_p.numpy()).reshape(100, 100), origin="lower", extent=(-1.5, 1.5) * 2)
    for ax, title in zip(axes, ("Target", "Samples", "Density")):
        ax.set(title=title, xticks=[], yticks=[], aspect="equal")
    save_figure(fig, viz_dir, "cnf.png")
    fig, axes = plt.subplots(1, 5, figsize=(15, 3))
    for ax, t, z in zip(axes, times.numpy(), samples.numpy()):
        ax.hist2d(*z.T, bins=100, range=lim)
        ax.set(title=f"t = {t:.1f}", xticks=[], yticks=[], aspect="equal")
    return save_figure(fig, viz_dir, "cnf_evolution.png")


def main(argv=None):
    """Runs the experiment from command line arguments ``argv``; returns the exit status 0."""
    train(build_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
