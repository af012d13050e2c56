"""The names the command line checks before TensorFlow loads: the one registry of CAM methods.

Nothing here imports TensorFlow, so ``gradcam-keras --help`` and argument errors answer at
once. ``gradcam_keras.methods.METHODS`` maps the same names to their classes and
``gradcam_keras`` exports those classes by the class names below: adding a CAM method is
writing its subclass (in a module of ``gradcam_keras.methods``) and adding its line here.
"""

# name -> (display name, class name); the order is the order of the panels of --method all.
METHODS = {
    "gradcam": ("Grad-CAM", "GradCAM"),
    "gradcam++": ("Grad-CAM++", "GradCAMPlusPlus"),
    "hirescam": ("HiResCAM", "HiResCAM"),
    "layercam": ("LayerCAM", "LayerCAM"),
    "xgradcam": ("XGrad-CAM", "XGradCAM"),
    "scorecam": ("Score-CAM", "ScoreCAM"),
    "eigencam": ("Eigen-CAM", "EigenCAM"),
    "guided-gradcam": ("Guided Grad-CAM", "GuidedGradCAM"),
    "counterfactual": ("Counterfactual Grad-CAM", "CounterfactualCAM"),
}
METHOD_NAMES = tuple(METHODS)
ALL = "all"  # --method all: one panel per method
DEFAULT_METHOD = "gradcam"

# Input scalings of gradcam_keras.models.preprocess_function (see there for each one).
PREPROCESSING = ("caffe", "tf", "torch", "unit", "none")

# What a CAM differentiates: the score before the softmax (the paper's y^c) or the probability.
SCORES = ("logits", "softmax")


def display_name(name):
    """Return the display name of a method.

    Example:
        >>> display_name("gradcam++")
        'Grad-CAM++'
    """
    return METHODS[name][0]
