"""The CAM methods' names, display names and classes: the one list, without TensorFlow.

The command line checks ``--method`` against it before TensorFlow is imported;
``gradcam_keras.methods.METHODS`` imports the classes from it.
"""

# name -> (display name, "module:Class"); the order is the order of the panels of --method all.
METHOD_SPECS = {
    "gradcam": ("Grad-CAM", "gradcam_keras.cam:GradCAM"),
    "gradcam++": ("Grad-CAM++", "gradcam_keras.methods.gradient:GradCAMPlusPlus"),
    "hirescam": ("HiResCAM", "gradcam_keras.methods.gradient:HiResCAM"),
    "layercam": ("LayerCAM", "gradcam_keras.methods.gradient:LayerCAM"),
    "xgradcam": ("XGrad-CAM", "gradcam_keras.methods.gradient:XGradCAM"),
    "scorecam": ("Score-CAM", "gradcam_keras.methods.scorecam:ScoreCAM"),
    "eigencam": ("Eigen-CAM", "gradcam_keras.methods.eigencam:EigenCAM"),
    "guided-gradcam": ("Guided Grad-CAM", "gradcam_keras.guided:GuidedGradCAM"),
    "counterfactual": ("Counterfactual Grad-CAM", "gradcam_keras.methods.gradient:"
                                                  "CounterfactualCAM"),
}
METHOD_NAMES = tuple(METHOD_SPECS)
ALL = "all"  # --method all: one panel per method


def display_name(name):
    """Return the display name of a method (``"gradcam++"`` -> ``"Grad-CAM++"``)."""
    return METHOD_SPECS[name][0]
