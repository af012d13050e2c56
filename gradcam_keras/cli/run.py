"""The command line tool's steps that need TensorFlow: load the model, run the one pipeline.

The pipeline takes the images in batches: each is resized and preprocessed for the model,
explained by every method asked for (the first decides the classes, so all explain the same
ones), drawn as one figure (``gradcam_keras.plot.figure``) and, with ``--save-npy``, saved as
raw maps; one record per image describes it (the ``images`` of the ``--json`` report, see
the README's ``--json`` section).
"""

import os
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
from gradcam_keras.plot import MAX_OVERLAYS, MAX_SHOWN_SIDE, figure, ordinal, panel_title

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
    if not args.list_layers:
        _check_channels(loaded)
    num_classes = int(loaded.model.outputs[0].shape[-1])
    return loaded, class_names_for(num_classes, args.labels), None


def _check_channels(loaded):
    shape = loaded.model.inputs[0].shape
    if len(shape) == 4 and shape[-1] not in (1, 3, None):
        raise InputError(f"model {loaded.name} takes images of {shape[-1]} channels; this tool "
                         "reads image files as RGB (3 channels) or grayscale (1), so it cannot "
                         "feed this model; use the library with your own arrays")


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
    try:
        return [(name, get_method(name)(model, layer, score=score, batch_size=batch_size))
                for name in names]
    except TypeError as error:  # the library's TypeErrors name what the user passed
        raise InputError(str(error)) from error


def explain_arguments(args, loaded, class_names, default_layer, sources, figure_paths,
                      progress, skipped=None, notes=None):
    """Build the CAM(s) the arguments ask for and run ``explain``; return its records."""
    cams = build_cams(args.method, loaded.model, args.layer or default_layer, score=args.score,
                      batch_size=args.batch_size)
    return explain(sources, loaded, cams, class_names, figure_paths=figure_paths,
                   class_index=args.class_index, top_k=args.top_k, save_npy=args.save_npy,
                   alpha=args.alpha, progress=progress, skipped=skipped, notes=notes)


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
            save_npy=False, alpha=0.5, progress=None, skipped=None, notes=None):
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
        progress: a ``progress.ProgressBar`` or None.
        skipped: None (an image that cannot be read stops the run), or a list: such images
            are skipped and their error messages appended.
        notes: None, or a list the remarks about the figures are appended to (what was
            bounded: panels per figure, pixels per panel).

    Returns:
        list of dicts, one per source (see the README's ``--json`` section).
    """
    records, notes = [], notes if notes is not None else []
    batch_size = cams[0][1].batch_size
    for start in range(0, len(sources), batch_size):
        count = len(sources[start:start + batch_size])
        batch, paths, originals = _load_batch(sources[start:start + batch_size],
                                              figure_paths[start:start + batch_size], skipped)
        if not batch:
            if progress is not None:
                progress.advance(count)
            continue
        inputs = model_inputs(originals, loaded)
        classes = None if class_index is None else [list(class_index)] * len(batch)
        result, maps = _compute(cams, inputs, classes, None if classes else top_k, progress)
        for i, (source, original) in enumerate(zip(batch, originals, strict=True)):
            record = _write_one(source, original, result, {n: m[i] for n, m in maps.items()},
                                i, paths[i], class_names, save_npy, alpha, notes)
            records.append({**record, "preprocess": loaded.preprocessing})
        if progress is not None:
            progress.advance(count)
    return records


def _load_batch(sources, paths, skipped):
    """Load the batch's images; with a ``skipped`` list, one that cannot be read is left out."""
    kept, kept_paths, originals = [], [], []
    for source, path in zip(sources, paths, strict=True):
        try:
            originals.append(source.load())
        except InputError as error:
            if skipped is None:
                raise
            skipped.append(str(error))
            continue
        kept.append(source)
        kept_paths.append(path)
    return kept, kept_paths, originals


def _compute(cams, inputs, classes, top_k, progress=None):
    """Return the first CAM's ``CAMResult`` and ``{name: [batch, targets, h, w] maps}``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZeroMapWarning)  # reported in the records instead
        (first, cam), *others = cams
        result, shown = cam.shown_maps(inputs, classes, top_k=top_k)
        chosen = result.class_index.tolist()  # every method explains the same classes
        maps = {first: shown}
        for name, other in others:
            if progress is not None:
                progress.advance(0, stage=f"{display_name(name)} next")
            maps[name] = other.shown_maps(inputs, chosen)[1]
    return result, maps


def _titles(maps, panels, result, i, class_names):
    """Panel titles and the figure's heading: methods side by side, or classes of one method."""
    if len(maps) > 1:
        c = int(result.class_index[i, 0])
        heading = f"{ordinal(c)} dimension ({class_names[c]}) w.r.t layer {result.layer}"
        return [display_name(name) for name, _ in panels], heading
    titles = []
    for name, t in panels:
        c = int(result.class_index[i, t])
        title = panel_title(c, class_names[c], result.layer)
        # The default method's figure is the blog's, titled as there.
        titles.append(title if name == DEFAULT_METHOD else f"{display_name(name)}: {title}")
    return titles, None


def _write_one(source, original, result, maps, i, path, class_names, save_npy, alpha, notes):
    size = original.shape[:2]
    panels = [(name, t) for name in maps for t in range(maps[name].shape[0])]
    shown, drawn = _bounded(original, panels, notes)
    heatmaps = [normalize(upsample(maps[name][t], shown.shape[:2])) for name, t in drawn]
    titles, heading = _titles(maps, drawn, result, i, class_names)
    if len(drawn) < len(panels):
        heading = (heading + "\n" if heading else "") + (
            f"the first {len(drawn)} of {len(panels)} maps")
    fig = figure(shown, heatmaps, titles, alpha, heading=heading)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)  # made by the first write only
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


def _bounded(original, panels, notes):
    """The image as drawn (long side at most ``MAX_SHOWN_SIDE``) and the panels drawn."""
    shown, drawn = original, panels[:MAX_OVERLAYS]
    height, width = original.shape[:2]
    if max(height, width) > MAX_SHOWN_SIDE:
        scale = MAX_SHOWN_SIDE / max(height, width)
        shown = resize(original, (max(1, round(height * scale)), max(1, round(width * scale))))
        _note_once(notes, f"images larger than {MAX_SHOWN_SIDE} px are drawn downscaled to "
                          f"{MAX_SHOWN_SIDE} px on their long side; the maps saved by "
                          "--save-npy and the JSON report are not changed")
    if len(drawn) < len(panels):
        _note_once(notes, f"a figure draws at most {MAX_OVERLAYS} maps; {len(panels)} were "
                          f"asked for, so each figure shows the first {MAX_OVERLAYS} (--save-npy "
                          "keeps them all)")
    return shown, drawn


def _note_once(notes, note):
    if note not in notes:
        notes.append(note)


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
