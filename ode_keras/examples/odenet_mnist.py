"""Classify digits with an ODE-Net, an RK-Net or a ResNet (Chen et al. 2018, Table 1).

The three networks of ``_mnist_models`` share a convolutional stem and a head; the ODE-Net's
feature block integrates a convolutional field over t in [0, 1] with dopri5 (rtol = atol =
``--tol``) and trains by the adjoint method, the RK-Net backpropagates through the same solver,
the ResNet stacks six residual blocks. Each epoch prints its time, the mean number of function
evaluations per training batch in the forward solves (NFE-F) and in the adjoint backward solves
(NFE-B), and the train and test accuracy.

Run::

    python -m ode_keras.examples.odenet_mnist --network odenet --viz figures/

Differences from torchdiffeq's ``odenet_mnist.py``, on purpose:

- Offline, MNIST is replaced by scikit-learn's 8x8 digits upscaled to 28x28 (see
  ``_mnist_data``); ``--dataset mnist`` insists on MNIST.
- The learning-rate steps (x0.1 at epochs 60, 100 and 140 of 160) are kept at the same fractions
  of ``--nepochs``, so a shorter run follows the same schedule, compressed. The defaults (40
  epochs, batch 32, lr 0.1 x 32/128) give the 1,437 training digits about 1,800 steps, which
  two CPU cores run in minutes even for the ODE-Net.
- NFE-F and NFE-B are averaged over the epoch's training batches (the original prints an
  exponential moving average): ``ode_keras.callbacks.NFELogger`` adds them to ``model.fit``'s
  logs, so they are in the returned ``History`` (and would be in a ``CSVLogger`` file or
  TensorBoard) with the loss.
"""
# ruff: noqa: E402 (TensorFlow is imported after the command line is parsed)

import argparse

from ode_keras.examples import _cli


def build_parser():
    """Returns the command line parser of the MNIST experiment."""
    parser = _cli.new_parser("odenet_mnist", __doc__)
    parser.add_argument("--network", choices=_cli.NETWORKS, default="odenet")
    parser.add_argument("--tol", type=float, default=1e-3, help="rtol and atol of dopri5")
    parser.add_argument("--dataset", choices=_cli.DATASETS, default="auto")
    parser.add_argument("--nepochs", type=int, default=40)
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate at batch size 128")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--test_batch_size", type=int, default=1000)
    parser.add_argument("--data_aug", action=argparse.BooleanOptionalAction, default=True,
                        help="random crops after padding by 4 pixels")
    parser.add_argument("--lr_decay", action=argparse.BooleanOptionalAction, default=True,
                        help="x0.1 at 60/160, 100/160 and 140/160 of the run")
    parser.add_argument("--train_subset", type=int, default=None,
                        help="train on the first N training images only (quick checks)")
    parser.add_argument("--test_subset", type=int, default=None,
                        help="test on the first N test images only (quick checks)")
    parser.add_argument("--viz", metavar="DIR", default=None, help="write the figures to DIR")
    parser.add_argument("--seed", type=int, default=0)
    return parser


_cli.parse_early(__name__, build_parser)  # --help exits here, before TensorFlow

import time

import keras
import numpy as np
import tensorflow as tf

from ode_keras.callbacks import NFELogger
from ode_keras.examples._common import count_parameters, pyplot, save_figure
from ode_keras.examples._mnist_data import load_dataset, random_crop
from ode_keras.examples._mnist_models import build_classifier


def learning_rate(args, steps_per_epoch):
    """``--lr`` scaled by batch/128, stepped x0.1 at the original's fractions of the run."""
    lr = args.lr * args.batch_size / 128
    if not args.lr_decay:
        return lr
    total_steps = args.nepochs * steps_per_epoch
    boundaries = [round(total_steps * epoch / 160) for epoch in (60, 100, 140)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        boundaries, [lr, lr * 0.1, lr * 0.01, lr * 0.001])


def make_steps(model, optimizer):
    """Returns graph-mode ``train_step(x, y) -> loss`` and ``predict(x) -> labels``.

    Both are traced once, for any batch size (their input signatures leave it open).
    """
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    images = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)

    @tf.function(input_signature=[images, tf.TensorSpec([None], tf.int32)])
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function(input_signature=[images])
    def predict(x):
        return tf.argmax(model(x, training=False), axis=-1, output_type=tf.int32)

    return train_step, predict


def accuracy(predict, x, y, batch_size):
    """Fraction of ``x`` that ``predict`` labels as ``y``, in batches."""
    hits = sum(int(np.sum(predict(x[i:i + batch_size]).numpy() == y[i:i + batch_size]))
               for i in range(0, len(x), batch_size))
    return hits / len(x)


