"""Localisation and faithfulness of every CAM method on the shapes data, beside tf-keras-vis.

On freshly generated shapes images (known boxes; never seen in training) and the bundled demo
CNN, each method explains each image's true class at the demo layer (conv5, 16x16), and its
maps, upsampled to 64x64, are scored with ``gradcam_keras.metrics``:

- pointing game (no tolerance) and the paper's top-1 localisation error (box of the largest
  region above 15% of the maximum; IoU >= 0.5 with the true box, and the class predicted right);
- deletion AUC (zeros baseline) and insertion AUC (blur baseline), ``--steps`` steps;
- Average Drop and Increase in Confidence (Grad-CAM++ paper);
- milliseconds per image for the maps (after a warm-up call; the median of ``--repeats``
  calls on the whole set).

tf-keras-vis's Gradcam, GradcamPlusPlus, Layercam and Scorecam run on the same model, images and
classes. A second table is Adebayo et al.'s sanity check (Spearman's rho between the maps of the
model and of copies randomised from the top). Last, Score-CAM on VGG19 (weights=None)
block5_conv4, 512 channels, one 224x224 image, ours against tf-keras-vis's, exact and Faster
Score-CAM (64 channels), wall-clock and CPU time.

Run:  nice -n 10 python benchmarks/localization.py [--quick] [--skip-vgg19 | --vgg19-only]
"""

import argparse
import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _localization_peers import tf_keras_vis_methods, vgg19_scorecam_race  # noqa: E402

from gradcam_keras import demo, metrics  # noqa: E402
from gradcam_keras.demo import shapes  # noqa: E402
from gradcam_keras.methods import METHODS, image_maps  # noqa: E402
from gradcam_keras.names import display_name  # noqa: E402

SEED = 20_250_101  # a plain int seed: the stream (seed, 0), never a training image


def our_methods(model):
    """Return ``{row name: maps(images, labels)}`` for every method of the registry."""
    def runner(cls):
        cam = cls(model, demo.DEMO_LAYER, batch_size=64)
        return lambda images, labels: image_maps(cam, images, [int(c) for c in labels])
    return {display_name(name): runner(cls) for name, cls in METHODS.items()}


def timed_maps(run, images, labels, repeats):
    """Warm up on two images, then time calls on all; return (maps, median seconds per image)."""
    run(images[:2], labels[:2])
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        maps = run(images, labels)
        seconds.append(time.perf_counter() - start)
    return maps, float(np.median(seconds)) / len(images)


def score(model, images, data, maps, correct, steps):
    """Return the row of metrics for one method's maps."""
    labels = data.labels
    return {
        "pointing": metrics.pointing_game(maps, data.boxes),
        "loc_error": metrics.localization_error(maps, data.boxes, correct_class=correct),
        "deletion": metrics.deletion_auc(model, images, maps, labels, steps=steps),
        "insertion": metrics.insertion_auc(model, images, maps, labels, steps=steps),
        "drop": metrics.average_drop(model, images, maps, labels),
        "increase": metrics.increase_in_confidence(model, images, maps, labels),
    }


def print_table(rows, count, steps):
    """Print the markdown table of the metrics."""
    print(f"\n{count} fresh shapes images (64x64), demo CNN, layer {demo.DEMO_LAYER}, true "
          f"class; deletion/insertion in {steps} steps. TensorFlow {tf.__version__}, Keras "
          f"{keras.__version__}, {os.cpu_count()} CPU core(s)\n")
    print("| method | pointing game ↑ | loc. error ↓ | deletion AUC ↓ | insertion AUC ↑ "
          "| Average Drop ↓ | Increase ↑ | ms / image |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        print(f"| {name} | {row['pointing']:.1%} | {row['loc_error']:.1%} | "
              f"{row['deletion']:.3f} | {row['insertion']:.3f} | {row['drop']:.1%} | "
              f"{row['increase']:.1%} | {1000 * row['seconds']:.1f} |")


def print_sanity(model, images, labels):
    """Print Spearman's rho after randomising the top layer, half the layers, all of them."""
    print(f"\nSanity check (Adebayo et al. 2018), {len(images)} images: Spearman's rho between "
          "the maps of the model and of a copy randomised from the top (1 = unchanged)\n")
    header = None
    for name, cls in METHODS.items():
        steps = metrics.randomization_sanity_check(cls, model, images, layer=demo.DEMO_LAYER,
                                                   class_index=[int(c) for c in labels])
        if header is None:
            header = [path for path, _ in steps]
            print("| method | " + " | ".join(f"to {p}" for p in header) + " |")
            print("|---|" + "---:|" * len(header))
        print(f"| {display_name(name)} | " + " | ".join(f"{rho:+.2f}" for _, rho in steps)
              + " |")


def print_vgg19(result):
    """Print the Score-CAM races on VGG19: times, ratios, and whether the maps agree."""
    from gradcam_keras.image import upsample

    print(f"\nScore-CAM, VGG19 (weights=None) block5_conv4 ({result['channels']} channels, "
          f"{result['varying']} not constant), one 224x224 image, one cold call each\n")
    print("| run | wall s | CPU s | tf-keras-vis / ours (wall, CPU) | rank corr. of maps |")
    print("|---|---:|---:|---:|---:|")
    for ours, peer, label in (("ours", "tf-keras-vis", "Score-CAM"),
                              ("ours faster", "tf-keras-vis faster",
                               f"Faster Score-CAM, {result['faster_channels']} channels")):
        our_map, wall, cpu = result[ours]
        print(f"| gradcam_keras {label} | {wall:.1f} | {cpu:.1f} | | |")
        if peer in result:
            peer_map, peer_wall, peer_cpu = result[peer]
            rho = metrics.rank_correlation(upsample(our_map, (224, 224)), peer_map)
            print(f"| tf-keras-vis {label} | {peer_wall:.1f} | {peer_cpu:.1f} | "
                  f"{peer_wall / wall:.2f}x, {peer_cpu / cpu:.2f}x | {rho:.3f} |")


def main():
    """Parse the arguments, run every method, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="40 images, 8 steps, one timing, no VGG19")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-vgg19", action="store_true")
    parser.add_argument("--vgg19-only", action="store_true")
    args = parser.parse_args()
    if args.vgg19_only:
        print_vgg19(vgg19_scorecam_race())
        return
    count, steps, repeats = (40, 8, 1) if args.quick else (args.images, args.steps, args.repeats)
    tf.get_logger().setLevel("ERROR")  # one traced function per method: retrace notices
    warnings.simplefilter("ignore")    # zero maps are part of what is measured
    keras.utils.set_random_seed(0)
    model = demo.load_demo_model()
    data = shapes.generate(count, seed=SEED, size=demo.IMAGE_SIZE)
    images = demo.preprocess(data.images)
    correct = np.argmax(model.predict(images, verbose=0), axis=1) == data.labels
    rows, runners = {}, {**our_methods(model), **tf_keras_vis_methods(model, demo.DEMO_LAYER)}
    for name, run in runners.items():
        maps, seconds = timed_maps(run, images, data.labels, repeats)
        rows[name] = {**score(model, images, data, maps, correct, steps), "seconds": seconds}
        print(f"  {name}: done", file=sys.stderr)
    print_table(rows, count, steps)
    print(f"\nGrad-CAM pointing game: {rows['Grad-CAM']['pointing']:.1%} (target >= 90%); "
          f"classification accuracy {correct.mean():.1%}")
    print_sanity(model, images[:16], data.labels[:16])
    if not (args.quick or args.skip_vgg19):
        print_vgg19(vgg19_scorecam_race())


if __name__ == "__main__":
    main()
