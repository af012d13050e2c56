"""ODE-Net training step at a realistic size: ode_keras's three gradient paths vs torchdiffeq.

Run:  nice -n 10 python benchmarks/odenet_speed.py [--quick]

The model is ``odenet_mnist``'s ODE-Net (Chen et al. 2018; ``_mnist_models``): a convolutional
stem (28x28x1 -> 6x6x64), an ``ODEBlock`` integrating a GroupNorm/ReLU/time-conv field over
[0, 1] with dopri5 at rtol = atol = 1e-3, and a GroupNorm/pooling/dense head. One training step
is a batch of 128 random images and labels, softmax cross-entropy, its gradient and an SGD
update (lr 0.1, momentum 0.9). torchdiffeq runs the architecture of its own
``examples/odenet_mnist.py`` (``_odenet_torch``), with ``odeint`` (direct) and
``odeint_adjoint``. Every method starts from the same weights (the Keras model's, copied into
torch) and trains on the same batches, so all follow the same trajectory of weights to the
solver's tolerance and solve the same problems; the NFE columns show the work.

Methods run on one thread each (TensorFlow intra- and inter-op, torch). The tf.function and
torch rows are timed in this process, in interleaved blocks of consecutive steps (one block
of each method in turn, so machine load drifts over all alike; single steps in turn would let
the runtimes' worker threads sleep between steps, which slows small TF/JAX steps up to 2x).
The XLA rows are not: each XLA step takes 10-30 s here (XLA:CPU runs the convolutions'
gradients inside the solver's while loops about 15x slower than TensorFlow's kernels) and
compiling takes about a minute, so each is compiled, measured and timed on a few steps in its
own process. Backpropagation under XLA at the default ``max_num_steps`` (4096) reserves room
for 4096 steps of saved activations and is attempted as it is; ``--xla-max-num-steps N`` adds a
row with a hand-set budget.

Before timing, the first step's loss and gradients are compared. At rtol = atol = 1e-3 the two
libraries take the same steps but end differently (ode_keras clips the last step at t = 1,
torchdiffeq steps past it and interpolates), so the solutions agree to about the tolerance;
the loss and the head's gradients hardly feel that. The gradients through the solve do: on
this freshly initialised network they are small residues of cancelling terms (GroupNorm), and
at tolerance 1e-3 each library's exact gradient is itself 12-14% (largest over tensors) away
from the one of a 1e-6 solve, where the two libraries agree to 2-3% (float32). Differences of
that order between them are expected; checkpoint vs backprop replays the same steps, so only
float32 round-off separates them.

Memory: each method in a fresh process; peak memory of one training step (after a warm-up
step) above what was live before it. TensorFlow: the BFC allocator's statistics
(``_memory.step_memory``). torch: the profiler's allocation events (``profile_memory=True``),
whose running "Total Allocated" counts the bytes allocated minus freed since the step began,
the same quantity for torch's CPU allocator. In brackets, both: the growth of the process's peak
RSS over the first step, a cross-check that includes one-off costs (tracing, compiling).
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _memory import MIB, run_child, step_memory  # noqa: E402

BATCH, TOL, LR, MOMENTUM, SEED = 128, 1e-3, 0.1, 0.9, 0
# Children may not take the shared machine's memory: an allocation beyond this fails instead.
MEMORY_CAP = 16 * 2**30
START = time.perf_counter()


def set_threads():
    """One thread in TensorFlow (intra- and inter-op) and in torch."""
    import tensorflow as tf
    import torch

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)


def make_batches(count):
    """``count`` batches of random 28x28x1 images in [0, 1) and labels; the same in any process."""
    rng = np.random.default_rng(SEED)
    return [(rng.uniform(size=(BATCH, 28, 28, 1)).astype(np.float32),
             rng.integers(0, 10, size=BATCH).astype(np.int32)) for _ in range(count)]


def build_keras(gradient, options=None):
    """The ODE-Net of ``odenet_mnist`` with the given gradient path; the same weights each time."""
    import keras

    from ode_keras import ODEBlock
    from ode_keras.examples import _mnist_models as models

    keras.utils.set_random_seed(SEED)  # same construction order -> same initial weights
    block = ODEBlock(models.ODEFunc(64), t=(0.0, 1.0), method="dopri5", rtol=TOL, atol=TOL,
                     gradient=gradient, options=options, name="ode_block")
    return keras.Sequential([keras.Input((28, 28, 1)), *models.downsampling_layers(64), block,
                             *models.head_layers(10, 64)])


class KerasStep:
    """One SGD training step of the Keras ODE-Net, traced once (fixed input signature).

    Args:
        name: Row label.
        gradient: ``"adjoint"``, ``"backprop"`` or ``"checkpoint"``.
        jit_compile: Compile the step with XLA.
        options: Solver options of the ``ODEBlock``.
    """

    def __init__(self, name, gradient, jit_compile=False, options=None):
        import keras
        import tensorflow as tf

        self.name, self.tf = name, tf
        self.model = build_keras(gradient, options)
        self.block = self.model.get_layer("ode_block")
        self.optimizer = keras.optimizers.SGD(LR, momentum=MOMENTUM)
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        signature = [tf.TensorSpec([BATCH, 28, 28, 1], tf.float32),
                     tf.TensorSpec([BATCH], tf.int32)]
        self._train = tf.function(self._train_step, input_signature=signature,
                                  jit_compile=jit_compile)
        self._grads = tf.function(self._loss_and_grads, input_signature=signature)

    def prepare(self, batch):
        """A numpy batch as tensors, converted once before timing."""
        return tuple(self.tf.constant(part) for part in batch)

    def _loss_and_grads(self, images, labels):
        with self.tf.GradientTape() as tape:
            loss = self.loss_fn(labels, self.model(images, training=True))
        return loss, tape.gradient(loss, self.model.trainable_variables)

    def _train_step(self, images, labels):
        loss, grads = self._loss_and_grads(images, labels)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        return loss

    def step(self, prepared):
        """One training step; returns ``(loss, nfe_f, nfe_b)``."""
        self.block.reset_nfe()
        loss = float(self._train(*prepared))
        return loss, self.block.nfe_forward, self.block.nfe_backward

    def gradients(self, prepared):
        """The loss and the gradients of one step, without an update (for the checks)."""
        loss, grads = self._grads(*prepared)
        return float(loss), [g.numpy() for g in grads]


# spec -> row label. A spec names a method in a child's command line.
KERAS = {f"keras/{g}/{mode}": f"ode_keras {g}, {label}"
         for g in ("adjoint", "backprop", "checkpoint")
         for mode, label in (("graph", "tf.function"), ("xla", "XLA"))}
KERAS["keras/backprop/xla"] = "ode_keras backprop, XLA, default max_num_steps=4096"
TORCH = {"torch/direct": "torchdiffeq odeint (direct)",
         "torch/adjoint": "torchdiffeq odeint_adjoint"}


def label(spec):
    """The row label of ``spec``."""
    default = f"ode_keras backprop, XLA, max_num_steps={spec.split('/')[-1]} (hand-set)"
    return KERAS.get(spec) or TORCH.get(spec) or default


def make_method(spec):
    """The runner of ``spec``: ``keras/GRADIENT/graph|xla[/MAX_NUM_STEPS]`` or ``torch/MODE``."""
    parts = spec.split("/")
    if parts[0] == "torch":
        from _odenet_torch import TorchStep

        variables = build_keras("backprop").trainable_variables
        return TorchStep(label(spec), variables, adjoint=parts[1] == "adjoint", tol=TOL, lr=LR,
                         momentum=MOMENTUM)
    options = {"max_num_steps": int(parts[3])} if len(parts) > 3 else None
    return KerasStep(label(spec), parts[1], jit_compile=parts[2] == "xla", options=options)


def torch_step_memory(step):
    """``step_memory`` for torch: profiler peak of the second call, RSS growth of the first."""
    from torch.profiler import ProfilerActivity, profile

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        output = step()
    path = f"/tmp/odenet_speed_trace_{os.getpid()}.json"
    prof.export_chrome_trace(path)
    with open(path) as file:
        events = json.load(file)["traceEvents"]
    os.remove(path)
    # "Total Allocated" starts at 0 when profiling starts: bytes live above the start.
    peak = max((e["args"]["Total Allocated"] for e in events if e.get("name") == "[memory]"),
               default=0)
    return peak / MIB, (rss_after - rss_before) / 1024, output


def child(spec, timed_steps):
    """In a fresh process: memory of one step of ``spec``, then ``timed_steps`` timed steps.

    Prints one JSON line. Exits with ``os._exit`` so that a failed allocation's teardown in the
    BFC allocator (which aborts) cannot hide the result.
    """
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    set_threads()
    method = make_method(spec)
    batches = iter([method.prepare(b) for b in make_batches(2 + timed_steps)])
    seconds, nfe = [], []

    def one_step():
        start = time.perf_counter()
        _, nfe_f, nfe_b = method.step(next(batches))
        seconds.append(time.perf_counter() - start)
        nfe.append((nfe_f, nfe_b))

    measure = torch_step_memory if spec.startswith("torch") else step_memory
    begin = time.perf_counter()
    try:
        peak, rss, _ = measure(one_step)
        for _ in range(timed_steps):
            one_step()
        result = {"peak_mib": peak, "rss_mib": rss, "first_s": seconds[0],
                  "ms": [1000 * s for s in seconds[2:]], "nfe": nfe[2:] or nfe[1:]}
    except Exception as error:  # noqa: BLE001 - any failure is the row's result
        result = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:120]}",
                  "first_s": time.perf_counter() - begin}
    print(json.dumps(result), flush=True)
    os._exit(0)


def check_agreement(methods, prepared):
    """Print the first step's loss and gradient differences for pairs of methods.

    The gradients are split at the ODE block: the head's 4 tensors see only the block's output;
    the stem's and field's 20 are backpropagated through the solve.
    """
    pairs = [("keras/backprop/graph", "torch/direct"), ("keras/adjoint/graph", "torch/adjoint"),
             ("keras/checkpoint/graph", "keras/backprop/graph")]
    results = {spec: methods[spec].gradients(prepared[spec][0])
               for spec in {s for pair in pairs for s in pair}}
    print("Agreement on the first step (same weights, same batch, float32); relative difference "
          "= max|a - b| / max|b| per tensor, largest over the tensors:")
    for ours, theirs in pairs:
        (loss_a, grads_a), (loss_b, grads_b) = results[ours], results[theirs]
        diffs = [np.max(np.abs(a - b)) / np.max(np.abs(b)) for a, b in zip(grads_a, grads_b)]
        print(f"  {methods[ours].name} vs {methods[theirs].name}: loss rel. diff "
              f"{abs(loss_a - loss_b) / abs(loss_b):.1e} ({loss_a:.7f} vs {loss_b:.7f}); "
              f"gradients rel. diff: head {max(diffs[20:]):.1e}, stem and field (through the "
              f"solve) {max(diffs[:20]):.1e} (median {np.median(diffs[:20]):.1e})")
    print("  Expected: loss and head to float32 round-off (their inputs, the solutions, agree to "
          "~tol and the head barely feels it); through the solve, differences of the order of "
          "each library's own gradient error at tol 1e-3 (~10% here, see the module docstring); "
          "checkpoint vs backprop: round-off only (the same steps replayed).\n")


def time_in_blocks(methods, prepared, warmup, block):
    """Time each method's steps, ``block`` consecutive steps of one method at a time.

    Returns ``{spec: {"ms": [per step], "nfe": [(f, b)], "first_s": seconds}}``; the first
    ``warmup`` steps (tracing) are untimed but for the first call's time.
    """
    results = {spec: {"ms": [], "nfe": [], "first_s": None} for spec in methods}
    total = len(next(iter(prepared.values())))
    for spec, method in methods.items():
        for i in range(warmup):
            start = time.perf_counter()
            method.step(prepared[spec][i])
            if i == 0:
                results[spec]["first_s"] = time.perf_counter() - start
    for first in range(warmup, total, block):
        for spec, method in methods.items():
            for batch in prepared[spec][first:first + block]:
                start = time.perf_counter()
                _, nfe_f, nfe_b = method.step(batch)
                results[spec]["ms"].append(1000 * (time.perf_counter() - start))
                results[spec]["nfe"].append((nfe_f, nfe_b))
    return results


def memory_rows(specs, timed_steps):
    """Run each spec's child; ``{spec: result}`` (XLA children also time ``timed_steps``)."""
    rows = {}
    for spec in specs:
        steps = timed_steps if "/xla" in spec else 0
        print(f"  measuring {spec} in a fresh process ...", flush=True)
        rows[spec] = run_child(__file__, spec, steps)
    return rows


