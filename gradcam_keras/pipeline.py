"""The classic pipeline, batch by batch: image, resize, preprocess, Grad-CAM, upsample, figure.

Used by the command line tool; usable on its own::

    loaded = load_model("vgg19")
    cam = GradCAM(loaded.model, "block5_conv4")
    records = explain([Source.from_file("cat.jpg")], loaded, cam, imagenet_class_names(),
                      figure_paths=["cat_gradcam.png"])
"""

import dataclasses
import os
import warnings

import numpy as np
from PIL import Image

from gradcam_keras.cli_io import atomic_write, companion
from gradcam_keras.errors import ZeroMapWarning
from gradcam_keras.image import (
    figure,
    load_image,
    normalize,
    panel_title,
    preprocess,
    resize,
    upsample,
)
from gradcam_keras.models import top_predictions


@dataclasses.dataclass(frozen=True)
class Source:
    """One image to explain.

    Attributes:
        name: base name of its outputs (``"cat"`` for ``cat.jpg``).
        label: how reports refer to it (the path, or e.g. ``"demo image (seed 0)"``).
        load: returns the image, ``uint8 [H, W, 3]``.
    """

    name: str
    label: str
    load: object

    @classmethod
    def from_file(cls, path):
        """A source read from an image file."""
        name = os.path.splitext(os.path.basename(path))[0] or "image"
        return cls(name, path, lambda: load_image(path))


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


def explain(sources, loaded, cam, class_names, *, figure_paths, class_index=None, top_k=None,
            save_npy=False, alpha=0.5, progress=None):
    """Explain each source, write its figure (and raw maps), and return one record per source.

    Args:
        sources: list of ``Source``.
        loaded: ``models.LoadedModel``.
        cam: a ``BaseCAM`` on ``loaded.model``.
        class_names: one name per class.
        figure_paths: one output path per source.
        class_index: None, or a list of classes explained in every image.
        top_k: explain each image's ``top_k`` best classes (when ``class_index`` is None).
        save_npy: also write the raw maps ``[targets, h, w]`` beside each figure (``.npy``).
        alpha: heatmap weight in the overlay.
        progress: a ``cli_io.ProgressBar`` or None.

    Returns:
        list of dicts (input, figure, npy, layer, predictions, targets with scores and maps'
        ranges).
    """
    records = []
    for start in range(0, len(sources), cam.batch_size):
        batch = sources[start:start + cam.batch_size]
        originals = [source.load() for source in batch]
        classes = None if class_index is None else [list(class_index)] * len(batch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ZeroMapWarning)  # reported in the records instead
            result = cam.compute(model_inputs(originals, loaded), classes,
                                 top_k=None if class_index is not None else top_k)
        for offset, (source, original) in enumerate(zip(batch, originals, strict=True)):
            path = figure_paths[start + offset]
            records.append(_write_one(source, original, result, offset, path, class_names,
                                      save_npy, alpha))
            if progress is not None:
                progress.advance()
    return records


def _write_one(source, original, result, i, path, class_names, save_npy, alpha):
    raw = result.maps[i]
    heatmaps = [normalize(upsample(m, original.shape[:2])) for m in raw]
    titles = [panel_title(int(c), class_names[c], result.layer) for c in result.class_index[i]]
    fig = figure(original, heatmaps, titles, alpha=alpha)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, bbox_inches="tight"))
    npy = None
    if save_npy:
        npy = companion(path, ".npy")
        atomic_write(npy, lambda tmp: np.save(tmp, raw.astype(np.float32)))
    columns = (result.class_index[i], result.scores[i], raw, result.all_zero[i])
    targets = [{
        "class_index": int(c), "name": class_names[c], "score": float(s),
        "map_min": float(m.min()), "map_max": float(m.max()), "all_zero": bool(z)}
        for c, s, m, z in zip(*columns, strict=True)]
    return {
        "input": source.label, "figure": path, "npy": npy, "layer": result.layer,
        "map_shape": list(raw.shape[1:]), "image_shape": list(original.shape[:2]),
        "predictions": top_predictions(result.logits[i], class_names, k=5),
        "targets": targets,
    }
