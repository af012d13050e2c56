"""Synthetic shapes on cluttered backgrounds, with the object's box and mask known.

The data set behind the bundled demo model (``gradcam_keras.demo``) and the tests:
each image holds exactly one filled shape (one of ``CLASS_NAMES``) at a random
position, size, rotation and colour, drawn over a colour gradient with soft
illumination blobs, thin distractor strokes and dots, and pixel noise. Because
the object's mask is known exactly, a class-activation map can be scored
against it (pointing game, box IoU, deletion/insertion curves).

Geometry conventions:
    Pixel ``(row, col)`` covers the unit square ``[col, col + 1) x [row, row + 1)``
    and belongs to a shape when its centre ``(col + 0.5, row + 0.5)`` lies inside.
    A box ``(x0, y0, x1, y1)`` is half-open in pixel indices, like numpy slicing:
    ``mask[y0:y1, x0:x1]`` holds every pixel of the object and each of its four
    edge rows/columns holds at least one (the box is tight). In continuous
    coordinates the box is ``[x0, x1) x [y0, y1)``, so its area is
    ``(x1 - x0) * (y1 - y0)``.

Distractors never enter the object's box grown by ``clutter_margin(height, width)``
pixels, so the box is the object's alone; the soft illumination blobs of the
background are not distractors and cover the whole image.

Seeds: ``seed`` is anything ``numpy.random.SeedSequence`` takes (an int or a
sequence of ints); image ``i`` comes from child ``i`` of that sequence, so
``generate(n, seed)`` is a prefix of ``generate(m, seed)`` for ``m > n``. An int
``s`` and the pair ``(s, 0)`` give the same sequence; ``gradcam_keras.demo.train``
draws from the pairs ``(seed, 1)``, ``(seed, 2)`` and ``(seed, 3)``, so int seeds always
give images the demo model never saw. Images are reproducible for a given numpy version.
"""

import dataclasses
import numbers

import numpy as np

from gradcam_keras.demo.geometry import (
    SHAPE_KINDS,
    STAR_INNER_RATIO,
    mask_box,
    pixel_centres,
    shape_mask,
    shape_vertices,
)
from gradcam_keras.errors import is_int

__all__ = ["CLASS_NAMES", "STAR_INNER_RATIO", "ShapesBatch", "backgrounds", "clutter_margin",
           "generate", "mask_box", "shape_mask", "shape_vertices"]

CLASS_NAMES = SHAPE_KINDS
MIN_SIDE = 24
MAX_SIDE = 1024
# Circumradius of the object as a fraction of the image's shorter side.
RADIUS_RANGE = (0.12, 0.24)
# Smallest RGB distance between the object and the mean background under it.
MIN_CONTRAST = 120.0


@dataclasses.dataclass(frozen=True)
class ShapesBatch:
    """A batch of synthetic images with their ground truth.

    Attributes:
        images: uint8 array ``[n, height, width, 3]``.
        labels: int64 array ``[n]``, indices into ``class_names``.
        boxes: int64 array ``[n, 4]`` of tight half-open boxes ``(x0, y0, x1, y1)``.
        masks: bool array ``[n, height, width]``, the object's pixels.
        clutter: bool array ``[n, height, width]``, the distractors' pixels.
        class_names: the class names, ``CLASS_NAMES``.
    """

    images: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    masks: np.ndarray
    clutter: np.ndarray
    class_names: tuple = CLASS_NAMES

    def __len__(self):
        return len(self.labels)


def clutter_margin(height, width):
    """Return the distractor-free margin, in pixels, around the object's box.

    Args:
        height: image height in pixels.
        width: image width in pixels.

    Returns:
        int: ``max(2, round(0.04 * min(height, width)))``.

    Example:
        >>> clutter_margin(64, 96)
        3
    """
    return max(2, round(0.04 * min(height, width)))



def generate(n, seed=0, size=64):
    """Generate ``n`` images, each with one shape on a cluttered background.

    Args:
        n: number of images, a positive int.
        seed: an int or a sequence of ints, as ``numpy.random.SeedSequence`` takes.
            Image ``i`` depends only on ``seed`` and ``i``.
        size: an int for square images or ``(height, width)``; each side between
            ``MIN_SIDE`` and ``MAX_SIDE``.

    Returns:
        ShapesBatch: images, labels, boxes, masks and clutter masks.

    Raises:
        ValueError: if ``n``, ``seed`` or ``size`` is out of range.
        TypeError: if one of them has the wrong type.

    Example:
        >>> batch = generate(4, seed=7, size=(48, 64))
        >>> batch.images.shape, batch.images.dtype, batch.boxes.shape
        ((4, 48, 64, 3), dtype('uint8'), (4, 4))
    """
    n, height, width = _check_n(n), *_check_size(size)
    children = np.random.SeedSequence(_check_seed(seed)).spawn(n)
    images = np.empty((n, height, width, 3), np.uint8)
    labels = np.empty(n, np.int64)
    boxes = np.empty((n, 4), np.int64)
    masks = np.empty((n, height, width), bool)
    clutter = np.empty((n, height, width), bool)
    for i, child in enumerate(children):
        images[i], labels[i], boxes[i], masks[i], clutter[i] = _render(
            np.random.default_rng(child), height, width)
    return ShapesBatch(images, labels, boxes, masks, clutter)


