"""Grad-CAM and related class-activation maps for Keras models.

Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", ICCV 2017.

Names are imported on first use, so ``gradcam-keras --help`` and argument errors answer
without loading TensorFlow.

The CAM family (``GradCAMPlusPlus``, ``HiResCAM``, ``LayerCAM``, ``XGradCAM``, ``ScoreCAM``,
``EigenCAM``, ``GuidedGradCAM``, ``CounterfactualCAM``; by name in ``METHODS``) shares
``GradCAM``'s interface; ``gradcam_keras.metrics`` scores maps (localisation, pointing game,
deletion/insertion, Average Drop, Increase in Confidence, randomisation sanity check).

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
    "CounterfactualCAM": "gradcam_keras.methods",
    "EigenCAM": "gradcam_keras.methods",
    "GradCAMPlusPlus": "gradcam_keras.methods",
    "GuidedBackprop": "gradcam_keras.guided",
    "GuidedGradCAM": "gradcam_keras.methods",
    "HiResCAM": "gradcam_keras.methods",
    "LayerCAM": "gradcam_keras.methods",
    "METHODS": "gradcam_keras.methods",
    "ScoreCAM": "gradcam_keras.methods",
    "XGradCAM": "gradcam_keras.methods",
    "get_method": "gradcam_keras.methods",
    "image_maps": "gradcam_keras.methods",
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

_SUBPACKAGES = ("methods", "metrics")

__all__ = ["__version__", *_EXPORTS, *_SUBPACKAGES]


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"gradcam_keras.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gradcam_keras' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
