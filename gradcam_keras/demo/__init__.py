"""The bundled demo: a small CNN trained on synthetic shapes, served with no download.

- this package: the model (``load_demo_model``), its input (``preprocess``) and a fresh image
  (``make_demo_image``);
- ``shapes``: the synthetic data set (one shape per image on clutter, boxes and masks known);
- ``geometry``: the exact rasterisation of the shapes;
- ``train``: the training that made the bundled file (``python -m gradcam_keras.demo.train``).

``python -m gradcam_keras --demo`` runs the whole Grad-CAM pipeline on this model and
an image from ``make_demo_image``. The model (``gradcam_keras/data/demo_cnn.keras``,
about 0.5 MB) was trained by ``python -m gradcam_keras.demo.train`` on images from
``gradcam_keras.demo.shapes``: a 64x64 RGB input, a 5x5 stride-2 convolution, one max
pooling, three more 3x3 convolutions at 16x16, global average pooling and a dense
layer of logits (no softmax, so Grad-CAM's class score is the paper's ``y^c``).
Grad-CAM at ``DEMO_LAYER`` (16x16) points at the object; ``tests/gradcam_keras/test_demo_model.py``
measures it with the pointing game on images the model never saw.

Fresh data: the training script draws its images from the seed pairs
``(seed, 1)``, ``(seed, 2)`` and ``(seed, 3)``; any plain int seed is the pair
``(int, 0)``, so ``make_demo_image(s)`` and ``shapes.generate(n, s, IMAGE_SIZE)``
never return a training image.
"""

import importlib.resources

import numpy as np

from gradcam_keras.demo import shapes
from gradcam_keras.errors import is_int

CLASS_NAMES = list(shapes.CLASS_NAMES)
DEMO_LAYER = "conv5"
IMAGE_SIZE = (64, 64)
MODEL_FILE = "demo_cnn.keras"


def load_demo_model():
    """Load the bundled demo CNN; every call returns a new, independent model.

    Nothing is cached: a model handed out earlier may have been changed by its caller
    (weights set, layers made untrainable, recompiled), so each call rebuilds the model
    from the file, which takes a fraction of a second. The file is read from the
    package, never from the network.

    Returns:
        keras.Model: input ``[batch, 64, 64, 3]`` (see ``preprocess``), output the logits
        ``[batch, len(CLASS_NAMES)]``; not compiled.

    Raises:
        FileNotFoundError: the package was installed without its data file.

    Example:
        >>> model = load_demo_model()
        >>> model.get_layer(DEMO_LAYER).output.shape
        (None, 16, 16, 64)
    """
    import keras

    resource = importlib.resources.files("gradcam_keras") / "data" / MODEL_FILE
    with importlib.resources.as_file(resource) as path:
        if not path.is_file():
            raise FileNotFoundError(
                f"the bundled demo model {path} is missing; reinstall keras-repro with its "
                f"package data, or recreate it with `python -m gradcam_keras.demo.train`")
        return keras.models.load_model(path, compile=False)


def make_demo_image(seed=0):
    """Return one synthetic shapes image the demo model never saw in training.

    Args:
        seed: a non-negative int; the same seed always gives the same image.

    Returns:
        np.ndarray uint8 ``[64, 64, 3]``, the first image of
        ``shapes.generate(1, seed, IMAGE_SIZE)``.

    Raises:
        TypeError: ``seed`` is not an int.
        ValueError: ``seed`` is negative.

    Example:
        >>> make_demo_image(3).shape
        (64, 64, 3)
    """
    if not is_int(seed):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r}); "
                        f"pass e.g. seed=0.")
    return shapes.generate(1, seed=int(seed), size=IMAGE_SIZE).images[0]


def preprocess(images):
    """Return the demo model's input for RGB images: a float32 copy scaled to ``[-1, 1]``.

    ``x / 127.5 - 1`` maps 0 to -1 and 255 to 1. The input is never modified and no
    resizing happens: the model expects ``IMAGE_SIZE``.

    Args:
        images: array-like ``[..., 3]`` (one image ``[H, W, 3]`` or a batch), RGB values
            in ``[0, 255]``, any real dtype.

    Returns:
        np.ndarray float32 of the same shape.

    Raises:
        TypeError: the values are not real numbers.
        ValueError: the last axis is not 3 (RGB channels).

    Example:
        >>> preprocess(np.array([[[0, 255, 51]]], np.uint8))
        array([[[-1. ,  1. , -0.6]]], dtype=float32)
    """
    array = np.asarray(images)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer)
                                   or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"images must hold real numbers in [0, 255], got dtype {array.dtype}; "
                        f"pass a uint8 or float RGB array.")
    if array.ndim < 1 or array.shape[-1] != 3:
        raise ValueError(f"images must end in 3 RGB channels ([..., H, W, 3]), got shape "
                         f"{array.shape}; convert grayscale/RGBA images to RGB first.")
    # Division makes a new array, so a float32 input is never written to.
    return array.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
