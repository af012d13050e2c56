"""``main(argv)``: check the arguments and files, then load TensorFlow and run the pipeline.

Exit status: 0 success; 2 a bad argument or input (one line on stderr saying what and how to
fix it; also when input files of a directory could not be read and were skipped); 1 any other
failure; 130 interrupted (Ctrl-C), 128 + N killed by signal N (SIGTERM, SIGHUP): temporary
files are removed first. TensorFlow is imported only once the arguments and paths have been
checked, so those errors come back at once.
"""

import contextlib
import json
import logging
import math
import os
import signal
import sys
import traceback
import warnings

from gradcam_keras.cli import inputs, progress
from gradcam_keras.cli.parser import PROG, build_parser
from gradcam_keras.errors import InputError
from gradcam_keras.image import check_image_file
from gradcam_keras.names import ALL, display_name, load_class_names
from gradcam_keras.preprocessing import parse_preprocessing

MANY_INPUTS = 4  # from this many inputs on, a progress bar replaces per-image lines
JSON_VERSION = 1  # of the --json output; see the README, "--json"


def main(argv=None):
    """Run the command line tool.

    Args:
        argv: arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        int exit status: 0 success, 2 bad argument or input, 1 other failure.
    """
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings(record=True) as caught, _terminate_as_interrupt():
            warnings.simplefilter("always" if args.debug else "ignore")
            code = _run(args)
        for warning in caught:  # only with --debug: stderr is otherwise for our own lines
            _say(f"warning: {warning.category.__name__}: {warning.message}")
        return code
    except InputError as error:
        _say(f"error: {error}")
        return 2
    except Terminated as error:
        _say(f"terminated by {error.name}; no partial file was left")
        return 128 + error.signum
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except BrokenPipeError:  # e.g. `gradcam-keras --json ... | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as error:  # the last resort: one line, traceback on request
        if args.debug:
            traceback.print_exc()
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        hint = "" if args.debug else " (rerun with --debug for details)"
        _say(f"failed: {type(error).__name__}: {detail}{hint}")
        return 1


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that temporary files are removed on the way."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


def _raise_terminated(signum, frame):
    raise Terminated(signum)


@contextlib.contextmanager
def _terminate_as_interrupt():
    signums = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    try:
        previous = {s: signal.signal(s, _raise_terminated) for s in signums}
    except ValueError:  # not the main thread: signals stay as they are
        previous = {}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _say(message):
    progress.break_line()
    print(f"{PROG}: " + " ".join(str(message).split()), file=sys.stderr)


def _run(args):
    _check_arguments(args)
    sources, figure_paths, skipped = [], None, []
    if not args.list_layers:
        sources, paths = _checked_sources(args, skipped)
        tag = "cams" if args.method == ALL else args.method
        companions = ((".npz" if args.method == ALL else ".npy",) if args.save_npy else ())
        figure_paths = inputs.plan_outputs(args.output, [s.name for s in sources],
                                           inputs=paths, tag=tag, companions=companions)
    _import_tensorflow_quietly()
    from gradcam_keras.cli import run

    loaded, class_names, default_layer = run.load(args)
    if args.list_layers:
        return _list_layers(loaded, args.json, default_layer)
    bar = len(sources) >= MANY_INPUTS
    bar_view = progress.ProgressBar(len(sources), enabled=not args.quiet, always=bar)
    notes = []
    records = run.explain_arguments(args, loaded, class_names, default_layer, sources,
                                    figure_paths, bar_view, skipped, notes)
    if skipped and not records:
        raise InputError(skipped[0])
    _report(records, args, bar and not args.quiet, loaded.name)
    if skipped:  # the one line of an error: no notes then
        return _report_skipped(skipped, len(records))
    # Notes after the run, so that errors stay one line.
    for note in (*loaded.notes, *notes) if not args.quiet else ():
        _say(f"note: {note}")
    return 0


