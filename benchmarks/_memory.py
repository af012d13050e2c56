"""Peak memory of one training step, measured in a fresh process by TensorFlow's allocator.

TensorFlow's default CPU allocator keeps no statistics and ``tracemalloc`` does not see its
allocations, so each measurement runs in a subprocess started with the BFC allocator
(``TF_CPU_ALLOCATOR_USE_BFC=true``), where ``tf.config.experimental.get_memory_info('CPU:0')``
reports the bytes of live tensors and their peak. After a warm-up call (graph optimisation,
first allocations) the statistics are reset and the step runs once more: its peak minus the
bytes live before it is what the step itself needs.
"""

import json
import os
import resource
import subprocess
import sys

MIB = 2**20


def step_memory(train_step):
    """Run ``train_step()`` twice; returns ``(peak MiB of the second call, RSS MiB, output)``.

    The RSS figure is the growth of the process's peak resident memory over the first call
    (``resource.getrusage``), a cross-check that also holds the one-off graph optimisation.
    """
    import tensorflow as tf

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    train_step()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tf.config.experimental.reset_memory_stats("CPU:0")
    before = tf.config.experimental.get_memory_info("CPU:0")["current"]
    output = train_step()
    peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
    return (peak - before) / MIB, (rss_after - rss_before) / 1024, output


def run_child(script, *args):
    """Run ``script --child ARGS`` in a fresh interpreter with the BFC allocator.

    The child prints its result as one JSON line; returns it as a dict.
    """
    env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "true", "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, os.path.abspath(script), "--child", *map(str, args)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(map(str, args))} failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1])
