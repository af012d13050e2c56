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


def load_class_names(path):
    """Read class names from a file: a JSON list, a Keras-style index, or one name per line.

    A Keras-style index ``{"0": [id, name], ...}`` must number the classes 0 to n-1 without
    gaps. Checked before TensorFlow loads (``--labels``).

    Raises:
        InputError: the file is missing, unreadable, not UTF-8 text, or cannot be parsed.
    """
    import json

    from gradcam_keras.errors import InputError

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise InputError(f"class names file {path!r} is not UTF-8 text (a binary file?); pass a "
                         "JSON list, a Keras-style index or one name per line") from None
    except OSError as error:
        raise InputError(f"cannot read class names file {path!r} "
                         f"({error.strerror or type(error).__name__}); check the path") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return [line.strip() for line in text.splitlines() if line.strip()]
    if isinstance(data, list):
        return [str(name) for name in data]
    if isinstance(data, dict) and all(k.isdigit() for k in data):
        missing = sorted(set(range(len(data))) - {int(k) for k in data})
        if missing:
            raise InputError(f"class names file {path!r} numbers {len(data)} classes but has no "
                             f"entry {str(missing[0])!r}; number them 0 to {len(data) - 1} "
                             "without gaps")
        return [_label(data[str(i)]) for i in range(len(data))]
    raise InputError(f"class names file {path!r} must hold a JSON list, a Keras-style index "
                     "{\"0\": [id, name], ...}, or one name per line")


def _label(entry):
    return str(entry[-1]) if isinstance(entry, list) else str(entry)
