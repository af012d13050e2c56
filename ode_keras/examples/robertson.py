"""Learn the three rate constants of Robertson's chemical kinetics from noisy observations.

Robertson's system (Robertson 1966; ROBER in Hairer and Wanner's test set)::

    y1' = -k1 y1 + k3 y2 y3
    y2' =  k1 y1 - k2 y2**2 - k3 y2 y3
    y3' =  k2 y2**2

with k1 = 0.04, k2 = 3e7, k3 = 1e4 and y(0) = (1, 0, 0) is the classic stiff problem: its
rates span nine orders of magnitude, y2 settles within 1e-3 time units and y1 decays over 1e5.
The example observes all three species at ``--n_obs`` log-spaced times in [1e-4, 1e5], each
multiplied by ``exp(noise * N(0, 1))``, and fits ``log k`` (the constants differ by 9 orders
of magnitude; in log space one learning rate suits all three) by Adam on the mean squared
relative residual ``((y - y_obs) / y_obs)**2``, the least squares that multiplicative noise
calls for, through ``odeint`` with the implicit ``--method`` (default ``rodas5p``) and
backpropagation through the solver, in float64.

An explicit method cannot do this: with ``--method dopri5`` the first solve stops, its step
size held near 1e-3 by stability for an interval of 1e5: the 4096 steps of the default
``max_num_steps`` reach t = 4.5 (the error says so, with the time reached; when the share
of rejected steps marks the problem as stiff, it also names the stiff methods to use).

Run::

    python -m ode_keras.examples.robertson --niters 300 --viz docs/figures
    python -m ode_keras.examples.robertson --method dopri5   # fails, as it should

Adam rather than L-BFGS: Keras's own optimiser, as a Neural ODE would be trained; with three
parameters L-BFGS would need fewer iterations, but the point here is the solver under a
standard training loop.
"""
# ruff: noqa: E402 (TensorFlow is imported after the command line is parsed)

from ode_keras.examples import _cli

TRUE_RATES = (0.04, 3e7, 1e4)
Y0 = (1.0, 0.0, 0.0)


def build_parser():
    """Returns the command line parser of the Robertson example."""
    parser = _cli.new_parser("robertson", __doc__)
    parser.add_argument("--method", choices=_cli.METHODS, default="rodas5p",
                        help="the solver of the training solves (default rodas5p; dopri5 "
                             "shows an explicit method failing)")
    parser.add_argument("--niters", type=int, default=300)
    parser.add_argument("--lr", type=float, default=0.05, help="Adam's learning rate")
    parser.add_argument("--n_obs", type=int, default=20, help="observation times")
    parser.add_argument("--noise", type=float, default=0.05,
                        help="multiplicative noise: y * exp(noise * N(0, 1))")
    parser.add_argument("--init_offset", type=float, nargs=3, default=(1.0, -1.0, 1.0),
                        metavar=("D1", "D2", "D3"),
                        help="initial log k = log k_true + D (default 1 -1 1: factors of e)")
    parser.add_argument("--rtol", type=float, default=1e-6)
    parser.add_argument("--atol", type=float, default=1e-12)
    parser.add_argument("--max_num_steps", type=int, default=4096)
    parser.add_argument("--test_freq", type=int, default=20)
    parser.add_argument("--jit_compile", action="store_true",
                        help="compile the training step with XLA")
    parser.add_argument("--viz", metavar="DIR", default=None, help="write robertson.png to DIR")
    parser.add_argument("--seed", type=int, default=0)
    return parser


_cli.parse_early(__name__, build_parser)  # --help exits here, before TensorFlow

import re
import time

import keras
import numpy as np
import tensorflow as tf

from ode_keras import odeint
from ode_keras.examples._common import pyplot, save_figure


def robertson(log_rates):
    """The field ``func(t, y)`` of Robertson's kinetics with rates ``exp(log_rates)``.

    Args:
        log_rates: A tensor (or variable) of the three log rate constants.

    Returns:
        ``func(t, y)`` for a state ``y`` of shape ``[3]``.
    """

    def func(t, y):
        del t  # autonomous
        k1, k2, k3 = tf.unstack(tf.exp(tf.cast(log_rates, y.dtype)))
        fast, back = k2 * y[1] * y[1], k3 * y[1] * y[2]
        return tf.stack([-k1 * y[0] + back, k1 * y[0] - fast - back, fast])

    return func


def observation_times(n_obs):
    """``[0, t_1, ..., t_n]``: the initial time and ``n_obs`` log-spaced times in [1e-4, 1e5]."""
    return np.concatenate([[0.0], np.logspace(-4.0, 5.0, n_obs)])


def make_data(args):
    """The noisy observations: ``(times, y_obs, y_true)``, ``y_*`` of shape ``[n_obs, 3]``.

    The truth is integrated by ``rodas5p`` at rtol 1e-10 from the true constants, whatever
    ``--method`` says (the data are the same for every solver).
    """
    times = observation_times(args.n_obs)
    y_true = _trajectory(np.log(TRUE_RATES), times, rtol=1e-10, atol=1e-16)
    return times, add_noise(y_true, args.noise, np.random.default_rng(args.seed)), y_true


def add_noise(y, noise, rng):
    """``y * exp(noise * N(0, 1))``, entry by entry: multiplicative noise that keeps signs."""
    return y * np.exp(noise * rng.standard_normal(np.shape(y)))


