"""A bouncing ball whose gravity and restitution are learned from its bounce times, by events.

torchdiffeq's ``examples/bouncing_ball.py``, with training added: a ball dropped from height 10
falls under gravity g (state: height, velocity); each time it reaches the ground,
``odeint_event`` stops the solve (event function: the height), the velocity is reversed and
scaled by the restitution coefficient e, and the next solve starts from there. The bounce times
are differentiable with respect to g, e and the initial state by the implicit function theorem.
Trained with Adam to reproduce the bounce times of the true ball (g = 9.81, e = 0.8) from
g = 6, e = 0.5, printing ``Iter N | Loss X | g G | e E``; ``--viz DIR`` draws both balls'
heights with their bounces.

Run::

    python -m ode_keras.examples.bouncing_ball --viz docs/figures

Differences from the original, on purpose:

- The original only checks the gradient of the last bounce time against finite differences
  (``--gradcheck`` does that here too); this one also learns g and e from bounce times.
- The ball is a point (the original's radius only shifts the ground), and g (as log g) and e
  are the learned parameters (the original's "absorption" is 1 - e).
"""
# ruff: noqa: E402 (TensorFlow is imported after the command line is parsed)

from ode_keras.examples import _cli


def build_parser():
    """Returns the command line parser of the bouncing ball."""
    parser = _cli.new_parser("bouncing_ball", __doc__)
    parser.add_argument("--bounces", type=int, default=5, help="bounces to fit (default 5)")
    parser.add_argument("--niters", type=int, default=150)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--test_freq", type=int, default=10)
    parser.add_argument("--adjoint", action="store_true",
                        help="differentiate the solves with odeint_adjoint instead of odeint")
    parser.add_argument("--gradcheck", action="store_true",
                        help="check the gradient of the last bounce time against central "
                             "finite differences first, as the original does")
    parser.add_argument("--viz", metavar="DIR", default=None, help="write the figure to DIR")
    return parser


_cli.parse_early(__name__, build_parser)  # --help exits here, before TensorFlow

import keras
import numpy as np
import tensorflow as tf

from ode_keras import odeint, odeint_adjoint, odeint_event
from ode_keras.examples._common import pyplot, save_figure

TRUE_GRAVITY, TRUE_RESTITUTION = 9.81, 0.8
START_GRAVITY, START_RESTITUTION = 6.0, 0.5
HEIGHT = 10.0
# After a bounce the ball sits on the ground, where the event function is zero: lifting it by
# a hair (as the original does) makes the next solve start strictly above the ground.
LIFT = 1e-7
TOLERANCES = dict(rtol=1e-8, atol=1e-8)


class BouncingBall(tf.Module):
    """A point ball: ``dy/dt = (velocity, -g)``, bouncing off height 0 with restitution e.

    Args:
        gravity: Initial value of the gravity variable g.
        restitution: Initial value of the restitution variable e (the speed kept at a bounce).
        height, velocity, t0: The initial state and time, variables too (for the gradient
            check).
        adjoint: Differentiate the solves with ``odeint_adjoint``.
    """

    def __init__(self, gravity, restitution, height=HEIGHT, velocity=0.0, t0=0.0,
                 adjoint=False):
        super().__init__()
        # Learned as log g: a step changes g by a proportion, as its effect on the times.
        self.log_gravity = tf.Variable(np.log(gravity), dtype=tf.float64, name="log_gravity")
        self.restitution = tf.Variable(restitution, dtype=tf.float64, name="restitution")
        self.height = tf.Variable(height, dtype=tf.float64, name="height")
        self.velocity = tf.Variable(velocity, dtype=tf.float64, name="velocity")
        self.t0 = tf.Variable(t0, dtype=tf.float64, name="t0")
        self.interface = odeint_adjoint if adjoint else odeint

    @property
    def gravity(self):
        """g, a tensor."""
        return tf.exp(self.log_gravity)

    def __call__(self, t, y):
        return tf.stack([y[1], -self.gravity])

    def bounce(self, y):
        """The state just after a bounce at state ``y``: velocity reversed and scaled by e."""
        return tf.stack([y[0] + LIFT, -self.restitution * y[1]])

    def bounce_times(self, bounces):
        """The times of the first ``bounces`` bounces, a tensor, differentiable."""
        t0, y = tf.convert_to_tensor(self.t0), tf.stack([self.height, self.velocity])
        times = []
        for _ in range(bounces):
            t0, solution = odeint_event(self, y, t0, event_fn=lambda t, y: y[0],
                                        odeint_interface=self.interface, **TOLERANCES)
            times.append(t0)
            y = self.bounce(solution[-1])
        return tf.stack(times)

    def path(self, bounces, points_per_unit=50):
        """``(t, height)`` arrays of the trajectory through ``bounces`` bounces, for the figure."""
        times = self.bounce_times(bounces).numpy()
        t0, y, ts, heights = float(self.t0), tf.stack([self.height, self.velocity]), [], []
        for t_end in times:
            t = np.linspace(t0, t_end, max(3, int((t_end - t0) * points_per_unit)))
            solution = odeint(self, y, tf.constant(t), **TOLERANCES)
            ts.append(t)
            heights.append(solution[:, 0].numpy())
            t0, y = t_end, self.bounce(solution[-1])
        return np.concatenate(ts), np.concatenate(heights)


