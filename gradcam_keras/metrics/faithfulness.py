"""Does the map show what the model uses? Deletion/insertion curves, Average Drop, Increase.

All four take preprocessed model inputs ``images [n, H, W, C]``, the maps at the same
resolution ``[n, H, W]`` and the class each map explains (None: the model's top class on the
unchanged image). The score is the model's probability for the class (see
``_scores.probabilities``). Perturbed pixels are whole pixels (all channels at once).

Baselines (what "removed" means), in the preprocessed input space:
    ``"zeros"``: the all-zero input; for mean-subtracted inputs (VGG's "caffe" mode) that is
    the mean colour, for inputs scaled to ``[-1, 1]`` mid-grey.
    ``"blur"``: the image blurred by a Gaussian of sigma 5 px cut at 5 px (the 11-px kernel of
    RISE's code), edges repeated.
    Or an array broadcastable to the images, or a number.
"""

import numpy as np
import scipy.ndimage

from gradcam_keras.errors import InputError, check_positive_int
from gradcam_keras.metrics._scores import (
    check_images_and_maps,
    class_probability,
    resolve_classes,
)

BLUR_SIGMA = 5.0


def deletion_auc(model, images, maps, class_index=None, *, steps=100, baseline="zeros",
                 batch_size=64, per_image=False):
    """Deletion AUC (Petsiuk et al., RISE, BMVC 2018): lower is better.

    Pixels are replaced by the baseline's in order of decreasing saliency (ties: raster
    order), ``1/steps`` of the image at a time; the class probability after each step gives a
    curve over the removed fraction ``0, 1/steps, ..., 1``, integrated by the trapezoid rule. A
    faithful map removes the evidence first and the curve falls at once.

    Args:
        model: a Keras classifier.
        images: ``[n, H, W, C]`` preprocessed inputs.
        maps: ``[n, H, W]`` saliency maps.
        class_index: None (top class), an int, or one int per image.
        steps: number of deletion steps (``steps + 1`` forward passes per image). Defaults
            to 100.
        baseline: ``"zeros"`` (default, as RISE), ``"blur"``, an array or a number.
        batch_size: inputs per forward pass. Defaults to 64.
        per_image: return the per-image AUCs instead of their mean.

    Returns:
        float in ``[0, 1]``, or ``[n]`` float array with ``per_image``.

    Raises:
        InputError: shapes that disagree, bad ``steps`` or ``baseline``.

    Example:
        >>> round(deletion_auc(model, images, maps, batch.labels, steps=16), 2)  # demo model
        0.29
    """
    return _auc(model, images, maps, class_index, steps, baseline, batch_size, per_image,
                insert=False)


def insertion_auc(model, images, maps, class_index=None, *, steps=100, baseline="blur",
                  batch_size=64, per_image=False):
    """Insertion AUC (RISE): higher is better.

    Starts from the baseline (by default the blurred image, as RISE) and puts the image's
    pixels back in order of decreasing saliency; otherwise as ``deletion_auc``.

    Args:
        model: a Keras classifier.
        images: ``[n, H, W, C]`` preprocessed inputs.
        maps: ``[n, H, W]`` saliency maps.
        class_index: None (top class), an int, or one int per image.
        steps: number of insertion steps. Defaults to 100.
        baseline: ``"blur"`` (default), ``"zeros"``, an array or a number.
        batch_size: inputs per forward pass. Defaults to 64.
        per_image: return the per-image AUCs instead of their mean.

    Returns:
        float in ``[0, 1]``, or ``[n]`` float array with ``per_image``.

    Raises:
        InputError: shapes that disagree, bad ``steps`` or ``baseline``.
    """
    return _auc(model, images, maps, class_index, steps, baseline, batch_size, per_image,
                insert=True)


def _auc(model, images, maps, class_index, steps, baseline, batch_size, per_image, insert):
    images, maps = check_images_and_maps(images, maps)
    check_positive_int(steps, "steps")
    classes = resolve_classes(model, images, class_index, batch_size)
    backgrounds = make_baseline(images, baseline)
    aucs = []
    for image, heatmap, background, c in zip(images, maps, backgrounds, classes):
        start, end = (background, image) if insert else (image, background)
        curve = class_probability(model, perturbation_path(start, end, heatmap, steps),
                                  np.full(steps + 1, c), batch_size)
        aucs.append(trapezoid_auc(curve))
    aucs = np.array(aucs)
    return aucs if per_image else float(aucs.mean())


def trapezoid_auc(curve):
    """Area under ``curve`` sampled at ``0, 1/m, ..., 1`` (``m + 1`` values), trapezoid rule.

    Example:
        >>> trapezoid_auc([1.0, 0.5, 0.0])    # (1 + 0.5)/4 + (0.5 + 0)/4
        0.5
    """
    curve = np.asarray(curve, dtype=np.float64)
    return float((curve.sum() - 0.5 * (curve[0] + curve[-1])) / (len(curve) - 1))


