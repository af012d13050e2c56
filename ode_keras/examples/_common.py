"""Helpers shared by the examples: a headless pyplot, the figure directory, a running mean."""

import os

import numpy as np


def pyplot():
    """Returns ``matplotlib.pyplot`` on the file-only Agg backend.

    The examples only write PNG files, so they never need (or may not have) a display.

    Returns:
        The ``matplotlib.pyplot`` module.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, viz_dir, name):
    """Writes ``fig`` to ``viz_dir/name`` (creating the directory) and closes it.

    Args:
        fig: A matplotlib figure.
        viz_dir: Directory for the figure; created when missing.
        name: File name, for example ``"spiral.png"``.

    Returns:
        The path of the written file.
    """
    os.makedirs(viz_dir, exist_ok=True)
    path = os.path.join(viz_dir, name)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    print(f"Saved {path}")
    return path


def count_parameters(layer):
    """Number of trainable scalars of a built Keras layer or model (counters excluded)."""
    return sum(int(np.prod(v.shape)) for v in layer.trainable_weights)


class RunningAverage:
    """Exponential moving average of a noisy training quantity, as the original examples print.

    Args:
        momentum: Weight of the past; the first value initialises the average. Defaults to 0.99.

    Example:
        >>> meter = RunningAverage(momentum=0.5)
        >>> meter.update(4.0); meter.update(2.0); meter.avg
        3.0
    """

    def __init__(self, momentum=0.99):
        self.momentum = momentum
        self.val = None
        self.avg = 0.0

    def update(self, val):
        """Adds one observation ``val`` (a float) to the average."""
        val = float(val)
        if self.val is None:
            self.avg = val
        else:
            self.avg = self.momentum * self.avg + (1 - self.momentum) * val
        self.val = val
