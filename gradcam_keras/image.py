"""Images in and out: resizing, preprocessing, upsampling the map, jet overlay, figure.

``load_image`` (in ``image_files``, which needs no TensorFlow) is re-exported here.

Conventions: images are ``uint8 [height, width, 3]`` RGB; heatmaps are float32 ``[height, width]``.
"""

import keras
import matplotlib
import numpy as np
import scipy.ndimage
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from gradcam_keras.errors import InputError
from gradcam_keras.image_files import load_image

__all__ = ["INTERPOLATIONS", "figure", "load_image", "normalize", "overlay", "panel_title",
           "preprocess", "resize", "upsample"]

INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def resize(image, size, interpolation="bilinear"):
    """Resize an RGB image to ``size = (height, width)`` with Pillow.

    The default, ``"bilinear"``, is Pillow's filter, which widens its support when it shrinks,
    so large photos are averaged rather than aliased (Keras's ``load_img`` defaults to
    ``"nearest"``, which drops pixels).

    Args:
        image: ``uint8 [H, W, 3]``.
        size: ``(height, width)``.
        interpolation: one of ``"nearest"``, ``"bilinear"``, ``"bicubic"``, ``"lanczos"``.

    Returns:
        ``uint8 [height, width, 3]``.
    """
    if interpolation not in INTERPOLATIONS:
        raise InputError(f"`interpolation` must be one of {sorted(INTERPOLATIONS)}, "
                         f"got {interpolation!r}")
    height, width = (int(s) for s in size)
    pil = Image.fromarray(np.asarray(image, dtype=np.uint8))
    return np.asarray(pil.resize((width, height), INTERPOLATIONS[interpolation]))


def preprocess(images, preprocess_input=keras.applications.vgg19.preprocess_input):
    """Return a float32 copy of ``images`` passed through ``preprocess_input``.

    ``keras.applications.*.preprocess_input`` works in place on float arrays, so the caller's
    images (kept for display) are copied first.

    Args:
        images: ``[H, W, C]`` or ``[batch, H, W, C]``, values 0-255.
        preprocess_input: the model's preprocessing; None to only convert. Defaults to
            VGG19's (RGB to BGR, ImageNet means subtracted).

    Returns:
        np.ndarray float32 of the same shape.
    """
    batch = np.array(images, dtype=np.float32, copy=True)
    return batch if preprocess_input is None else np.asarray(preprocess_input(batch), np.float32)


def upsample(cam_map, size, order=1):
    """Upsample a map ``[h, w]`` to ``size = (height, width)`` with ``scipy.ndimage.zoom``.

    Alignment: ``grid_mode=True`` treats each map cell as covering an equal area of the image
    (cell ``i`` of ``h`` covers rows ``[i*H/h, (i+1)*H/h)``), which is how a convolutional
    feature map tiles its input; the value of a cell lands at the centre of its area, whatever
    the aspect ratio. ``mode="nearest"`` repeats the edge cells outwards instead of fading the
    borders to zero. The default order 1 (bilinear) cannot overshoot; higher spline orders ring,
    so the result is always clipped to the input's range.

    Args:
        cam_map: ``[h, w]`` array.
        size: ``(height, width)`` of the image.
        order: spline order 0-5. Defaults to 1.

    Returns:
        float32 ``[height, width]``.

    Example:
        >>> upsample(np.eye(2), (4, 6), order=0)[:, 0]
        array([1., 1., 0., 0.], dtype=float32)
    """
    cam_map = np.asarray(cam_map, dtype=np.float64)
    if cam_map.ndim != 2:
        raise InputError(f"`cam_map` must be 2-D [h, w], got shape {cam_map.shape}")
    height, width = (int(s) for s in size)
    factors = (height / cam_map.shape[0], width / cam_map.shape[1])
    zoomed = scipy.ndimage.zoom(cam_map, factors, order=order, mode="nearest", grid_mode=True)
    zoomed = zoomed[:height, :width]  # zoom rounds the shape; guard against a float slip
    return np.clip(zoomed, cam_map.min(), cam_map.max()).astype(np.float32)


def normalize(heatmap, eps=1e-7):
    """Scale a non-negative map to ``[0, 1]`` by its maximum; an all-zero map stays zero.

    Args:
        heatmap: array, negative values are clipped to 0.
        eps: added to the maximum so a zero map never divides by zero.

    Returns:
        float32 array of the same shape.
    """
    heatmap = np.maximum(np.asarray(heatmap, dtype=np.float32), 0.0)
    return heatmap / (heatmap.max(initial=0.0) + eps)


def overlay(image, heatmap, alpha=0.5, colormap="jet"):
    """Blend a ``[0, 1]`` heatmap, coloured with a matplotlib colormap, over an RGB image.

    Args:
        image: ``uint8 [H, W, 3]``.
        heatmap: ``[H, W]`` in ``[0, 1]`` (see ``normalize``), same size as the image.
        alpha: weight of the heatmap colour. Defaults to 0.5.
        colormap: matplotlib colormap name. Defaults to ``"jet"``.

    Returns:
        ``uint8 [H, W, 3]``: ``(1 - alpha) * image + alpha * colormap(heatmap)``.
    """
    image = np.asarray(image, dtype=np.float32)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if image.shape[:2] != heatmap.shape:
        raise InputError(f"heatmap shape {heatmap.shape} does not match image shape "
                         f"{image.shape[:2]}; upsample it first")
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"`alpha` must be in [0, 1], got {alpha}")
    colors = matplotlib.colormaps[colormap](np.clip(heatmap, 0.0, 1.0))[..., :3] * 255.0
    return np.clip(np.rint((1 - alpha) * image + alpha * colors), 0, 255).astype(np.uint8)


def panel_title(class_index, class_name, layer):
    """The blog's title for an overlay: ``"{c}th dimension ({name})\\nw.r.t layer {layer}"``."""
    return f"{class_index}th dimension ({class_name})\nw.r.t layer {layer}"


def figure(image, heatmaps, titles, alpha=0.5):
    """The blog's figure: the original image, then one jet overlay per heatmap.

    Args:
        image: ``uint8 [H, W, 3]`` original image.
        heatmaps: one ``[H, W]`` map in ``[0, 1]``, or a list of them.
        titles: one title per heatmap (see ``panel_title``).
        alpha: heatmap weight in the overlay. Defaults to 0.5.

    Returns:
        matplotlib.figure.Figure (not registered with pyplot: nothing global is touched).
    """
    heatmaps = [heatmaps] if np.ndim(heatmaps) == 2 else list(heatmaps)
    titles = [titles] if isinstance(titles, str) else list(titles)
    if len(titles) != len(heatmaps):
        raise InputError(f"{len(heatmaps)} heatmaps but {len(titles)} titles")
    height, width = np.shape(image)[:2]
    fig = Figure(figsize=(5 * (1 + len(heatmaps)), 5 * height / width + 0.9))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 1 + len(heatmaps), squeeze=False)[0]
    axes[0].imshow(image)
    axes[0].set_title("Original image")
    for ax, heatmap, title in zip(axes[1:], heatmaps, titles, strict=True):
        ax.imshow(overlay(image, heatmap, alpha=alpha))
        ax.set_title(title)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig
