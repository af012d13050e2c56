"""The CAM family by name: one registry for the library, the command line and the benchmark.

Every method is a small subclass of ``gradcam_keras.cam.BaseCAM`` that supplies its channel
weights (or how it combines the channels); see each class for its formula and paper.

Example:
    >>> from gradcam_keras.methods import get_method
    >>> cam = get_method("gradcam++")(model, "block5_conv4")
    >>> maps = cam(images)
"""

import importlib

import numpy as np

from gradcam_keras.cam import GradCAM
from gradcam_keras.errors import InputError
from gradcam_keras.guided import GuidedGradCAM
from gradcam_keras.image import upsample
from gradcam_keras.method_names import METHOD_SPECS
from gradcam_keras.methods.eigencam import EigenCAM
from gradcam_keras.methods.gradient import (
    CounterfactualCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    XGradCAM,
)
from gradcam_keras.methods.scorecam import ScoreCAM


def _load(spec):
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


METHODS = {name: _load(path) for name, (_, path) in METHOD_SPECS.items()}

__all__ = ["METHODS", "CounterfactualCAM", "EigenCAM", "GradCAM", "GradCAMPlusPlus",
           "GuidedGradCAM", "HiResCAM", "LayerCAM", "ScoreCAM", "XGradCAM", "get_method",
           "image_maps"]


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

    Layer-resolution maps are upsampled with ``gradcam_keras.image.upsample`` (bilinear,
    pixel-area aligned); Guided Grad-CAM gives its pixel-level magnitude directly. Not
    normalised. This is the map the metrics in ``gradcam_keras.metrics`` score.

    Args:
        cam: a ``BaseCAM`` instance.
        images: ``[batch, H, W, channels]`` preprocessed for ``cam.model``.
        class_index: None, an int, or one int per image.

    Returns:
        np.ndarray ``[batch, H, W]``.
    """
    if hasattr(cam, "pixel_maps"):
        return cam.pixel_maps(images, class_index)
    size = np.shape(images)[1:3]
    return np.stack([upsample(m, size) for m in cam(images, class_index)])
