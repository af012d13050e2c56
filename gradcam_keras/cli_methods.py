"""The command line tool's ``--method``: any CAM of the family, or all of them side by side.

``--method gradcam`` (the default) goes through ``gradcam_keras.pipeline`` and draws the blog's
figure. Any other method draws the same figure with the method's maps (one panel per class,
titled with the method's name); ``--method all`` draws one panel per method for one class, on
a grid. Guided Grad-CAM's panel is the magnitude of Guided Backpropagation times the upsampled
Grad-CAM map (``GuidedGradCAM.pixel_maps``), at the model input's resolution.
"""

import math
import warnings

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gradcam_keras.cli_io import atomic_write, companion
from gradcam_keras.errors import ZeroMapWarning
from gradcam_keras.image import normalize, overlay, panel_title, upsample
from gradcam_keras.method_names import ALL, METHOD_NAMES, display_name
from gradcam_keras.methods import get_method
from gradcam_keras.models import top_predictions
from gradcam_keras.pipeline import model_inputs

COLUMNS = 5  # panels per row of the --method all grid


def build_cams(method, model, layer, *, score="logits", batch_size=8):
    """Return ``[(name, cam), ...]`` for ``--method`` (every method, in order, for ``all``)."""
    names = METHOD_NAMES if method == ALL else (method,)
    return [(name, get_method(name)(model, layer, score=score, batch_size=batch_size))
            for name in names]


def explain(sources, loaded, cams, class_names, *, figure_paths, class_index=None, top_k=None,
            save_npy=False, alpha=0.5, progress=None):
    """Explain each source with every CAM in ``cams``; write figures; return one record each.

    Args:
        sources: list of ``pipeline.Source``.
        loaded: ``models.LoadedModel``.
        cams: ``[(method name, cam)]`` from ``build_cams``, all on ``loaded.model``.
        class_names: one name per class.
        figure_paths: one output path per source.
        class_index: None, or a list of classes explained in every image.
        top_k: explain each image's ``top_k`` best classes (when ``class_index`` is None).
        save_npy: also write the maps drawn (before normalisation): ``.npy`` ``[targets, h,
            w]`` for one method, ``.npz`` with one array per method for several.
        alpha: heatmap weight in the overlay.
        progress: a ``cli_io.ProgressBar`` or None.

    Returns:
        list of dicts as ``pipeline.explain``'s, each target also naming its ``method``.
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
            records.append(_write_one(source, original, result, {n: m[i] for n, m in maps.items()},
                                      i, figure_paths[start + i], class_names, save_npy, alpha))
            if progress is not None:
                progress.advance()
    return records


def _compute(cams, inputs, classes, top_k):
    """Return the first CAM's ``CAMResult`` and ``{name: [batch, targets, h, w] maps}``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZeroMapWarning)  # reported in the records instead
        result = cams[0][1].compute(inputs, classes, top_k=top_k)
        chosen = result.class_index.tolist()  # every method explains the same classes
        maps = {}
        for name, cam in cams:
            if hasattr(cam, "pixel_maps"):
                maps[name] = np.stack([cam.pixel_maps(inputs, [row[t] for row in chosen])
                                       for t in range(len(chosen[0]))], axis=1)
            else:
                maps[name] = result.maps if cam is cams[0][1] else cam.compute(
                    inputs, chosen).maps
    return result, maps


def _write_one(source, original, result, maps, i, path, class_names, save_npy, alpha):
    size = original.shape[:2]
    panels = [(name, t) for name in maps for t in range(maps[name].shape[0])]
    heatmaps = [normalize(upsample(maps[name][t], size)) for name, t in panels]
    layer, several = result.layer, len(maps) > 1
    titles = [display_name(name) if several else f"{display_name(name)}: " + panel_title(
        int(result.class_index[i, t]), class_names[result.class_index[i, t]], layer)
        for name, t in panels]
    heading = None
    if several:
        c = int(result.class_index[i, 0])
        heading = f"{c}th dimension ({class_names[c]}) w.r.t layer {layer}"
    fig = methods_figure(original, heatmaps, titles, heading=heading, alpha=alpha)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, bbox_inches="tight"))
    npy = _save_maps(path, maps) if save_npy else None
    targets = [{
        "method": name, "class_index": int(result.class_index[i, t]),
        "name": class_names[result.class_index[i, t]], "score": float(result.scores[i, t]),
        "map_shape": list(maps[name][t].shape), "map_min": float(maps[name][t].min()),
        "map_max": float(maps[name][t].max()), "all_zero": not bool(np.any(maps[name][t] > 0))}
        for name, t in panels]
    return {
        "input": source.label, "figure": path, "npy": npy, "layer": layer,
        "methods": list(maps), "image_shape": list(size),
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


def methods_figure(image, heatmaps, titles, *, heading=None, alpha=0.5, columns=COLUMNS):
    """The original image, then one jet overlay per heatmap, on a grid of ``columns``.

    Args:
        image: ``uint8 [H, W, 3]`` original image.
        heatmaps: list of ``[H, W]`` maps in ``[0, 1]``.
        titles: one title per heatmap.
        heading: optional title above the whole figure.
        alpha: heatmap weight in the overlay. Defaults to 0.5.
        columns: panels per row. Defaults to 5.

    Returns:
        matplotlib.figure.Figure (not registered with pyplot).
    """
    count = 1 + len(heatmaps)
    cols = min(count, columns)
    rows = math.ceil(count / cols)
    height, width = np.shape(image)[:2]
    fig = Figure(figsize=(4 * cols, rows * (4 * height / width + 0.8) + (0.4 if heading else 0)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    axes[0].imshow(image)
    axes[0].set_title("Original image")
    for ax, heatmap, title in zip(axes[1:], heatmaps, titles):
        ax.imshow(overlay(image, heatmap, alpha=alpha))
        ax.set_title(title)
    for ax in axes:
        ax.axis("off")
    if heading:
        fig.suptitle(heading)
    fig.tight_layout()
    return fig
