"""Grad-CAM speed on VGG19 (weights=None), side by side in one run.

Times one batch (default 8 images at 224x224, ``block5_conv4``) for:

- the forward pass alone (``model(x)`` in a ``tf.function``): the floor, since Grad-CAM needs one
  forward pass and a backward pass from the scores down to block5_conv4;
- ``gradcam_keras.GradCAM`` (raw maps), with and without XLA, and the full map as shown
  (upsampled to 224x224 and normalised);
- tf-keras-vis's ``Gradcam`` (``ReplaceToLinear`` on a clone, ``CategoricalScore`` with the top
  classes precomputed and not timed), which returns upsampled, normalised maps.

Each method is called once to warm up (tracing), then the methods are timed in interleaved
rounds and the median is reported, so a slow moment of the machine hits them alike.

Run:  nice -n 10 python benchmarks/gradcam_speed.py [--batch 8] [--repeats 10]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from gradcam_keras import GradCAM, normalize, upsample  # noqa: E402

LAYER = "block5_conv4"


def build_methods(model, images):
    """Return ``{name: zero-argument callable}`` for every method that is available."""
    forward = tf.function(lambda x: model(x, training=False), autograph=False)
    images_tensor = tf.constant(images)
    cam = GradCAM(model, LAYER, batch_size=len(images))
    cam_xla = GradCAM(model, LAYER, batch_size=len(images), jit_compile=True)

    def shown_maps():
        return np.stack([normalize(upsample(m, images.shape[1:3])) for m in cam(images)])

    methods = {
        "forward pass alone": lambda: forward(images_tensor).numpy(),
        "gradcam_keras GradCAM (raw maps)": lambda: cam(images),
        "gradcam_keras GradCAM, jit_compile=True": lambda: cam_xla(images),
        "gradcam_keras GradCAM + upsample + normalise": shown_maps,
    }
    peer = tf_keras_vis_method(model, images)
    if peer is not None:
        methods["tf-keras-vis Gradcam"] = peer
    return methods


def tf_keras_vis_method(model, images):
    """tf-keras-vis's Gradcam on the same model and batch, or None when it is not installed."""
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        print("tf-keras-vis is not installed (pip install tf-keras-vis): its row is left out")
        return None
    top = np.argmax(model.predict(images, verbose=0), axis=1)
    gradcam = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    score = CategoricalScore(list(top))
    return lambda: gradcam(score, images, penultimate_layer=LAYER,
                           seek_penultimate_conv_layer=False)


def time_methods(methods, repeats):
    """Return ``{name: [seconds, ...]}``: a warm-up call each, then interleaved timed rounds."""
    for run in methods.values():
        run()
    times = {name: [] for name in methods}
    for _ in range(repeats):
        for name, run in methods.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def report(times, batch):
    """Print the median time of each method and its ratios to the forward pass and the peer."""
    medians = {name: statistics.median(values) for name, values in times.items()}
    forward = medians["forward pass alone"]
    peer = medians.get("tf-keras-vis Gradcam")
    print(f"\nVGG19 (weights=None), batch of {batch} at 224x224, layer {LAYER}; "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"{os.cpu_count()} CPU core(s)\n")
    print("| method | median s/batch | x forward pass | tf-keras-vis time / this |")
    print("|---|---:|---:|---:|")
    for name, median in medians.items():
        speedup = f"{peer / median:.2f}x" if peer else "n/a"
        print(f"| {name} | {median:.3f} | {median / forward:.2f} | {speedup} |")
    cam = medians["gradcam_keras GradCAM (raw maps)"]
    print(f"\nGrad-CAM / forward pass = {cam / forward:.2f} (target <= 1.2)")
    if peer:
        shown = medians["gradcam_keras GradCAM + upsample + normalise"]
        print(f"tf-keras-vis / gradcam_keras = {peer / cam:.2f}x raw maps, "
              f"{peer / shown:.2f}x maps as shown (target >= 2.5)")


def main():
    """Parse the arguments, time every method, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    model = keras.applications.VGG19(weights=None)
    images = keras.applications.vgg19.preprocess_input(
        np.random.default_rng(0).uniform(0, 255, (args.batch, 224, 224, 3)).astype(np.float32))
    report(time_methods(build_methods(model, images), args.repeats), args.batch)


if __name__ == "__main__":
    main()
