"""The figures: the original image beside one jet overlay per map, on a grid.

One function draws them all: the blog's two panels (original and overlay), one panel per class
(``--top-k``), one panel per method (``--method all``). Figures are not registered with pyplot,
so nothing global is touched and they can be drawn from any thread.
"""

import math

import numpy as np

from gradcam_keras.errors import InputError
from gradcam_keras.image import overlay

COLUMNS = 5  # panels per row of a grid


MAX_OVERLAYS = 24  # overlays drawn in one figure (--top-k 1000 would draw a 96,000 px PNG)
MAX_SHOWN_SIDE = 1024  # pixels: larger images are drawn downscaled (the maps saved are not)


def ordinal(number):
    """Return ``number`` with its English ordinal suffix.

    Example:
        >>> [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 112, 523)]
        ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '112th', '523rd']
    """
    number = int(number)
    if number % 100 in (11, 12, 13):
        return f"{number}th"
    return f"{number}{({1: 'st', 2: 'nd', 3: 'rd'}).get(number % 10, 'th')}"


def panel_title(class_index, class_name, layer):
    """The blog's title for an overlay ("242nd dimension"), with the right ordinal.

    Example:
        >>> print(panel_title(242, "boxer", "block5_conv4"))
        242nd dimension (boxer)
        w.r.t layer block5_conv4
    """
    return f"{ordinal(class_index)} dimension ({class_name})\nw.r.t layer {layer}"


def figure(image, heatmaps, titles, alpha=0.5, *, heading=None, columns=COLUMNS):
    """The original image, then one jet overlay per heatmap, on a grid of ``columns``.

    Args:
        image: ``uint8 [H, W, 3]`` original image.
        heatmaps: one ``[H, W]`` map in ``[0, 1]`` (see ``image.normalize``), or a list.
        titles: one title per heatmap (see ``panel_title``), or one string for one heatmap.
        alpha: heatmap weight in the overlay. Defaults to 0.5.
        heading: optional title above the whole figure.
        columns: panels per row. Defaults to 5.

    Returns:
        matplotlib.figure.Figure (not registered with pyplot).

    Raises:
        InputError: as many titles as heatmaps are needed.

    Example:
        >>> fig = figure(np.zeros((30, 40, 3), np.uint8), np.ones((30, 40)), "class 3")
        >>> [ax.get_title() for ax in fig.axes]
        ['Original image', 'class 3']
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    heatmaps = [heatmaps] if np.ndim(heatmaps) == 2 else list(heatmaps)
    titles = [titles] if isinstance(titles, str) else list(titles)
    if len(titles) != len(heatmaps):
        raise InputError(f"{len(heatmaps)} heatmaps but {len(titles)} titles")
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
