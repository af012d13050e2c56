"""The command line tool's steps that need TensorFlow: load the model, run the one pipeline.

The pipeline takes the images in batches: each is resized and preprocessed for the model,
explained by every method asked for (the first decides the classes, so all explain the same
ones), drawn as one figure (``gradcam_keras.plot.figure``) and, with ``--save-npy``, saved as
raw maps; one record per image describes it (the ``images`` of the ``--json`` report, see
the README's ``--json`` section).
"""

import warnings

import numpy as np
from PIL import Image

from gradcam_keras._atomic import atomic_write
from gradcam_keras.cli.inputs import companion
from gradcam_keras.errors import InputError, ZeroMapWarning
from gradcam_keras.image import normalize, preprocess, resize, upsample
from gradcam_keras.methods import get_method
from gradcam_keras.models import (
    REAL_MODEL,
    LoadedModel,
    class_names_for,
    describe_preprocessing,
    load_model,
    preprocess_function,
    top_predictions,
)
from gradcam_keras.names import ALL, DEFAULT_METHOD, METHOD_NAMES, display_name
from gradcam_keras.plot import figure, panel_title

DEFAULT_MODEL = "vgg19"


def load(args):
    """Return ``(LoadedModel, class names, default layer or None)`` for the parsed arguments."""
    if args.demo_shapes:
        return _load_demo(args)
    if args.demo and (args.model is not None or args.weights != "imagenet"):
        raise InputError(f"--demo uses {REAL_MODEL} with its ImageNet weights; drop "
                         "--model/--weights, or drop --demo to use them")
    # Listing layers needs the architecture only: do not ask for ImageNet weights then.
    weights = None if args.list_layers and args.weights == "imagenet" else args.weights
    spec = REAL_MODEL if args.demo else args.model or DEFAULT_MODEL
    loaded = load_model(spec, weights, args.preprocess)
    num_classes = int(loaded.model.outputs[0].shape[-1])
    return loaded, class_names_for(num_classes, args.labels), None


def _load_demo(args):
    if args.model is not None or args.weights != "imagenet":
        raise InputError("--demo-shapes uses the bundled shapes model; drop --model/--weights, "
                         "or drop --demo-shapes to use them")
    from gradcam_keras import demo

    model = demo.load_demo_model()
    preprocess_input, described = demo.preprocess, "x / 127.5 - 1 (the shapes model's)"
    if args.preprocess is not None:
        preprocess_input = preprocess_function(args.preprocess)
        described = describe_preprocessing(args.preprocess)
    loaded = LoadedModel(model, "demo", preprocess_input, tuple(model.inputs[0].shape[1:3]),
                         described)
    names = list(demo.CLASS_NAMES) if args.labels is None else None
    if names is None:
        names = class_names_for(int(model.outputs[0].shape[-1]), args.labels)
    return loaded, names, demo.DEMO_LAYER


def build_cams(method, model, layer, *, score="logits", batch_size=8):
    """Return ``[(name, cam), ...]`` for ``--method`` (every method, in order, for ``all``)."""
    names = METHOD_NAMES if method == ALL else (method,)
    return [(name, get_method(name)(model, layer, score=score, batch_size=batch_size))
            for name in names]


def explain_arguments(args, loaded, class_names, default_layer, sources, figure_paths,
                      progress):
    """Build the CAM(s) the arguments ask for and run ``explain``; return its records."""
    cams = build_cams(args.method, loaded.model, args.layer or default_layer, score=args.score,
                      batch_size=args.batch_size)
    return explain(sources, loaded, cams, class_names, figure_paths=figure_paths,
                   class_index=args.class_index, top_k=args.top_k, save_npy=args.save_npy,
                   alpha=args.alpha, progress=progress)


def model_inputs(originals, loaded):
    """Resize and preprocess original images into a batch for ``loaded.model``.

    Returns:
        float32 ``[batch, height, width, channels]``.
    """
    channels = loaded.model.inputs[0].shape[-1]
    resized = [resize(image, loaded.input_size) for image in originals]
    if channels == 1:  # ITU-R 601 luma, as Pillow's "L" mode
        resized = [np.asarray(Image.fromarray(r).convert("L"))[..., None] for r in resized]
    return preprocess(np.stack(resized), loaded.preprocess_input)


