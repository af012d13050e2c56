"""Fit a latent ODE to noisy spirals and extrapolate it forwards and backwards in time.

The latent variable model of Chen et al. (2018), Section 5, as in torchdiffeq's
``examples/latent_ode.py``: a recognition RNN reads each observed sequence backwards and gives
q(z0) (a 4-dimensional Gaussian), an ODE ``dz/dt = f(z)`` carries z0 to every observation time,
and a decoder maps z(t) to the plane. Training maximises the ELBO
``E_q[sum_t log N(x_t | dec(z_t), 0.3**2 I)] - KL(q(z0) || N(0, I))`` with Adam, on all 1,000
spirals at once, and prints its running average.

Run::

    python -m ode_keras.examples.latent_ode --niters 2000 --viz figures/

Differences from the original, on purpose:

- ``ntotal=1000`` reaches the data generator (the original sets it but never passes it, so its
  spirals have 500 points and each observed window spans twice the angle).
- The figure starts from the posterior mean of z0 (the original draws one sample of it) and shows
  four spirals instead of one.
- The recognition RNN is ``keras.layers.SimpleRNN`` running backwards: h = tanh(W [x, h] + b), the
  same cell as the original's ``i2h`` layer.
- The running ELBO is printed every ``--print_freq`` iterations rather than at every one.
"""
# ruff: noqa: E402 (TensorFlow is imported after the command line is parsed)


from ode_keras.examples import _cli