def backgrounds(n, seed=0, size=64):
    """Generate ``n`` images of the same backgrounds and distractors with no object.

    The demo model trains on these with a uniform target over the classes (as in
    Outlier Exposure, Hendrycks et al. 2019), so that clutter alone is evidence for
    no class and every class has to be recognised from its own shape, not picked
    as the class of "none of the others". Grad-CAM then points at the object for
    every class.

    Args:
        n: number of images, a positive int.
        seed: an int or a sequence of ints, as in ``generate``.
        size: an int or ``(height, width)``, as in ``generate``.

    Returns:
        uint8 array ``[n, height, width, 3]``.

    Raises:
        ValueError: if ``n``, ``seed`` or ``size`` is out of range.
        TypeError: if one of them has the wrong type.

    Example:
        >>> backgrounds(2, seed=1, size=32).shape
        (2, 32, 32, 3)
    """
    n, height, width = _check_n(n), *_check_size(size)
    children = np.random.SeedSequence(_check_seed(seed)).spawn(n)
    return np.stack([_render(np.random.default_rng(child), height, width, with_object=False)[0]
                     for child in children])


def _render(rng, height, width, with_object=True):
    label = int(rng.integers(len(CLASS_NAMES)))
    radius = rng.uniform(*RADIUS_RANGE) * min(height, width)
    centre = (rng.uniform(radius + 1, width - radius - 1),
              rng.uniform(radius + 1, height - radius - 1))
    mask = shape_mask(CLASS_NAMES[label], (height, width), centre, radius,
                      rng.uniform(0, 2 * np.pi))
    canvas = _background(rng, height, width)
    if with_object:
        box, colour = mask_box(mask), _contrasting_colour(rng, canvas[mask].mean(axis=0))
    else:
        mask[:] = False
        box, colour = None, rng.uniform(0, 255, 3)
    clutter = _draw_clutter(rng, canvas, box, colour)
    canvas[mask] = colour
    canvas += rng.normal(0.0, rng.uniform(3, 12), canvas.shape)
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return image, label, box, mask, clutter


def _background(rng, height, width):
    """A linear colour gradient plus a few soft illumination blobs, float RGB."""
    xs, ys = pixel_centres(height, width)
    direction = rng.uniform(0, 2 * np.pi)
    along = xs * np.cos(direction) + ys * np.sin(direction)
    t = (along - along.min()) / max(np.ptp(along), 1e-9)
    start, end = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    canvas = start + t[..., None] * (end - start)
    side = min(height, width)
    for _ in range(rng.integers(1, 4)):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        sx, sy = rng.uniform(0.1, 0.35, 2) * side
        bump = np.exp(-0.5 * (((xs - cx) / sx) ** 2 + ((ys - cy) / sy) ** 2))
        canvas += bump[..., None] * rng.uniform(-60, 60, 3)
    return canvas


def _contrasting_colour(rng, background_mean):
    """A random colour at least MIN_CONTRAST from the background under the object."""
    for _ in range(100):
        colour = rng.uniform(0, 255, 3)
        if np.linalg.norm(colour - background_mean) >= MIN_CONTRAST:
            return colour
    # Unreachable in practice (the far corner of the RGB cube is >= 221 away); keeps it total.
    return np.where(background_mean < 127.5, 255.0, 0.0)