def _checked_sources(args, skipped):
    """The sources to explain and their files; bad files found in a directory go to skipped."""
    paths, scanned = inputs.collect_inputs(args.input or [])
    kept = []
    for path in paths:  # headers only: a bad file is reported before any model loads
        try:
            check_image_file(path)
        except InputError as error:
            if path not in scanned:
                raise
            skipped.append(str(error))
            continue
        kept.append(path)
    if paths and not kept:
        raise InputError(skipped[0])
    return _sources(args, kept), paths


def _report_skipped(skipped, written):
    first = skipped[0] if len(skipped) == 1 else f"{len(skipped)} inputs, first: {skipped[0]}"
    _say(f"error: skipped {first}; the other {written} image(s) were explained")
    return 2


def _sources(args, paths):
    if not paths and args.demo_shapes:
        return [inputs.Source.demo(args.seed)]
    return [inputs.Source.from_file(p) for p in paths or [inputs.demo_photo()]]


def _check_arguments(args):
    if not (args.input or args.demo or args.demo_shapes or args.list_layers):
        raise InputError("nothing to explain: pass --input FILE|DIR, or --demo, or "
                         "--demo-shapes, or --list-layers")
    if args.preprocess is not None:
        parse_preprocessing(args.preprocess)
    if args.layer is not None and not args.layer.strip():
        raise InputError("--layer is empty; pass a layer name (see --list-layers), or leave "
                         "--layer out for the default layer")
    if args.labels is not None:
        load_class_names(args.labels)  # read again once the model is loaded: errors come first
    if args.model is not None:
        inputs.check_model_file(args.model)
    if not 0.0 <= args.alpha <= 1.0:
        raise InputError(f"--alpha must be between 0 and 1, got {args.alpha}")
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


def _print_json(model_name, key, items, **extra):
    report = {"version": JSON_VERSION, "model": model_name, **extra, key: items}
    print(json.dumps(_finite(report), indent=2, allow_nan=False))


def _finite(value):
    """``value`` with every NaN or infinite float replaced by None (JSON's null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _list_layers(loaded, as_json, default_layer=None):
    from gradcam_keras.layer_paths import default_layer as find_default
    from gradcam_keras.models import describe_conv_layers

    rows = describe_conv_layers(loaded.model)
    default = default_layer or find_default(loaded.model)
    if as_json:
        _print_json(loaded.name, "layers", rows, default_layer=default)
        return 0
    print(f"Convolutional layers of {loaded.name} ({len(rows)}), "
          "parameters N = K1*K2*F*C + F (F filters, C input channels):")
    width = max([len(r["path"]) for r in rows] + [5])
    print(f"  {'layer':<{width}}  {'type':<16} {'kernel':<7} {'output shape':<22} "
          f"{'params':>10}  formula")
    for r in rows:
        mark = "*" if r["path"] == default else " "
        print(f"{mark} {r['path']:<{width}}  {r['type']:<16} {r['kernel']:<7} "
              f"{str(r['output_shape']):<22} "
              f"{r['params']:>10,}  {r['formula']}")
    print(f"default layer (*): {default} (the last feature map that feeds the head: the last "
          "convolution followed through BatchNormalization, activations and residual sums, "
          "up to pooling)")
    return 0


def _report(records, args, bar_shown, model_name):
    if args.json:
        _print_json(model_name, "images", records)
        return
    for record in records:
        if not bar_shown:
            best = record["targets"][0]
            print(f"{record['input']}: class {best['class_index']} ({best['name']}), "
                  f"layer {record['layer']}, preprocess {record['preprocess']} -> "
                  f"{record['figure']}")
        for target in record["targets"]:
            if target["all_zero"] and not args.quiet:
                _say(f"note: the {display_name(target['method'])} map of {record['input']} for "
                     f"class {target['class_index']} is zero everywhere (no positive evidence "
                     "at this layer); its panel is the image under jet's uniform dark blue "
                     "(the colour of 0), with no hot spot")
    if bar_shown and records:
        print(f"wrote {len(records)} figures to {os.path.dirname(records[0]['figure']) or '.'}")
