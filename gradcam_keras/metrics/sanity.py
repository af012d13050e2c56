"""Sanity check by model randomisation (Adebayo et al., "Sanity Checks for Saliency Maps",
NeurIPS 2018): a map that barely changes when the model's weights are destroyed does not
explain the model.
"""

import warnings

import keras
import numpy as np
import scipy.stats

from gradcam_keras.errors import InputError, ZeroMapWarning
from gradcam_keras.layer_paths import walk_layers

# Weight names whose initializer attribute is not simply "<name>_initializer".
_INITIALIZER_OF = {"depthwise_kernel": "depthwise_initializer",
                   "pointwise_kernel": "pointwise_initializer"}


def cascading_randomization(model, *, seed=0):
    """Randomise a copy of ``model`` layer by layer from the top; yield after each layer.

    The copy is made once (``keras.models.clone_model`` and the model's weights); then each
    layer that holds weights, from the output down to the input (nested models' layers
    included, in graph order reversed), gets its weights drawn afresh from its own initializers
    (``kernel_initializer``, ``bias_initializer``, ``gamma_initializer``, ...), seeded from
    ``seed``; weights without an initializer are drawn from a normal with their current mean
    and standard deviation. The randomisation cascades: step ``i`` keeps layers ``1..i-1``
    randomised. The caller's model is never touched.

    Args:
        model: a built Sequential or functional Keras model.
        seed: seed of the new weights. Defaults to 0.

    Yields:
        ``(layer_path, copy)``: the path of the layer just randomised and the copy (the same
        object every time, randomised further at each step).

    Example:
        >>> for path, randomized in cascading_randomization(model):
        ...     print(path, randomized.predict(images, verbose=0).shape)
        head (4, 5)
        conv2 (4, 5)
        conv1 (4, 5)
    """
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    weighted = [ref for ref in walk_layers(copy)
                if ref.layer.weights and not isinstance(ref.layer, keras.Model)]
    rng = np.random.default_rng(seed)
    for ref in reversed(weighted):
        _reinitialize(ref.layer, rng)
        yield ref.path, copy


def _reinitialize(layer, rng):
    for variable in layer.weights:
        name = variable.name.split("/")[-1]
        initializer = getattr(layer, _INITIALIZER_OF.get(name, f"{name}_initializer"), None)
        if initializer is None:
            values = variable.numpy()
            fresh = rng.normal(values.mean(), values.std(), values.shape)
        else:
            config = initializer.get_config()
            if "seed" in config:
                config["seed"] = int(rng.integers(2**31 - 1))
            fresh = type(initializer).from_config(config)(variable.shape, variable.dtype)
        variable.assign(np.asarray(fresh, dtype=variable.dtype))


def rank_correlation(first, second):
    """Spearman's rank correlation of two maps (ties get their average rank).

    A constant map ranks nothing; its correlation is taken as 0, the value for unrelated maps
    (a map that went blank shares no structure with the original).

    Example:
        >>> rank_correlation(np.array([1, 2, 3]), np.array([10, 30, 20]))
        0.5
    """
    first, second = np.ravel(first), np.ravel(second)
    if first.min() == first.max() or second.min() == second.max():
        return 0.0
    return float(scipy.stats.spearmanr(first, second).statistic)


def randomization_sanity_check(method, model, images, *, layer=None, class_index=None, seed=0,
                               per_image=False, **method_kwargs):
    """Rank correlation between a method's maps and the maps of ever more randomised copies.

    The cascading model-parameter randomisation test of Adebayo et al. (2018): the maps of the
    original model are compared, image by image, with the maps of a copy whose weights are
    re-drawn layer by layer from the top (``cascading_randomization``). Each map explains the
    class chosen on the original model (``class_index``, or its top class), so only the
    weights change. Maps are compared at the input's resolution
    (``gradcam_keras.methods.image_maps``). A method that passes shows correlations that fall
    towards 0 as layers are randomised. A randomised copy often gives maps that are zero
    everywhere; that is an expected outcome of the test (it counts in the correlation), so no
    ``ZeroMapWarning`` is raised for them (the original model's maps still warn).

    Args:
        method: a ``BaseCAM`` subclass, or a name from ``gradcam_keras.methods.METHODS``.
        model: the Keras classifier (never modified).
        images: ``[n, H, W, C]`` preprocessed inputs.
        layer: the layer the method reads (default: as the method chooses).
        class_index: None (top class of the original model), an int, or one int per image.
        seed: seed of the random weights. Defaults to 0.
        per_image: give each image's correlation instead of the mean over images.
        **method_kwargs: passed to the method's constructor (e.g. ``score``).

    Returns:
        list of ``(layer_path, correlation)``, one per randomised layer from the top; the
        correlation is Spearman's rho averaged over the images (or ``[n]`` with
        ``per_image``).

    Raises:
        InputError: unknown method name; see the method's own errors.

    Example:
        >>> for path, rho in randomization_sanity_check("gradcam", model, images):
        ...     print(path, -1 <= rho <= 1)
        head True
        conv2 True
        conv1 True
    """
    from gradcam_keras.methods import get_method, image_maps

    method = get_method(method) if isinstance(method, str) else method
    if not (isinstance(method, type) and hasattr(method, "compute")):
        raise InputError(f"`method` must be a BaseCAM subclass or a method name, got {method!r}")
    cam = method(model, layer, **method_kwargs)
    classes = [int(c) for c in cam.compute(images, class_index).class_index[:, 0]]
    original = image_maps(cam, images, classes)
    results, randomized_cam = [], None
    for path, copy in cascading_randomization(model, seed=seed):
        if randomized_cam is None:  # reads the copy's variables: one trace for every step
            randomized_cam = method(copy, cam.layer, **method_kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ZeroMapWarning)
            maps = image_maps(randomized_cam, images, classes)
        rhos = np.array([rank_correlation(a, b) for a, b in zip(original, maps)])
        results.append((path, rhos if per_image else float(rhos.mean())))
    return results