def analytic_bounce_times(gravity, restitution, bounces, height=HEIGHT):
    """The bounce times of a ball dropped from rest, in closed form (no lift)."""
    speed = np.sqrt(2.0 * gravity * height)  # at every bounce, before it is scaled
    first = np.sqrt(2.0 * height / gravity)
    flights = 2.0 * speed * restitution ** np.arange(1, bounces) / gravity
    return first + np.concatenate([[0.0], np.cumsum(flights)])


def gradient_check(ball, bounces, eps=1e-4):
    """The gradient of the last bounce time by ``ball``'s solver path and by central differences.

    Returns:
        ``{name: (gradient, finite difference)}`` for log_gravity, restitution, height,
        velocity and t0.
    """
    variables = (ball.log_gravity, ball.restitution, ball.height, ball.velocity, ball.t0)
    with tf.GradientTape() as tape:
        last = ball.bounce_times(bounces)[-1]
    gradients = tape.gradient(last, variables)
    result = {}
    for variable, gradient in zip(variables, gradients):
        value = variable.numpy()
        variable.assign(value + eps)
        plus = float(ball.bounce_times(bounces)[-1])
        variable.assign(value - eps)
        minus = float(ball.bounce_times(bounces)[-1])
        variable.assign(value)
        result[variable.name.split(":")[0]] = (float(gradient), (plus - minus) / (2 * eps))
    return result


def make_train_step(ball, optimizer, target, bounces):
    """A graph-mode training step: the squared error of the bounce times, one Adam update."""
    variables = [ball.log_gravity, ball.restitution]

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(ball.bounce_times(bounces) - target))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return train_step


def train(args):
    """Fits g and e to the true ball's bounce times as ``args`` say; draws the figure if asked.

    Returns:
        A list of dicts every ``--test_freq`` iterations and after the last: ``iter``,
        ``loss`` (mean squared error of the bounce times before that iteration's update),
        ``gravity`` and ``restitution`` (after it).
    """
    target = BouncingBall(TRUE_GRAVITY, TRUE_RESTITUTION).bounce_times(args.bounces)
    ball = BouncingBall(START_GRAVITY, START_RESTITUTION, adjoint=args.adjoint)
    if args.gradcheck:
        for name, (gradient, difference) in gradient_check(ball, args.bounces).items():
            print(f"d t_last / d {name}: {gradient:.8f} (finite differences {difference:.8f})")
    train_step = make_train_step(ball, keras.optimizers.Adam(args.lr), target, args.bounces)
    history = []
    for itr in range(1, args.niters + 1):
        loss = float(train_step())
        if itr % args.test_freq == 0 or itr == args.niters:
            history.append(dict(iter=itr, loss=loss, gravity=float(ball.gravity),
                                restitution=float(ball.restitution)))
            print(f"Iter {itr:04d} | Loss {loss:.6g} | g {float(ball.gravity):.4f} | "
                  f"e {float(ball.restitution):.4f}")
    if args.viz:
        plot(ball, target.numpy(), args.bounces, args.viz)
    return history


def plot(ball, target, bounces, viz_dir):
    """Draws the heights of the true, the initial and the learned ball, with their bounces."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    balls = [(BouncingBall(TRUE_GRAVITY, TRUE_RESTITUTION), "true", "k", "-"),
             (BouncingBall(START_GRAVITY, START_RESTITUTION), "initial", "0.6", ":"),
             (ball, "learned", "C0", "--")]
    for each, label, color, style in balls:
        t, height = each.path(bounces)
        ax.plot(t, height, color=color, linestyle=style, linewidth=2,
                label=f"{label}: g = {float(each.gravity):.3f}, e = "
                      f"{float(each.restitution):.3f}")
    ax.plot(target, np.zeros_like(target), "o", color="C1", fillstyle="none", markersize=8,
            label="true bounce times (the data)")
    ax.set_xlabel("time")
    ax.set_ylabel("height")
    ax.legend(fontsize=8)
    ax.set_title("Bounces located by odeint_event; g and e learned from the bounce times")
    return save_figure(fig, viz_dir, "bouncing_ball.png")


def main(argv=None):
    """Runs the example from command line arguments ``argv``; returns the exit status 0."""
    train(build_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
