"""Images in and out: loading, resizing, preprocessing, upsampling the map, jet overlay.

Conventions: images are ``uint8 [height, width, 3]`` RGB; heatmaps are float32 ``[height, width]``.

Nothing here imports TensorFlow, scipy or matplotlib when the module is imported (they are
imported by the functions that use them), so the command line checks its input files with
``check_image_file`` and reports a bad one before any of them loads.
"""

import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gradcam_keras.errors import InputError

__all__ = ["INTERPOLATIONS", "check_image_file", "load_image", "normalize", "overlay",
           "preprocess", "resize", "upsample"]

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")
_VGG19 = "vgg19"  # preprocess's default: keras.applications.vgg19.preprocess_input

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


def preprocess(images, preprocess_input=_VGG19):
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
    if preprocess_input is _VGG19:
        import keras

        preprocess_input = keras.applications.vgg19.preprocess_input
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
    import scipy.ndimage

    cam_map = np.asarray(cam_map, dtype=np.float64)
    if cam_map.ndim != 2:
        raise InputError(f"`cam_map` must be 2-D [h, w], got shape {cam_map.shape}")
    if 0 in cam_map.shape:
        raise InputError(f"`cam_map` is empty (shape {cam_map.shape}); a map needs at least one "
                         "cell: take it from a layer whose feature map is at least 1x1")
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
    import matplotlib

    image = np.asarray(image, dtype=np.float32)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if image.shape[:2] != heatmap.shape:
        raise InputError(f"heatmap shape {heatmap.shape} does not match image shape "
                         f"{image.shape[:2]}; upsample it first")
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"`alpha` must be in [0, 1], got {alpha}")
    colors = matplotlib.colormaps[colormap](np.clip(heatmap, 0.0, 1.0))[..., :3] * 255.0
    return np.clip(np.rint((1 - alpha) * image + alpha * colors), 0, 255).astype(np.uint8)


def load_image(path):
    """Load an image file as RGB ``uint8 [height, width, 3]``, the way it is meant to be seen.

    EXIF orientation is applied (phone photos are stored sideways). Grayscale is repeated on the
    three channels; 16-bit images are scaled to 8 bits; palette images are expanded; images with
    transparency are composited over white, so transparent areas do not show arbitrary colours.

    Args:
        path: path of an image file in any format Pillow reads.

    Returns:
        np.ndarray ``uint8 [height, width, 3]``.

    Raises:
        InputError: the file is missing, unreadable, corrupt, or not an image.

    Example:
        >>> load_image(photo_path).shape          # e.g. load_image("cat.jpg")
        (40, 60, 3)
    """
    path = os.fspath(path)
    _check_exists(path)
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_rgb(img)
    except Exception as error:
        raise _read_error(path, error) from error


def _check_exists(path):
    if not os.path.exists(path):
        raise InputError(f"input file {path!r} does not exist; check the path")
    if os.path.isdir(path):
        raise InputError(f"input {path!r} is a directory, expected an image file")


def _read_error(path, error):
    if isinstance(error, PermissionError):
        return InputError(f"cannot read input file {path!r}: permission denied; check its "
                          "permissions")
    if isinstance(error, UnidentifiedImageError):
        return InputError(f"input file {path!r} is not an image Pillow can read; pass a JPEG, "
                          "PNG, BMP, GIF, TIFF or WebP file")
    if isinstance(error, Image.DecompressionBombError):
        return InputError(f"input file {path!r} has more pixels than Pillow's decompression-bomb "
                          f"limit ({2 * Image.MAX_IMAGE_PIXELS:,} pixels, a guard against "
                          "malicious files) and is not read; if you trust it, downscale it "
                          "first (in Python: PIL.Image.MAX_IMAGE_PIXELS = None lifts the limit)")
    if isinstance(error, (OSError, ValueError, SyntaxError)):
        reason = " ".join(str(error).split()) or type(error).__name__
        return InputError(f"input file {path!r} is corrupt or truncated ({reason}); re-export "
                          "or replace it")
    return error


def _to_rgb(img):
    if img.mode in _SIXTEEN_BIT_MODES:
        gray = np.asarray(img, dtype=np.float64)
        gray = gray / 257.0 if gray.max() > 255 else gray
        return np.repeat(np.clip(np.rint(gray), 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    if img.mode == "F":
        gray = np.asarray(img, dtype=np.float64)
        span = np.ptp(gray) or 1.0
        gray = np.rint(255 * (gray - gray.min()) / span).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if img.mode == "P" or "A" in img.mode or "a" in img.mode:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def check_image_file(path):
    """Check cheaply (header only) that ``path`` is an image file Pillow can open.

    Raises:
        InputError: as ``load_image`` would for a missing, unreadable or non-image file.
    """
    path = os.fspath(path)
    _check_exists(path)
    try:
        with Image.open(path):
            pass
    except Exception as error:
        raise _read_error(path, error) from error
