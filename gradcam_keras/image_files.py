"""Reading image files into RGB arrays; no TensorFlow needed, so the CLI checks inputs early."""

import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gradcam_keras.errors import InputError

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")


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
        >>> load_image("cat.jpg").shape
        (480, 640, 3)
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
    if isinstance(error, (OSError, ValueError, SyntaxError, Image.DecompressionBombError)):
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