def make_loss(times, y_obs, method, rtol, atol, max_num_steps):
    """``loss(log_rates)``: the mean squared relative residual of a solve from ``Y0``."""
    times, y_obs = tf.constant(times, tf.float64), tf.constant(y_obs, tf.float64)
    options = {"max_num_steps": max_num_steps}

    def loss(log_rates):
        ys = odeint(robertson(log_rates), tf.constant(Y0, tf.float64), times, method=method,
                    rtol=rtol, atol=atol, options=options)
        return tf.reduce_mean(tf.square((ys[1:] - y_obs) / y_obs))

    return loss


def make_train_step(loss, log_rates, optimizer, jit_compile):
    """A compiled step: the loss and its gradient at ``log_rates``, then Adam's update."""

    @tf.function(jit_compile=jit_compile)
    def train_step():
        with tf.GradientTape() as tape:
            value = loss(log_rates)
        optimizer.apply_gradients([(tape.gradient(value, log_rates), log_rates)])
        return value

    return train_step


def _record(history, itr, value, log_rates, start):
    rates = np.exp(log_rates)
    history.append(dict(iter=itr, loss=float(value), k1=rates[0], k2=rates[1], k3=rates[2]))
    print(f"Iter {itr:04d} | Loss {float(value):.6f} | k1 {rates[0]:.4g} k2 {rates[1]:.4g} "
          f"k3 {rates[2]:.4g} | {time.perf_counter() - start:.1f} s", flush=True)


def train(args):
    """Fits the constants as ``args`` (from ``build_parser``) say; writes the figure if asked.

    Returns:
        A list of dicts at iteration 0, every ``--test_freq`` iterations and the last one:
        ``iter``, ``loss`` (after that many updates) and the constants ``k1``, ``k2``, ``k3``.

    Raises:
        tf.errors.InvalidArgumentError: When a solve fails, e.g. ``--method dopri5``: the
            message says max_num_steps were not enough and names a stiff method.
    """
    keras.utils.set_random_seed(args.seed)
    times, y_obs, y_true = make_data(args)
    log_rates = tf.Variable(np.log(TRUE_RATES) + np.asarray(args.init_offset), name="log_k")
    initial = log_rates.numpy()
    loss = make_loss(times, y_obs, args.method, args.rtol, args.atol, args.max_num_steps)
    evaluate = tf.function(loss, jit_compile=args.jit_compile)  # eager solves are slow
    train_step = make_train_step(loss, log_rates, keras.optimizers.Adam(args.lr),
                                 args.jit_compile)
    history, start = [], time.perf_counter()
    _record(history, 0, evaluate(log_rates), log_rates.numpy(), start)
    for itr in range(1, args.niters + 1):
        before = log_rates.numpy()
        value = train_step()  # the loss after itr - 1 updates
        if itr > 1 and (itr - 1) % args.test_freq == 0:
            _record(history, itr - 1, value, before, start)
    if args.niters > 0:
        _record(history, args.niters, evaluate(log_rates), log_rates.numpy(), start)
    print("Learned k = " + ", ".join(f"{k:.4g} (true {t:.4g})" for k, t in
                                     zip(np.exp(log_rates.numpy()), TRUE_RATES)))
    if args.viz:
        plot_fit(args.viz, (times, y_obs, y_true), (initial, log_rates.numpy()), history)
    return history


@tf.function
def _solve_accurately(log_rates, times, rtol, atol):
    return odeint(robertson(log_rates), tf.constant(Y0, tf.float64), times, method="rodas5p",
                  rtol=rtol, atol=atol)


def _trajectory(log_rates, times, rtol=1e-8, atol=1e-14):
    """The states at ``times[1:]`` by ``rodas5p`` (in ``tf.function``: eager solves are slow)."""
    return _solve_accurately(tf.constant(log_rates), tf.constant(times), rtol, atol).numpy()[1:]


def plot_fit(viz_dir, data, fits, history):
    """Writes ``robertson.png``: data and trajectories (initial guess, fit), and the loss."""
    (times, y_obs, _), (initial, learned) = data, fits
    dense = np.concatenate([[0.0], np.logspace(-5.0, 5.0, 200)])
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, (index, scale, label) in zip(axes[:2], ((0, 1.0, "y1"), (1, 1e4, "y2 x 1e4"))):
        ax.semilogx(times[1:], scale * y_obs[:, index], "ko", ms=4, label=f"{label} observed")
        if index == 0:
            ax.semilogx(times[1:], y_obs[:, 2], "ks", ms=4, mfc="none", label="y3 observed")
        for log_rates, style, name in ((initial, ":", "initial guess"), (learned, "-", "fit")):
            ys = _trajectory(log_rates, dense)
            ax.semilogx(dense[1:], scale * ys[:, index], style, color="tab:blue",
                        label=f"{label} {name}")
            if index == 0:
                ax.semilogx(dense[1:], ys[:, 2], style, color="tab:orange", label=f"y3 {name}")
        ax.set(xlabel="t", title="Species" if index == 0 else "Intermediate species")
        ax.legend(fontsize=7)
    axes[2].semilogy([h["iter"] for h in history], [h["loss"] for h in history], "k.-")
    axes[2].set(xlabel="iteration", ylabel="mean squared relative residual",
                title="Training loss (Adam)")
    fig.tight_layout()
    return save_figure(fig, viz_dir, "robertson.png")


def _failure_text(error):
    """The paragraph of a failed solve, without the graph's traceback around it."""
    found = re.search(r"assertion failed: \[(.*?)\]\s*(\n|$)", error.message, re.S)
    return found.group(1) if found else error.message


def main(argv=None):
    """Runs the example from ``argv``; returns 0, or 1 with the error when a solve fails."""
    args = build_parser().parse_args(argv)
    try:
        train(args)
    except tf.errors.InvalidArgumentError as error:
        print(f"Training with method={args.method!r} failed:\n{_failure_text(error)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
