"""The command line tool's steps that need TensorFlow: load the model, list sources, explain."""

from gradcam_keras.cam import GradCAM
from gradcam_keras.errors import InputError
from gradcam_keras.models import LoadedModel, class_names_for, load_model, preprocess_function
from gradcam_keras.pipeline import Source
from gradcam_keras.pipeline import explain as explain_sources

DEFAULT_MODEL = "vgg19"


def load(args):
    """Return ``(LoadedModel, class names, default layer or None)`` for the parsed arguments."""
    if args.demo:
        return _load_demo(args)
    # Listing layers needs the architecture only: do not ask for ImageNet weights then.
    weights = None if args.list_layers and args.weights == "imagenet" else args.weights
    loaded = load_model(args.model or DEFAULT_MODEL, weights, args.preprocess)
    num_classes = int(loaded.model.outputs[0].shape[-1])
    return loaded, class_names_for(num_classes, args.labels), None


def _load_demo(args):
    if args.model is not None or args.weights != "imagenet":
        raise InputError("--demo uses the bundled demo model; drop --model/--weights, or drop "
                         "--demo to use them")
    from gradcam_keras import demo

    model = demo.load_demo_model()
    preprocess_input = (demo.preprocess if args.preprocess is None
                        else preprocess_function(args.preprocess))
    loaded = LoadedModel(model, "demo", preprocess_input, tuple(model.inputs[0].shape[1:3]))
    names = list(demo.CLASS_NAMES) if args.labels is None else None
    if names is None:
        names = class_names_for(int(model.outputs[0].shape[-1]), args.labels)
    return loaded, names, demo.DEMO_LAYER


def sources(args, paths):
    """Return the ``Source`` list: the input files, or one generated demo image."""
    if paths:
        return [Source.from_file(path) for path in paths]
    from gradcam_keras import demo

    seed = args.seed
    return [Source("demo", f"demo image (seed {seed})", lambda: demo.make_demo_image(seed=seed))]


def explain(args, loaded, class_names, default_layer, sources, figure_paths, progress):
    """Build the CAM(s) for the arguments and run the pipeline; return the per-image records."""
    if args.method != "gradcam":
        from gradcam_keras import cli_methods

        cams = cli_methods.build_cams(args.method, loaded.model, args.layer or default_layer,
                                      score=args.score, batch_size=args.batch_size)
        return cli_methods.explain(sources, loaded, cams, class_names, figure_paths=figure_paths,
                                   class_index=args.class_index, top_k=args.top_k,
                                   save_npy=args.save_npy, alpha=args.alpha, progress=progress)
    cam = GradCAM(loaded.model, args.layer or default_layer, score=args.score,
                  batch_size=args.batch_size)
    return explain_sources(sources, loaded, cam, class_names, figure_paths=figure_paths,
                           class_index=args.class_index, top_k=args.top_k, save_npy=args.save_npy,
                           alpha=args.alpha, progress=progress)