def explain(sources, loaded, cams, class_names, *, figure_paths, class_index=None, top_k=None,
            save_npy=False, alpha=0.5, progress=None):
    """Explain each source with every CAM in ``cams``; write figures; return one record each.

    Args:
        sources: list of ``inputs.Source``.
        loaded: ``models.LoadedModel``.
        cams: ``[(method name, cam)]`` from ``build_cams``, all on ``loaded.model``.
        class_names: one name per class.
        figure_paths: one output path per source.
        class_index: None, or a list of classes explained in every image.
        top_k: explain each image's ``top_k`` best classes (when ``class_index`` is None).
        save_npy: also write the maps drawn (before normalisation): ``.npy`` ``[targets, h,
            w]`` for one method, ``.npz`` with one array per method for several.
        alpha: heatmap weight in the overlay.
        progress: an ``inputs.ProgressBar`` or None.

    Returns:
        list of dicts, one per source (see the README's ``--json`` section).
    """
    records = []
    batch_size = cams[0][1].batch_size
    for start in range(0, len(sources), batch_size):
        batch = sources[start:start + batch_size]
        originals = [source.load() for source in batch]
        inputs = model_inputs(originals, loaded)
        classes = None if class_index is None else [list(class_index)] * len(batch)
        result, maps = _compute(cams, inputs, classes, None if classes else top_k)
        for i, (source, original) in enumerate(zip(batch, originals, strict=True)):
            record = _write_one(source, original, result, {n: m[i] for n, m in maps.items()},
                                i, figure_paths[start + i], class_names, save_npy, alpha)
            records.append({**record, "preprocess": loaded.preprocessing})
            if progress is not None:
                progress.advance()
    return records


def _compute(cams, inputs, classes, top_k):
    """Return the first CAM's ``CAMResult`` and ``{name: [batch, targets, h, w] maps}``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZeroMapWarning)  # reported in the records instead
        (first, cam), *others = cams
        result, shown = cam.shown_maps(inputs, classes, top_k=top_k)
        chosen = result.class_index.tolist()  # every method explains the same classes
        maps = {first: shown}
        for name, other in others:
            maps[name] = other.shown_maps(inputs, chosen)[1]
    return result, maps


def _titles(maps, panels, result, i, class_names):
    """Panel titles and the figure's heading: methods side by side, or classes of one method."""
    if len(maps) > 1:
        c = int(result.class_index[i, 0])
        heading = f"{c}th dimension ({class_names[c]}) w.r.t layer {result.layer}"
        return [display_name(name) for name, _ in panels], heading
    titles = []
    for name, t in panels:
        c = int(result.class_index[i, t])
        title = panel_title(c, class_names[c], result.layer)
        # The default method's figure is the blog's, titled as there.
        titles.append(title if name == DEFAULT_METHOD else f"{display_name(name)}: {title}")
    return titles, None


def _write_one(source, original, result, maps, i, path, class_names, save_npy, alpha):
    size = original.shape[:2]
    panels = [(name, t) for name in maps for t in range(maps[name].shape[0])]
    heatmaps = [normalize(upsample(maps[name][t], size)) for name, t in panels]
    titles, heading = _titles(maps, panels, result, i, class_names)
    fig = figure(original, heatmaps, titles, alpha, heading=heading)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, bbox_inches="tight"))
    targets = [{
        "method": name, "class_index": int(result.class_index[i, t]),
        "name": class_names[result.class_index[i, t]], "score": float(result.scores[i, t]),
        "map_shape": list(maps[name][t].shape), "map_min": float(maps[name][t].min()),
        "map_max": float(maps[name][t].max()), "all_zero": not bool(np.any(maps[name][t] > 0))}
        for name, t in panels]
    return {
        "input": source.label, "figure": path, "npy": _save_maps(path, maps) if save_npy else None,
        "layer": result.layer, "methods": list(maps), "image_shape": list(size),
        "predictions": top_predictions(result.logits[i], class_names, k=5),
        "targets": targets,
    }


def _save_maps(path, maps):
    if len(maps) == 1:
        target = companion(path, ".npy")
        (only,) = maps.values()
        atomic_write(target, lambda tmp: np.save(tmp, only.astype(np.float32)))
        return target
    target = companion(path, ".npz")
    arrays = {name: m.astype(np.float32) for name, m in maps.items()}
    atomic_write(target, lambda tmp: np.savez(tmp, **arrays))
    return target