class ShuffledBatches(keras.utils.PyDataset):
    """The training set in batches, reshuffled (and with ``--data_aug`` cropped) every epoch."""

    def __init__(self, x, y, args, rng):
        super().__init__()
        self.x, self.y, self.args, self.rng = x, y, args, rng
        self.images, self.labels = x, y

    def __len__(self):
        return -(-len(self.x) // self.args.batch_size)

    def __getitem__(self, index):
        if index == 0:  # a new epoch begins: a new order, new crops
            order = self.rng.permutation(len(self.x))
            self.images = random_crop(self.x[order], self.rng) if self.args.data_aug else (
                self.x[order])
            self.labels = self.y[order]
        batch = slice(index * self.args.batch_size, (index + 1) * self.args.batch_size)
        return self.images[batch], self.labels[batch]


class EpochReport(keras.callbacks.Callback):
    """Adds ``time``, ``train_acc`` and ``test_acc`` to each epoch's logs and prints the line.

    Put it after :class:`ode_keras.callbacks.NFELogger`, whose NFE-F and NFE-B it prints
    (its accuracy passes call the ODE block, after NFELogger has read the counters).
    """

    def __init__(self, predict, data, batch_size):
        super().__init__()
        self.predict, self.data, self.batch_size = predict, data, batch_size
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs["time"] = time.perf_counter() - self._start
        x_train, y_train, x_test, y_test = self.data
        logs["train_acc"] = accuracy(self.predict, x_train, y_train, self.batch_size)
        logs["test_acc"] = accuracy(self.predict, x_test, y_test, self.batch_size)
        logs.setdefault("nfe_forward", 0.0)
        logs.setdefault("nfe_backward", 0.0)
        print(f"Epoch {epoch + 1:04d} | Time {logs['time']:.1f} | "
              f"NFE-F {logs['nfe_forward']:.1f} | NFE-B {logs['nfe_backward']:.1f} | "
              f"Loss {logs['loss']:.4f} | "
              f"Train Acc {logs['train_acc']:.4f} | Test Acc {logs['test_acc']:.4f}")


def train(args):
    """Trains the network ``args.network`` as ``args`` (from ``build_parser``) say.

    ``model.fit`` trains; :class:`ode_keras.callbacks.NFELogger` puts the ODE block's NFE-F
    and NFE-B per training batch in the logs, so ``History`` holds them.

    Returns:
        A list with one dict per epoch: ``epoch``, ``time``, ``loss``, ``nfe_forward``,
        ``nfe_backward``, ``train_acc``, ``test_acc``.
    """
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    dataset, x_train, y_train, x_test, y_test = load_dataset(args.dataset)
    x_train, y_train = x_train[:args.train_subset], y_train[:args.train_subset]
    x_test, y_test = x_test[:args.test_subset], y_test[:args.test_subset]
    print(f"Data: {dataset}, {len(x_train)} training and {len(x_test)} test images")
    model = build_classifier(args.network, tol=args.tol, input_shape=x_train.shape[1:])
    print(f"Network: {args.network}, {count_parameters(model):,} parameters")
    batches = ShuffledBatches(x_train, y_train, args, rng)
    optimizer = keras.optimizers.SGD(learning_rate(args, len(batches)), momentum=0.9)
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=False)
    _, predict = make_steps(model, optimizer)
    report = EpochReport(predict, (x_train, y_train, x_test, y_test), args.test_batch_size)
    callbacks = [NFELogger(), report] if args.network != "resnet" else [report]
    logs = model.fit(batches, epochs=args.nepochs, shuffle=False, verbose=0,
                     callbacks=callbacks).history
    keys = ("time", "loss", "nfe_forward", "nfe_backward", "train_acc", "test_acc")
    history = [dict(epoch=epoch + 1, **{key: float(logs[key][epoch]) for key in keys})
               for epoch in range(len(logs["loss"]))]
    if args.viz:
        plot_history(args.viz, args.network, history)
    return history


def plot_history(viz_dir, network, history):
    """Writes ``odenet_mnist_<network>.png``: loss, accuracy and NFE against the epoch."""
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc, ax_nfe) = plt.subplots(1, 3, figsize=(12, 3.5))
    ax_loss.plot(epochs, [h["loss"] for h in history])
    ax_loss.set(title=f"{network}: training loss", xlabel="epoch", yscale="log")
    ax_acc.plot(epochs, [100 * (1 - h["train_acc"]) for h in history], label="train")
    ax_acc.plot(epochs, [100 * (1 - h["test_acc"]) for h in history], label="test")
    ax_acc.set(title="error (%)", xlabel="epoch")
    ax_acc.set_yscale("symlog", linthresh=1.0)  # logarithmic above 1%, linear down to 0
    ax_acc.legend()
    ax_nfe.plot(epochs, [h["nfe_forward"] for h in history], label="NFE-F")
    if network == "odenet":  # the others backpropagate: no backward solve to count
        ax_nfe.plot(epochs, [h["nfe_backward"] for h in history], label="NFE-B")
    ax_nfe.set(title="function evaluations per batch", xlabel="epoch", ylim=(0, None))
    ax_nfe.legend(loc="lower right")
    fig.tight_layout()
    return save_figure(fig, viz_dir, f"odenet_mnist_{network}.png")


def main(argv=None):
    """Runs the experiment from command line arguments ``argv``; returns the exit status 0."""
    train(build_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
