"""Does the map find the object? The paper's box localisation and the pointing game.

Boxes are half-open pixel boxes ``(x0, y0, x1, y1)``: ``mask[y0:y1, x0:x1]``, as in
``gradcam_keras.shapes``. Maps are at the image's resolution (``gradcam_keras.image.upsample``
or ``gradcam_keras.methods.image_maps``), one per image, ``[n, H, W]``.
"""

import numpy as np
import scipy.ndimage

from gradcam_keras.errors import InputError


def map_box(heatmap, threshold=0.15):
    """Return the box around the largest connected region where the map is >= threshold * max.

    The paper's weakly-supervised localisation (Selvaraju et al. 2017, section 4.1): binarise
    the map at ``threshold`` (15%) of its maximum, take the largest connected segment and draw
    the box around it. Segments are found by ``scipy.ndimage.label`` with its default,
    4-connected structuring element; "largest" counts pixels, and the first segment in raster
    order wins a tie.

    Args:
        heatmap: ``[H, W]`` map (any scale, not necessarily normalised).
        threshold: fraction of the maximum. Defaults to 0.15.

    Returns:
        ``(x0, y0, x1, y1)`` ints (half-open), or None when the map has no positive value.

    Example:
        >>> map_box(np.array([[0, 1, 0], [0, 9, 9], [3, 0, 0]]))  # 1 < 15%; 3 is a smaller segment
        (1, 1, 3, 2)
    """
    heatmap = np.asarray(heatmap, dtype=np.float64)
    if heatmap.ndim != 2:
        raise InputError(f"`heatmap` must be 2-D [H, W], got shape {heatmap.shape}")
    check_finite_maps(heatmap, "heatmap")
    check_threshold(threshold)
    peak = heatmap.max()
    if not peak > 0:
        return None
    labels, count = scipy.ndimage.label(heatmap >= threshold * peak)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    rows, cols = np.nonzero(labels == 1 + int(np.argmax(sizes)))
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def box_iou(box, other):
    """Return the intersection over union of two half-open boxes ``(x0, y0, x1, y1)``.

    Example:
        >>> box_iou((0, 0, 2, 2), (1, 0, 3, 2))     # overlap 2, union 6
        0.3333333333333333
    """
    width = min(box[2], other[2]) - max(box[0], other[0])
    height = min(box[3], other[3]) - max(box[1], other[1])
    inter = max(width, 0) * max(height, 0)
    union = _area(box) + _area(other) - inter
    return inter / union if union > 0 else 0.0


def _area(box):
    return max(box[2] - box[0], 0) * max(box[3] - box[1], 0)


def localization_error(maps, boxes, *, threshold=0.15, min_iou=0.5, correct_class=None,
                       per_image=False):
    """The paper's localisation error: the share of images whose map box misses the object.

    For each image the box of ``map_box(map, threshold)`` is compared with the true box; the
    image is localised when the IoU is at least ``min_iou`` (and, if ``correct_class`` is given,
    its class was predicted right, which makes this the paper's top-1 localisation error). An
    image whose map has no positive value has no box and counts as an error.

    Args:
        maps: ``[n, H, W]`` maps at the image's resolution.
        boxes: ``[n, 4]`` true boxes ``(x0, y0, x1, y1)``, half-open.
        threshold: binarisation threshold as a fraction of each map's maximum. Defaults to 0.15.
        min_iou: IoU needed to count as localised. Defaults to 0.5.
        correct_class: optional ``[n]`` bools, whether each image's class was predicted right.
        per_image: return the per-image errors (0 or 1) instead of their mean.

    Returns:
        float in ``[0, 1]`` (lower is better), or ``[n]`` float array with ``per_image``.

    Raises:
        InputError: shapes that do not agree, boxes that are not ``[n, 4]``.

    Example:
        >>> localization_error(maps, batch.boxes)      # the share of the images missed
        0.5
    """
    maps, boxes = _check_maps_and_boxes(maps, boxes)
    errors = np.array([_missed(m, b, threshold, min_iou) for m, b in zip(maps, boxes)], float)
    if correct_class is not None:
        correct_class = np.asarray(correct_class, dtype=bool)
        if correct_class.shape != (len(maps),):
            raise InputError(f"`correct_class` must hold one bool per map ({len(maps)}), got "
                             f"shape {correct_class.shape}")
        errors = np.maximum(errors, ~correct_class)
    return errors if per_image else float(errors.mean())


