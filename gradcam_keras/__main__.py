"""Command line interface: ``python -m gradcam_keras`` and ``gradcam-keras``.

Exit status: 0 success; 2 a bad argument or input (one line on stderr saying what and how to
fix it); 1 any other failure. TensorFlow is imported only once the arguments and paths have
been checked, so those errors come back at once.
"""

import argparse
import json
import logging
import sys
import traceback
import warnings

from gradcam_keras.errors import InputError
from gradcam_keras.method_names import ALL, METHOD_NAMES

PROG = "gradcam-keras"
MANY_INPUTS = 4  # from this many inputs on, a progress bar replaces per-image lines
PREPROCESSING = ("caffe", "tf", "torch", "unit", "none")  # models.PREPROCESSING, without TF


def build_parser():
    """Return the argument parser of the ``gradcam-keras`` command.

    Returns:
        argparse.ArgumentParser.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Grad-CAM heatmaps for Keras image classifiers (Selvaraju et al. 2017).\n"
                    "Writes, per image, the original beside the jet overlay of the map.",
        epilog="examples:\n  gradcam-keras --demo\n  gradcam-keras --demo --method all\n"
               "  gradcam-keras --input cat.jpg --layer block5_conv4\n"
               "  gradcam-keras --input photos/ --top-k 3 --output maps/ --save-npy --json\n"
               "  gradcam-keras --model resnet50 --list-layers",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_input_arguments(parser.add_argument_group("what to explain"))
    _add_model_arguments(parser.add_argument_group("model"))
    _add_cam_arguments(parser.add_argument_group("Grad-CAM"))
    _add_output_arguments(parser.add_argument_group("output"))
    return parser


def _add_input_arguments(group):
    group.add_argument("--input", nargs="+", metavar="PATH",
                       help="image files or directories of images")
    group.add_argument("--demo", action="store_true",
                       help="use the bundled demo CNN (no download); without --input, explain "
                            "a freshly generated shapes image")
    group.add_argument("--seed", type=int, default=0,
                       help="seed of the --demo image (default 0)")


def _add_model_arguments(group):
    group.add_argument("--model", metavar="NAME|PATH",
                       help="a keras.applications classifier (vgg19, resnet50, ...) or a "
                            "saved .keras model file (default vgg19)")
    group.add_argument("--weights", default="imagenet", metavar="imagenet|PATH",
                       help="'imagenet' (from Keras's cache) or a weights file (default "
                            "imagenet)")
    group.add_argument("--preprocess", choices=PREPROCESSING,
                       help="input scaling (default: the named model's; none for model files)")
    group.add_argument("--labels", metavar="PATH",
                       help="class names: JSON list, Keras-style index, or one per line "
                            "(default: ImageNet's for 1000 classes)")
    group.add_argument("--list-layers", action="store_true",
                       help="print each convolutional layer with its output shape and "
                            "parameter count N = K1*K2*F*C + F, then exit")


def _add_cam_arguments(group):
    group.add_argument("--layer", metavar="NAME",
                       help="layer path, e.g. block5_conv4 or backbone/block5_conv4 (default: "
                            "the model's last convolutional layer)")
    classes = group.add_mutually_exclusive_group()
    classes.add_argument("--class-index", type=int, nargs="+", metavar="C",
                         help="explain these classes in every image (default: the top class)")
    classes.add_argument("--top-k", type=_positive_int, metavar="K",
                         help="explain each image's K best classes, one panel each")
    group.add_argument("--method", choices=(*METHOD_NAMES, ALL), default="gradcam",
                       help="the CAM method (default gradcam, the paper's); 'all' draws one "
                            "panel per method for one class")
    group.add_argument("--score", choices=("logits", "softmax"), default="logits",
                       help="differentiate the score before the softmax (the paper; default) "
                            "or the softmax probability (the classic blog)")
    group.add_argument("--batch-size", type=_positive_int, default=8, metavar="N",
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


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def main(argv=None):
    """Run the command line tool.

    Args:
        argv: arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        int exit status: 0 success, 2 bad argument or input, 1 other failure.
    """
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always" if args.debug else "ignore")
            code = _run(args)
        for warning in caught:  # only with --debug: stderr is otherwise for our own lines
            _say(f"warning: {warning.category.__name__}: {warning.message}")
        return code
    except InputError as error:
        _say(f"error: {error}")
        return 2
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except BrokenPipeError:  # e.g. `gradcam-keras --json ... | head`: the reader left
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as error:  # the last resort: one line, traceback on request
        if args.debug:
            traceback.print_exc()
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        _say(f"failed: {type(error).__name__}: {detail} (rerun with --debug for details)")
        return 1


def _say(message):
    print(f"{PROG}: " + " ".join(str(message).split()), file=sys.stderr)


def _run(args):
    from gradcam_keras import cli_io
    from gradcam_keras.image_files import check_image_file

    if not (args.input or args.demo or args.list_layers):
        raise InputError("nothing to explain: pass --input FILE|DIR, or --demo, or "
                         "--list-layers")
    if not 0.0 <= args.alpha <= 1.0:
        raise InputError(f"--alpha must be between 0 and 1, got {args.alpha}")
    _check_method_targets(args)
    paths = [] if args.list_layers else cli_io.collect_inputs(args.input or [])
    figure_paths = None
    if not args.list_layers:
        for path in paths:  # headers only: a bad file is reported before any model loads
            check_image_file(path)
        names = [_base_name(p) for p in paths] if paths else ["demo"]
        tag = "cams" if args.method == ALL else args.method
        figure_paths = cli_io.plan_outputs(args.output, names, inputs=paths, tag=tag)
    _import_tensorflow_quietly()
    from gradcam_keras import cli_run

    loaded, class_names, default_layer = cli_run.load(args)
    if args.list_layers:
        return _list_layers(loaded, args.json)
    sources = cli_run.sources(args, paths)
    progress = cli_io.ProgressBar(len(sources), enabled=_bar(args, sources))
    records = cli_run.explain(args, loaded, class_names, default_layer, sources, figure_paths,
                              progress)
    _report(records, args, _bar(args, sources))
    return 0


def _check_method_targets(args):
    several = (args.top_k or 1) > 1 or len(args.class_index or ()) > 1
    if args.method == ALL and several:
        raise InputError("--method all draws one panel per method for one class; pass one "
                         "--class-index (or --top-k 1), or pick one --method for several "
                         "classes")


def _import_tensorflow_quietly():
    """Import TensorFlow with its C++ start-up banner kept off stderr.

    TensorFlow's native code logs "Could not find cuda drivers..." lines before Python can set
    its log level; stderr is meant for this tool's own one-line messages.
    """
    import os

    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # errors surface as exceptions
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _base_name(path):
    import os

    return os.path.splitext(os.path.basename(path))[0] or "image"


def _bar(args, sources):
    return len(sources) >= MANY_INPUTS and not args.quiet


def _list_layers(loaded, as_json):
    from gradcam_keras.layers import describe_conv_layers

    rows = describe_conv_layers(loaded.model)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"Convolutional layers of {loaded.name} ({len(rows)}), "
          "parameters N = K1*K2*F*C + F (F filters, C input channels):")
    width = max([len(r["path"]) for r in rows] + [5])
    print(f"{'layer':<{width}}  {'type':<16} {'kernel':<7} {'output shape':<22} "
          f"{'params':>10}  formula")
    for r in rows:
        print(f"{r['path']:<{width}}  {r['type']:<16} {r['kernel']:<7} "
              f"{str(r['output_shape']):<22} "
              f"{r['params']:>10,}  {r['formula']}")
    return 0


def _report(records, args, bar_shown):
    if args.json:
        print(json.dumps(records, indent=2))
        return
    for record in records:
        if not bar_shown:
            best = record["targets"][0]
            print(f"{record['input']}: class {best['class_index']} ({best['name']}), "
                  f"layer {record['layer']} -> {record['figure']}")
        for target in record["targets"]:
            if target["all_zero"] and not args.quiet:
                _say(f"note: the map of {record['input']} for class {target['class_index']} is "
                     "zero everywhere (no positive evidence at this layer); its overlay is "
                     "the plain image")
    if bar_shown:
        print(f"wrote {len(records)} figures to {_common_dir(records)}")


def _common_dir(records):
    import os

    return os.path.dirname(records[0]["figure"]) or "."


if __name__ == "__main__":
    sys.exit(main())