def _draw_clutter(rng, canvas, box, object_colour):
    """Paint disjoint strokes and dots outside the object's box (if any) grown by the margin."""
    height, width = canvas.shape[:2]
    xs, ys = pixel_centres(height, width)
    forbidden = np.zeros((height, width), bool)
    if box is not None:
        margin = clutter_margin(height, width)
        x0, y0, x1, y1 = box
        forbidden = ((xs > x0 - margin) & (xs < x1 + margin)
                     & (ys > y0 - margin) & (ys < y1 + margin))
    side = min(height, width)
    painted = np.zeros((height, width), bool)
    for _ in range(rng.integers(round(0.1 * side), round(0.2 * side) + 1)):
        # Shared colours keep the object's colour from giving its position away.
        colour = object_colour if rng.random() < 0.3 else rng.uniform(0, 255, 3)
        for _attempt in range(10):
            draw = random_stroke if rng.random() < 0.7 else random_dot
            window, item = draw(rng, xs, ys, side)
            # Disjoint distractors: piled-up strokes would make blobs as thick as a shape.
            if not (item & (forbidden[window] | painted[window])).any():
                canvas[window][item] = colour
                painted[window] |= item
                break
    return painted


def _check_n(n):
    if not is_int(n):
        raise TypeError(f"n must be an int, got {type(n).__name__} ({n!r}); pass e.g. n=100.")
    if n < 1:
        raise ValueError(f"n must be at least 1, got n={n}; ask for one image or more.")
    return int(n)


def _check_size(size):
    pair = (size, size) if isinstance(size, numbers.Integral) else size
    if not (isinstance(pair, (list, tuple)) and len(pair) == 2
            and all(is_int(s) for s in pair)):
        raise TypeError(f"size must be an int or a (height, width) pair of ints, "
                        f"got {size!r}; pass e.g. size=64 or size=(48, 80).")
    height, width = int(pair[0]), int(pair[1])
    if min(height, width) < MIN_SIDE or max(height, width) > MAX_SIDE:
        raise ValueError(f"size sides must lie in [{MIN_SIDE}, {MAX_SIDE}] pixels, got "
                         f"(height, width)=({height}, {width}); below {MIN_SIDE} a shape "
                         f"with clutter around it is not recognisable.")
    return height, width


def _check_seed(seed):
    words = [seed] if isinstance(seed, numbers.Integral) else seed
    if not (isinstance(words, (list, tuple)) and words
            and all(is_int(w) for w in words)):
        raise TypeError(f"seed must be an int or a non-empty tuple of ints, got {seed!r}; "
                        f"pass e.g. seed=0 or seed=(0, 1).")
    if min(words) < 0:
        raise ValueError(f"seed must be non-negative, got seed={seed!r}; pass e.g. seed=0.")
    return [int(w) for w in words]


def segment_distance(xs, ys, a, b):
    """Return the distance from each point ``(xs, ys)`` to the segment from ``a`` to ``b``."""
    direction = b - a
    t = ((xs - a[0]) * direction[0] + (ys - a[1]) * direction[1]) / max(direction @ direction,
                                                                        1e-12)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(xs - a[0] - t * direction[0], ys - a[1] - t * direction[1])


def random_stroke(rng, xs, ys, side):
    """A polyline of one to three thin segments (never a filled shape), in its window."""
    half_width = rng.uniform(0.5, 1.25) * max(1.0, side / 64)
    points = [np.array([rng.uniform(0, xs.shape[1]), rng.uniform(0, xs.shape[0])])]
    heading = rng.uniform(0, 2 * np.pi)
    for _ in range(rng.integers(1, 4)):
        heading += rng.uniform(-1.2, 1.2)
        length = rng.uniform(0.08, 0.25) * side
        points.append(points[-1] + length * np.array([np.cos(heading), np.sin(heading)]))
    window = pixel_window(np.array(points), half_width, xs.shape)
    local_xs, local_ys = xs[window], ys[window]
    mask = np.zeros(local_xs.shape, bool)
    for a, b in zip(points[:-1], points[1:], strict=True):
        mask |= segment_distance(local_xs, local_ys, a, b) <= half_width
    return window, mask


def random_dot(rng, xs, ys, side):
    """A small disc, far smaller than any shape, in its window."""
    radius = rng.uniform(0.7, 1.5) * max(1.0, side / 64)
    centre = np.array([rng.uniform(0, xs.shape[1]), rng.uniform(0, xs.shape[0])])
    window = pixel_window(centre[None], radius, xs.shape)
    return window, (xs[window] - centre[0]) ** 2 + (ys[window] - centre[1]) ** 2 <= radius**2


def pixel_window(points, reach, shape):
    """Row and column slices holding every pixel centre within ``reach`` of the points."""
    low = np.floor(points.min(axis=0) - reach).astype(int)
    high = np.ceil(points.max(axis=0) + reach).astype(int) + 1
    rows = slice(min(max(low[1], 0), shape[0]), min(max(high[1], 0), shape[0]))
    cols = slice(min(max(low[0], 0), shape[1]), min(max(high[0], 0), shape[1]))
    return rows, cols