def build_parser():
    """Returns the command line parser of the latent ODE experiment."""
    parser = _cli.new_parser("latent_ode", __doc__)
    parser.add_argument("--niters", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--nspiral", type=int, default=1000)
    parser.add_argument("--rtol", type=float, default=1e-7)
    parser.add_argument("--atol", type=float, default=1e-9)
    parser.add_argument("--adjoint", action="store_true",
                        help="train with odeint_adjoint (O(1) memory) instead of odeint")
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
from ode_keras.examples._spirals import generate_spiral2d

NOISE_STD = 0.3


class LatentODEFunc(keras.layers.Layer):
    """The latent field dz/dt = f(z): Dense(hidden, ELU), Dense(hidden, ELU), Dense(latent_dim).

    Args:
        latent_dim: Dimension of z. Defaults to 4.
        hidden: Units of the hidden layers. Defaults to 20.
        **kwargs: Base layer keyword arguments.
    """

    def __init__(self, latent_dim=4, hidden=20, **kwargs):
        super().__init__(**kwargs)
        self.net = keras.Sequential([keras.layers.Dense(hidden, activation="elu"),
                                     keras.layers.Dense(hidden, activation="elu"),
                                     keras.layers.Dense(latent_dim)])

    def call(self, t, z):
        del t  # autonomous
        return self.net(z)


class LatentODE(keras.Model):
    """Recognition RNN, latent field and decoder of the latent ODE model.

    Args:
        latent_dim: Dimension of z. Defaults to 4.
        obs_dim: Dimension of the observations. Defaults to 2.
        rnn_hidden: Units of the recognition RNN. Defaults to 25.
        hidden: Units of the hidden layers of the field and the decoder. Defaults to 20.
        **kwargs: Base model keyword arguments.
    """

    def __init__(self, latent_dim=4, obs_dim=2, rnn_hidden=25, hidden=20, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.rnn = keras.layers.SimpleRNN(rnn_hidden, go_backwards=True)
        self.to_posterior = keras.layers.Dense(2 * latent_dim)
        self.func = LatentODEFunc(latent_dim, hidden)
        self.decoder = keras.Sequential([keras.layers.Dense(hidden, activation="relu"),
                                         keras.layers.Dense(obs_dim)])

    def encode(self, x):
        """Mean and log-variance of q(z0 | x) for sequences ``x`` ``[batch, time, obs_dim]``."""
        out = self.to_posterior(self.rnn(x))
        return out[:, :self.latent_dim], out[:, self.latent_dim:]

    def decode_path(self, z0, ts, solve=odeint, **solver_kwargs):
        """Integrates ``z0`` ``[batch, latent]`` over ``ts``; decoded ``[batch, len(ts), obs]``."""
        zs = solve(self.func, z0, ts, **solver_kwargs)
        return self.decoder(tf.transpose(zs, [1, 0, 2]))

    def call(self, x):
        return self.encode(x)


def negative_elbo(x, pred_x, mean, logvar):
    """-ELBO per sequence, averaged: Gaussian reconstruction (std 0.3) plus analytic KL."""
    log_px = -0.5 * (np.log(2 * np.pi * NOISE_STD**2) + (x - pred_x) ** 2 / NOISE_STD**2)
    kl = 0.5 * (tf.exp(logvar) + mean**2 - 1.0 - logvar)
    return tf.reduce_mean(-tf.reduce_sum(log_px, axis=[1, 2]) + tf.reduce_sum(kl, axis=1))


def make_train_step(model, optimizer, solve, solver_kwargs):
    """Returns a graph-mode step ``(x, ts) -> -ELBO`` with one reparameterised sample of z0."""

    @tf.function
    def train_step(x, ts):
        with tf.GradientTape() as tape:
            mean, logvar = model.encode(x)
            z0 = mean + tf.exp(0.5 * logvar) * tf.random.normal(tf.shape(mean))
            pred_x = model.decode_path(z0, ts, solve=solve, **solver_kwargs)
            loss = negative_elbo(x, pred_x, mean, logvar)
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return train_step


def train(args):
    """Trains the latent ODE as ``args`` (from ``build_parser``) say; writes figures if asked.

    Returns:
        A list of ``(iteration, running_elbo)`` pairs, after the first iteration, then every
        ``--print_freq`` iterations and after the last one.
    """
    keras.utils.set_random_seed(args.seed)
    data = generate_spiral2d(np.random.default_rng(args.seed), nspiral=args.nspiral)
    x, ts = tf.constant(data["samp_trajs"]), tf.constant(data["samp_ts"])
    model = LatentODE()
    model.decode_path(model.encode(x[:1])[0], ts[:2])  # builds every layer
    print(f"Latent ODE: {count_parameters(model):,} parameters")
    solver_kwargs = dict(rtol=args.rtol, atol=args.atol)
    train_step = make_train_step(model, keras.optimizers.Adam(args.lr),
                                 odeint_adjoint if args.adjoint else odeint, solver_kwargs)
    meter, history, start = RunningAverage(), [], time.perf_counter()
    for itr in range(1, args.niters + 1):
        meter.update(-train_step(x, ts).numpy())
        if itr == 1 or itr % args.print_freq == 0 or itr == args.niters:
            history.append((itr, meter.avg))
            elapsed = time.perf_counter() - start
            print(f"Iter: {itr}, running avg elbo: {meter.avg:.4f} | {elapsed / itr:.3f} s/iter")
    print(f"Reconstruction RMSE: {reconstruction_rmse(model, data, solver_kwargs):.4f}")
    if args.viz:
        plot_extrapolation(args.viz, model, data, solver_kwargs)
    return history


def reconstruction_rmse(model, data, solver_kwargs):
    """RMSE between the decoded posterior-mean path and the noiseless spiral, observed window."""
    mean, _ = model.encode(tf.constant(data["samp_trajs"]))
    pred = model.decode_path(mean, tf.constant(data["samp_ts"]), **solver_kwargs).numpy()
    window = data["starts"][:, None] + np.arange(pred.shape[1])
    truth = np.take_along_axis(data["orig_trajs"], window[..., None], axis=1)
    return float(np.sqrt(np.mean(np.sum((pred - truth) ** 2, axis=-1))))


def plot_extrapolation(viz_dir, model, data, solver_kwargs, count=4):
    """Writes ``latent_ode.png``: ``count`` spirals decoded forwards over [0, 2 pi] (red) and
    backwards over [-pi, 0] (cyan) from the posterior mean of z0, over the truth and the data."""
    mean, _ = model.encode(tf.constant(data["samp_trajs"][:count]))
    forward = model.decode_path(mean, tf.linspace(0.0, 2 * np.pi, 2000), **solver_kwargs)
    backward = model.decode_path(mean, tf.linspace(0.0, -np.pi, 2000), **solver_kwargs)
    plt = pyplot()
    fig, axes = plt.subplots(1, count, figsize=(4 * count, 4), squeeze=False)
    for k, ax in enumerate(axes[0]):
        ax.plot(*data["orig_trajs"][k].T, "g", lw=1, label="true trajectory")
        ax.plot(*forward[k].numpy().T, "r", label="learned trajectory (t>0)")
        ax.plot(*backward[k].numpy().T, "c", label="learned trajectory (t<0)")
        ax.scatter(*data["samp_trajs"][k].T, s=3, label="sampled data")
        # Frame the data and the extrapolations; the true spiral's far tail would shrink them.
        shown = np.concatenate([data["samp_trajs"][k], forward[k], backward[k]])
        ax.set(xlim=(shown[:, 0].min() - 1, shown[:, 0].max() + 1),
               ylim=(shown[:, 1].min() - 1, shown[:, 1].max() + 1), aspect="equal")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return save_figure(fig, viz_dir, "latent_ode.png")


def main(argv=None):
    """Runs the experiment from command line arguments ``argv``; returns the exit status 0."""
    train(build_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
