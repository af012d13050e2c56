"""Memory of a training step of the three MNIST classifiers: the paper's Table 1 column.

Chen et al. (2018) list memory as O(L) for the ResNet (six blocks, all activations kept),
O(L~) for the RK-Net (backpropagation through every solver step) and O(1) for the ODE-Net
(the adjoint). This measures it: one SGD step of ``odenet_mnist``'s networks on a batch of
32 digit-sized images (28x28x1), in a fresh process each, with TensorFlow's allocator
statistics (see ``_memory``). Tighter tolerances make the solver take more steps: the RK-Net's
memory grows with them, the ODE-Net's should not. The networks are freshly initialised, so
their solves are shorter than after training (NFE-F 26 at the end of odenet_mnist's run).

Run:  nice -n 10 python benchmarks/odenet_memory.py [--tols 1e-3 1e-5]
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _memory import run_child, step_memory  # noqa: E402

BATCH = 32


def child(network, tol):
    """Measure one network at one tolerance in this (fresh) process; prints one JSON line."""
    import keras
    import numpy as np
    import tensorflow as tf

    from ode_keras.examples._common import count_parameters
    from ode_keras.examples._mnist_models import build_classifier
    from ode_keras.examples.odenet_mnist import make_steps

    keras.utils.set_random_seed(0)
    model = build_classifier(network, tol=tol)
    train_step, _ = make_steps(model, keras.optimizers.SGD(0.01, momentum=0.9))
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(BATCH, 28, 28, 1)), tf.float32)
    y = tf.constant(rng.integers(0, 10, size=BATCH), tf.int32)
    block = model.get_layer("ode_block") if network != "resnet" else None

    def step():
        if block is not None:
            block.reset_nfe()
        train_step(x, y)
        return (0, 0) if block is None else (int(block.nfe_forward), int(block.nfe_backward))

    peak_mib, rss_mib, (nfe_f, nfe_b) = step_memory(step)
    print(json.dumps({"network": network, "tol": tol, "params": count_parameters(model),
                      "peak_mib": peak_mib, "rss_mib": rss_mib, "nfe_f": nfe_f,
                      "nfe_b": nfe_b}))


def main():
    """Measure every network and tolerance in its own subprocess and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tols", type=float, nargs="+", default=[1e-3, 1e-5])
    parser.add_argument("--child", nargs=2, metavar=("NETWORK", "TOL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], float(args.child[1]))
        return
    rows = [run_child(__file__, "resnet", args.tols[0])]
    rows += [run_child(__file__, network, tol) for tol in args.tols
             for network in ("rknet", "odenet")]
    print(f"One SGD step, batch {BATCH} of 28x28x1, freshly initialised networks; peak of "
          "TensorFlow's allocator above the memory live before the step (in brackets: peak "
          "RSS increase over the first call)\n")
    print("| network | dopri5 tol | parameters | NFE-F | NFE-B | memory MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        tol = "-" if row["network"] == "resnet" else f"{row['tol']:g}"
        nfe_b = "backprop" if row["network"] == "rknet" else row["nfe_b"] or "-"
        print(f"| {row['network']} | {tol} | {row['params']:,} | {row['nfe_f'] or '-'} | "
              f"{nfe_b} | {row['peak_mib']:.1f} ({row['rss_mib']:.0f}) |")


if __name__ == "__main__":
    main()