def perturbation_path(start, end, heatmap, steps):
    """Return ``steps + 1`` inputs going from ``start`` to ``end``, most salient pixels first.

    Input ``i`` takes its first ``floor(i * P / steps)`` pixels (``P = H * W``) in order of
    decreasing ``heatmap`` (ties: raster order) from ``end`` and the rest from ``start``.

    Args:
        start: ``[H, W, C]``.
        end: ``[H, W, C]``.
        heatmap: ``[H, W]``.
        steps: number of steps.

    Returns:
        np.ndarray ``[steps + 1, H, W, C]``.
    """
    pixels = heatmap.size
    rank = np.empty(pixels, dtype=np.int64)
    rank[np.argsort(-heatmap.ravel(), kind="stable")] = np.arange(pixels)
    counts = np.arange(steps + 1) * pixels // steps
    taken = (rank[None, :] < counts[:, None]).reshape((steps + 1,) + heatmap.shape + (1,))
    return np.where(taken, end[None], start[None])


def make_baseline(images, baseline):
    """Return the baseline for each image, ``[n, H, W, C]`` (see the module's docstring)."""
    if isinstance(baseline, str):
        if baseline == "zeros":
            return np.zeros_like(images)
        if baseline == "blur":
            # truncate * sigma = 5 px: RISE's 11-px Gaussian kernel with sigma 5.
            return scipy.ndimage.gaussian_filter(images, sigma=(0, BLUR_SIGMA, BLUR_SIGMA, 0),
                                                 truncate=1.0, mode="nearest")
        raise InputError(f"`baseline` must be 'zeros', 'blur', an array or a number, got "
                         f"{baseline!r}")
    try:
        return np.broadcast_to(np.asarray(baseline, dtype=np.float32), images.shape)
    except ValueError as error:
        raise InputError(f"`baseline` of shape {np.shape(baseline)} does not broadcast to the "
                         f"images' shape {images.shape}") from error


def average_drop(model, images, maps, class_index=None, *, batch_size=64, per_image=False):
    """Average Drop (Chattopadhay et al., Grad-CAM++, WACV 2018): lower is better.

    ``mean_i max(0, Y_i - O_i) / Y_i`` where ``Y_i`` is the class probability on the image and
    ``O_i`` on the explanation map ``E_i = image_i * L_i`` (``L_i`` the map scaled to
    ``[0, 1]`` by its maximum, negatives clipped). The paper's percentage divided by 100.

    Args:
        model: a Keras classifier.
        images: ``[n, H, W, C]`` preprocessed inputs (``E`` is formed in that space, so a
            masked-out pixel is the zero input).
        maps: ``[n, H, W]`` saliency maps.
        class_index: None (top class), an int, or one int per image.
        batch_size: inputs per forward pass. Defaults to 64.
        per_image: return the per-image drops instead of their mean.

    Returns:
        float in ``[0, 1]``, or ``[n]`` float array with ``per_image``.
    """
    full, masked = _confidences(model, images, maps, class_index, batch_size)
    # A probability that underflowed to 0 cannot drop: count it as no drop, never NaN.
    drops = np.maximum(full - masked, 0.0) / np.maximum(full, np.finfo(np.float64).tiny)
    return drops if per_image else float(drops.mean())


def increase_in_confidence(model, images, maps, class_index=None, *, batch_size=64,
                           per_image=False):
    """Increase in Confidence (Chattopadhay et al. 2018): higher is better.

    The share of images whose class probability rises on the explanation map,
    ``mean_i [Y_i < O_i]`` (see ``average_drop`` for ``Y`` and ``O``).

    Args:
        model: a Keras classifier.
        images: ``[n, H, W, C]`` preprocessed inputs.
        maps: ``[n, H, W]`` saliency maps.
        class_index: None (top class), an int, or one int per image.
        batch_size: inputs per forward pass. Defaults to 64.
        per_image: return the per-image indicators (0 or 1) instead of their mean.

    Returns:
        float in ``[0, 1]``, or ``[n]`` float array with ``per_image``.
    """
    full, masked = _confidences(model, images, maps, class_index, batch_size)
    increased = (full < masked).astype(np.float64)
    return increased if per_image else float(increased.mean())


def _confidences(model, images, maps, class_index, batch_size):
    images, maps = check_images_and_maps(images, maps)
    classes = resolve_classes(model, images, class_index, batch_size)
    scaled = np.maximum(maps, 0.0)
    scaled /= scaled.max(axis=(1, 2), keepdims=True) + 1e-7
    full = class_probability(model, images, classes, batch_size).astype(np.float64)
    masked = class_probability(model, images * scaled[..., None], classes, batch_size)
    return full, masked.astype(np.float64)
