"""The CAM family by name: one registry for the library, the command line and the benchmark.

Every method is a small subclass of ``gradcam_keras.cam.BaseCAM`` that supplies its channel
weights (or how it combines the channels); see each class for its formula and paper. The
families live in ``gradient`` (Grad-CAM's relatives), ``scorecam``, ``eigencam`` and
``guided`` (Guided Backpropagation and Guided Grad-CAM). ``METHODS`` follows the names of
``gradcam_keras.names.METHODS``: a new method is its subclass in one of these modules plus
its line there.

Example:
    >>> cam = get_method("gradcam++")(model, "conv2")
    >>> cam(images).shape
    (4, 16, 20)
"""

import numpy as np

from gradcam_keras import cam as _cam
from gradcam_keras import names
from gradcam_keras.cam import GradCAM
from gradcam_keras.errors import InputError
from gradcam_keras.image import upsample
from gradcam_keras.methods import eigencam, gradient, guided, scorecam
from gradcam_keras.methods.eigencam import EigenCAM
from gradcam_keras.methods.gradient import (
    CounterfactualCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    XGradCAM,
)
from gradcam_keras.methods.guided import GuidedBackprop, GuidedGradCAM
from gradcam_keras.methods.scorecam import ScoreCAM

_FAMILIES = (_cam, gradient, scorecam, eigencam, guided)


def _registered(class_name):
    for module in _FAMILIES:
        if hasattr(module, class_name):
            return getattr(module, class_name)
    # A name registered in gradcam_keras.names without its class: fail at import, not later.
    raise ImportError(f"gradcam_keras.names.METHODS names class {class_name!r}, which no module "
                      "of gradcam_keras.methods defines")


METHODS = {name: _registered(class_name) for name, (_, class_name) in names.METHODS.items()}

__all__ = ["METHODS", "CounterfactualCAM", "EigenCAM", "GradCAM", "GradCAMPlusPlus",
           "GuidedBackprop", "GuidedGradCAM", "HiResCAM", "LayerCAM", "ScoreCAM", "XGradCAM",
           "get_method", "image_maps"]


def get_method(name):
    """Return the CAM class registered under ``name``.

    Args:
        name: one of ``METHODS`` (e.g. ``"gradcam"``, ``"gradcam++"``, ``"scorecam"``).

    Returns:
        The ``BaseCAM`` subclass.

    Raises:
        InputError: unknown name; the message lists the valid ones.

    Example:
        >>> get_method("layercam").__name__
        'LayerCAM'
    """
    if name not in METHODS:
        raise InputError(f"unknown CAM method {name!r}; valid methods: {', '.join(METHODS)}")
    return METHODS[name]


def image_maps(cam, images, class_index=None):
    """Return each image's map at the input's resolution, ``[batch, H, W]`` float32, ``>= 0``.

    The maps the method shows (``BaseCAM.shown_maps``: layer-resolution maps, or Guided
    Grad-CAM's pixel-level magnitude) upsampled with ``gradcam_keras.image.upsample``
    (bilinear, pixel-area aligned; a map already at the input's size is unchanged). Not
    normalised. This is the map the metrics in ``gradcam_keras.metrics`` score.

    Args:
        cam: a ``BaseCAM`` instance.
        images: ``[batch, H, W, channels]`` preprocessed for ``cam.model``.
        class_index: None, an int, or one int per image.

    Returns:
        np.ndarray ``[batch, H, W]``.

    Example:
        >>> image_maps(GradCAM(model, "conv2"), images).shape
        (4, 20, 24)
    """
    _, maps = cam.shown_maps(images, class_index)
    size = np.shape(images)[1:3]
    return np.stack([upsample(m, size) for m in maps[:, 0]])
