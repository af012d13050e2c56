"""Exact rasterisation of the synthetic shapes (behind ``gradcam_keras.demo.shapes``).

Pixel ``(row, col)`` covers ``[col, col + 1) x [row, row + 1)`` and belongs to a
shape when its centre ``(col + 0.5, row + 0.5)`` lies inside. With a uniformly
random sub-pixel offset the expected pixel count therefore equals the shape's
area exactly, which the tests use.
"""

import numpy as np

SHAPE_KINDS = ("circle", "square", "triangle", "star", "cross")
STAR_INNER_RATIO = 0.45


def pixel_centres(height, width):
    """Return the ``(xs, ys)`` float grids of the pixel centres of a ``height x width`` image."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    return xs + 0.5, ys + 0.5


def shape_vertices(kind, centre, radius, angle):
    """Return the polygon of a shape as an array ``[k, 2]`` of ``(x, y)`` vertices.

    Every vertex lies on the circle of the given radius (the circumradius). The
    square and triangle are regular polygons, the star alternates ``radius`` and
    ``STAR_INNER_RATIO * radius`` over ten vertices, and the cross is the
    twelve-vertex union of two bars of half-length ``3r/sqrt(10)`` and half-width
    ``r/sqrt(10)``.

    Args:
        kind: one of ``SHAPE_KINDS`` except ``"circle"``.
        centre: ``(x, y)`` in pixel coordinates.
        radius: circumradius in pixels.
        angle: rotation in radians.

    Returns:
        float64 array ``[k, 2]``.

    Raises:
        ValueError: if ``kind`` has no polygon.

    Example:
        >>> shape_vertices("square", (0, 0), 1.0, 0.0).round(3).tolist()[0]
        [1.0, 0.0]
    """
    if kind in ("square", "triangle"):
        k = 4 if kind == "square" else 3
        theta = angle + 2 * np.pi * np.arange(k) / k
        rho = np.full(k, radius)
    elif kind == "star":
        theta = angle + np.pi * np.arange(10) / 5
        rho = np.where(np.arange(10) % 2 == 0, radius, STAR_INNER_RATIO * radius)
    elif kind == "cross":
        a, b = 3 / np.sqrt(10), 1 / np.sqrt(10)
        arm = [(a, -b), (a, b), (b, b)]  # one arm's outer edge and its inner corner
        points = np.concatenate([np.array(arm) @ _rotation(q * np.pi / 2).T for q in range(4)])
        theta = angle + np.arctan2(points[:, 1], points[:, 0])
        rho = radius * np.hypot(points[:, 0], points[:, 1])
    else:
        raise ValueError(f"kind={kind!r} has no polygon; expected one of "
                         f"'square', 'triangle', 'star', 'cross'.")
    return np.stack([centre[0] + rho * np.cos(theta), centre[1] + rho * np.sin(theta)], axis=1)


def _rotation(theta):
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def _polygon_mask(vertices, xs, ys):
    """The points ``(xs, ys)`` inside the polygon (the shapes' polygons never cross themselves)."""
    from matplotlib.path import Path

    points = np.stack([xs.ravel(), ys.ravel()], axis=1)
    return Path(vertices).contains_points(points).reshape(xs.shape)


def shape_mask(kind, size, centre, radius, angle=0.0):
    """Rasterise one shape: the pixels whose centres lie inside it.

    Args:
        kind: one of ``SHAPE_KINDS``.
        size: ``(height, width)`` of the image.
        centre: ``(x, y)`` of the shape's centre in pixel coordinates.
        radius: circumradius in pixels.
        angle: rotation in radians (ignored for the circle).

    Returns:
        bool array ``[height, width]``.

    Raises:
        ValueError: if ``kind`` is not one of ``SHAPE_KINDS``.

    Example:
        >>> int(shape_mask("square", (8, 8), (4, 4), 2 * np.sqrt(2), np.pi / 4).sum())
        16
    """
    if kind not in SHAPE_KINDS:
        raise ValueError(f"kind={kind!r} is not a shape; expected one of {SHAPE_KINDS}.")
    xs, ys = pixel_centres(*size)
    if kind == "circle":
        return (xs - centre[0]) ** 2 + (ys - centre[1]) ** 2 <= radius**2
    return _polygon_mask(shape_vertices(kind, centre, radius, angle), xs, ys)


def mask_box(mask):
    """Return the tight half-open box ``(x0, y0, x1, y1)`` of a non-empty mask.

    Args:
        mask: bool array ``[height, width]`` with at least one True pixel.

    Returns:
        tuple of four ints.

    Raises:
        ValueError: if the mask is empty.

    Example:
        >>> m = np.zeros((4, 5), bool); m[1:3, 2] = True
        >>> mask_box(m)
        (2, 1, 3, 3)
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("mask is empty; a box needs at least one True pixel.")
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