def format_row(spec, timing, memory, peers):
    """One Markdown table row."""
    name = label(spec)
    if "error" in memory:
        return (f"| {name} | fails after {memory['first_s']:.0f} s: {memory['error']} | - | - "
                f"| - | - | - |")
    ms, nfe = timing.get("ms") or memory["ms"], timing.get("nfe") or memory["nfe"]
    first_s = timing.get("first_s") or memory["first_s"]
    median = statistics.median(ms)
    peer = peers["torch/adjoint" if "adjoint" in spec else "torch/direct"]
    nfe_f = statistics.mean(f for f, _ in nfe)
    nfe_b = statistics.mean(b for _, b in nfe) if "adjoint" in spec else None
    nfe_b = "-" if nfe_b is None else f"{nfe_b:.1f}"
    return (f"| {name} | {median:.0f} ({len(ms)}) | {peer / median:.2f}x | {nfe_f:.1f} | "
            f"{nfe_b} | {memory['peak_mib']:.0f} ({memory['rss_mib']:.0f}) | {first_s:.1f} |")


def report(timings, memories, args):
    """Print the table."""
    import tensorflow as tf
    import torch

    peers = {spec: statistics.median(timings[spec]["ms"]) for spec in TORCH}
    print(f"\nODE-Net (odenet_mnist) training step: batch {BATCH} of 28x28x1, dopri5 rtol = atol "
          f"= {TOL:g}, SGD lr {LR} momentum {MOMENTUM}, float32; one thread, TensorFlow "
          f"{tf.__version__}, torch {torch.__version__}; {os.cpu_count()} CPU cores.")
    print(f"tf.function and torch rows: median of {args.steps} steps after {args.warmup} "
          f"warm-up, in blocks of {args.block}; XLA rows: {args.xla_steps} step(s) after "
          "2, in their own process. Speed-up: the torchdiffeq row of the same mode (adjoint "
          "vs odeint_adjoint, exact gradients vs odeint) / this.\n")
    print("| method | ms / step (steps) | speed-up vs torchdiffeq same mode | NFE-F | NFE-B | "
          "peak MiB (RSS growth, first step) | first call s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for spec in memories:
        print(format_row(spec, timings.get(spec, {}), memories[spec], peers))
    print(f"\nWhole run {time.perf_counter() - START:.0f} s. NFE-B: evaluations of the "
          "adjoint dynamics; '-' for exact-gradient paths, which backpropagate (checkpoint also "
          "re-runs each step once more under a tape, uncounted).")


def parse_args():
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per method")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    parser.add_argument("--block", type=int, default=5, help="consecutive steps per block")
    parser.add_argument("--xla-steps", type=int, default=1, help="timed steps of XLA rows")
    parser.add_argument("--xla-max-num-steps", type=int, default=None,
                        help="add an XLA backprop row with this max_num_steps")
    parser.add_argument("--no-xla", action="store_true", help="skip the XLA rows")
    parser.add_argument("--quick", action="store_true",
                        help="4 steps in blocks of 2, 1 warm-up, no XLA rows")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.warmup, args.block, args.no_xla = 4, 1, 2, True
    return args


def main():
    """Check agreement, time the in-process rows, measure every row's memory, print the table."""
    args = parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
    graph_specs = [*TORCH, *(s for s in KERAS if s.endswith("graph"))]
    xla_specs = [] if args.no_xla else [s for s in KERAS if s.endswith("xla")]
    if args.xla_max_num_steps and not args.no_xla:
        xla_specs.append(f"keras/backprop/xla/{args.xla_max_num_steps}")
    # Memory first, while this process has imported neither TensorFlow nor torch: Linux starts a
    # child's peak RSS at its parent's, which would hide the children's RSS growth.
    memories = memory_rows(graph_specs + xla_specs, args.xla_steps)
    set_threads()
    methods = {spec: make_method(spec) for spec in graph_specs}
    batches = make_batches(args.warmup + args.steps)
    prepared = {spec: [m.prepare(b) for b in batches] for spec, m in methods.items()}
    check_agreement(methods, prepared)
    timings = time_in_blocks(methods, prepared, args.warmup, args.block)
    report(timings, memories, args)

if __name__ == "__main__":
    main()
