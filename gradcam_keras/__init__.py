"""Grad-CAM and related class-activation maps for Keras models.

Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", ICCV 2017.

Names are imported on first use, so ``gradcam-keras --help`` and argument errors answer
without loading TensorFlow.

Example:
    >>> from gradcam_keras import GradCAM
    >>> maps = GradCAM(model, "block5_conv4")(images)   # raw maps [batch, h, w]
"""

import importlib

from gradcam_keras._version import __version__

_EXPORTS = {
    "SCORES": "gradcam_keras.cam",
    "BaseCAM": "gradcam_keras.cam",
    "CAMResult": "gradcam_keras.cam",
    "GradCAM": "gradcam_keras.cam",
    "InputError": "gradcam_keras.errors",
    "ZeroMapWarning": "gradcam_keras.errors",
    "figure": "gradcam_keras.image",
    "load_image": "gradcam_keras.image",
    "normalize": "gradcam_keras.image",
    "overlay": "gradcam_keras.image",
    "panel_title": "gradcam_keras.image",
    "preprocess": "gradcam_keras.image",
    "resize": "gradcam_keras.image",
    "upsample": "gradcam_keras.image",
    "load_model": "gradcam_keras.models",
    "imagenet_class_names": "gradcam_keras.models",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gradcam_keras' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