def _missed(heatmap, box, threshold, min_iou):
    found = map_box(heatmap, threshold)
    return found is None or box_iou(found, tuple(box)) < min_iou


def pointing_game(maps, boxes=None, *, masks=None, tolerance=0.0, per_image=False):
    """The pointing game (Zhang et al., ECCV 2016): does each map's maximum hit the object?

    A hit is a maximum (the first in raster order when several pixels tie) inside the object's
    region, or within ``tolerance`` pixels of it (Euclidean distance between pixel centres; the
    original uses 15 px on ~224 px images). A map that is constant (all zero, say) points
    nowhere and counts as a miss.

    Args:
        maps: ``[n, H, W]`` maps at the image's resolution.
        boxes: ``[n, 4]`` object boxes (half-open), or None when ``masks`` are given.
        masks: ``[n, H, W]`` bool object masks, instead of ``boxes``.
        tolerance: pixels of slack around the region. Defaults to 0 (no slack).
        per_image: return the per-image hits (0 or 1) instead of the accuracy.

    Returns:
        float accuracy ``hits / n`` in ``[0, 1]``, or ``[n]`` float array with ``per_image``.

    Raises:
        InputError: neither or both of ``boxes`` and ``masks``; shapes that do not agree;
            a negative ``tolerance``.

    Example:
        >>> pointing_game(maps, batch.boxes)            # the demo model's maps
        1.0
        >>> pointing_game(maps, masks=batch.masks, tolerance=4)
        1.0
    """
    regions = _regions(maps, boxes, masks)
    check_finite_maps(maps)
    if not tolerance >= 0:
        raise InputError(f"`tolerance` must be >= 0 pixels, got {tolerance}")
    hits = []
    for heatmap, region in zip(np.asarray(maps, dtype=np.float64), regions):
        if tolerance > 0:
            region = scipy.ndimage.distance_transform_edt(~region) <= tolerance
        if heatmap.max() == heatmap.min():
            hits.append(0.0)
            continue
        hits.append(float(region.flat[int(np.argmax(heatmap))]))
    hits = np.array(hits)
    return hits if per_image else float(hits.mean())


def _regions(maps, boxes, masks):
    if (boxes is None) == (masks is None):
        raise InputError("pass the object regions as either `boxes` ([n, 4]) or `masks` "
                         "([n, H, W] bools), exactly one of them")
    if masks is not None:
        masks = np.asarray(masks, dtype=bool)
        maps = np.asarray(maps)
        if masks.shape != maps.shape:
            raise InputError(f"`masks` have shape {masks.shape}, the maps {maps.shape}; they "
                             "must match (upsample the maps to the image size)")
        return masks
    maps, boxes = _check_maps_and_boxes(maps, boxes)
    regions = np.zeros(maps.shape, dtype=bool)
    for region, (x0, y0, x1, y1) in zip(regions, boxes):
        region[y0:y1, x0:x1] = True
    return regions


def check_threshold(threshold):
    """Raise an InputError unless ``threshold`` is a fraction of the maximum, in (0, 1]."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) or not (
            0 < threshold <= 1):
        raise InputError(f"`threshold` must be a fraction of each map's maximum, in (0, 1] "
                         f"(the paper's 0.15), got {threshold!r}")


def check_finite_maps(maps, name="maps"):
    """Raise an InputError when ``maps`` hold NaN or infinity (a model that overflowed)."""
    maps = np.asarray(maps, dtype=np.float64)
    if not np.all(np.isfinite(maps)):
        bad = int(np.size(maps) - np.count_nonzero(np.isfinite(maps)))
        raise InputError(f"`{name}` hold {bad} NaN or infinite value(s); a map computed from a "
                         "model with NaN weights or overflowing activations means nothing: fix "
                         "the model (or compute in float32) and compute the maps again")


def _check_maps_and_boxes(maps, boxes):
    maps = np.asarray(maps, dtype=np.float64)
    boxes = np.asarray(boxes)
    if maps.ndim != 3 or not len(maps):
        raise InputError(f"`maps` must be [n, H, W] maps at the image's resolution, got shape "
                         f"{maps.shape}; for one map use maps[None]")
    check_finite_maps(maps)
    if boxes.shape != (len(maps), 4) or not np.issubdtype(boxes.dtype, np.integer):
        raise InputError(f"`boxes` must be [n, 4] ints (x0, y0, x1, y1), one per map "
                         f"({len(maps)}), got shape {boxes.shape} and dtype {boxes.dtype}")
    return maps, boxes
