"""Grad-CAM and related class-activation maps for Keras models.

Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", ICCV 2017.
"""

from gradcam_keras._version import __version__

__all__ = ["__version__"]
