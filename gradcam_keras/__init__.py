"""Grad-CAM and related class-activation maps for Keras models.

Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", ICCV 2017.

Names are imported on first use, so ``gradcam-keras --help`` and argument errors answer
without loading TensorFlow.

The CAM family (``GradCAMPlusPlus``, ``HiResCAM``, ``LayerCAM``, ``XGradCAM``, ``ScoreCAM``,
``EigenCAM``, ``GuidedGradCAM``, ``CounterfactualCAM``; by name in ``METHODS``) shares
``GradCAM``'s interface; ``gradcam_keras.metrics`` scores maps (localisation, pointing game,
deletion/insertion, Average Drop, Increase in Confidence, randomisation sanity check).

Where things are: ``cam`` (the base class and Grad-CAM), ``methods/`` (the other CAMs, one
registry), ``targets`` (which class a map explains), ``_graph`` (the one runner through a
model's graph, and all use of Keras private API), ``layer_paths`` (layers by path),
``models`` (loading, class names, parameter counts), ``efficientnet_lite`` (a real ImageNet
network that works offline) with ``_torch_pickle`` (its weights, read without torch),
``preprocessing`` (named modes and mean/std), ``image`` (files, resizing, upsampling,
overlay), ``plot`` (the figures), ``metrics/``, ``names`` (the registry's names, without
TensorFlow), ``errors``, ``_atomic`` (atomic writes), ``demo/`` (the bundled model and its
synthetic data), ``cli/`` (the command line tool).

Example:
    >>> from gradcam_keras import GradCAM
    >>> GradCAM(model, "conv2")(images).shape     # raw maps [batch, h, w]
    (4, 16, 20)
"""

import importlib

from gradcam_keras._version import __version__
from gradcam_keras.names import METHODS as _METHOD_NAMES

_EXPORTS = {
    "SCORES": "gradcam_keras.cam",
    "BaseCAM": "gradcam_keras.cam",
    "CAMResult": "gradcam_keras.cam",
    "GuidedBackprop": "gradcam_keras.methods",
    "METHODS": "gradcam_keras.methods",
    "get_method": "gradcam_keras.methods",
    "image_maps": "gradcam_keras.methods",
    "InputError": "gradcam_keras.errors",
    "ZeroMapWarning": "gradcam_keras.errors",
    "figure": "gradcam_keras.plot",
    "panel_title": "gradcam_keras.plot",
    "load_image": "gradcam_keras.image",
    "normalize": "gradcam_keras.image",
    "overlay": "gradcam_keras.image",
    "preprocess": "gradcam_keras.image",
    "resize": "gradcam_keras.image",
    "upsample": "gradcam_keras.image",
    "load_model": "gradcam_keras.models",
    "imagenet_class_names": "gradcam_keras.models",
    # every CAM class of the registry (gradcam_keras.names), from gradcam_keras.methods
    **{class_name: "gradcam_keras.methods" for _, class_name in _METHOD_NAMES.values()},
    "shapes": "gradcam_keras.demo",  # the demo's data set: gradcam_keras.demo.shapes
}

_SUBPACKAGES = ("demo", "methods", "metrics")

__all__ = ["__version__", *_EXPORTS, *_SUBPACKAGES]


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"gradcam_keras.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gradcam_keras' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
