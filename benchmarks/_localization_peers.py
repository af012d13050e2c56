"""tf-keras-vis's CAMs for the localisation benchmark, and the VGG19 Score-CAM race.

tf-keras-vis (``pip install tf-keras-vis``, in the ``bench`` extra) returns maps upsampled to the
input size (``scipy.ndimage.zoom``, order 1) and normalised to ``[0, 1]``; the metrics do not
depend on the scale, so they are scored as they come.
"""

import contextlib
import io
import time

import numpy as np

LAYER = "block5_conv4"


def tf_keras_vis_methods(model, layer):
    """Return ``{row name: maps(images, labels)}`` for tf-keras-vis's CAMs, or {} if missing."""
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
        from tf_keras_vis.layercam import Layercam
        from tf_keras_vis.scorecam import Scorecam
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        print("tf-keras-vis is not installed (pip install tf-keras-vis): its rows are left out")
        return {}

    def runner(cls):
        method = cls(model, clone=True)  # the demo model outputs logits: no modifier needed

        def run(images, labels):
            with contextlib.redirect_stdout(io.StringIO()):  # Scorecam's predict progress bar
                return np.asarray(method(CategoricalScore([int(c) for c in labels]), images,
                                         penultimate_layer=layer,
                                         seek_penultimate_conv_layer=False))
        return run

    return {f"tf-keras-vis {cls.__name__}": runner(cls)
            for cls in (Gradcam, GradcamPlusPlus, Layercam, Scorecam)}


def vgg19_scorecam_race(channel_batch_size=32, seed=0):
    """Time Score-CAM on VGG19 (weights=None) at block5_conv4 for one 224x224 image.

    Both implementations get the same preprocessed image and class; tf-keras-vis runs its
    default ``batch_size=32`` with ``ReplaceToLinear`` (logits, as ours). Each is called once,
    cold: a run is minutes on a CPU, and the one-time costs (our trace, tf-keras-vis's clone
    and predict function) are seconds.

    Returns:
        dict with the seconds of each, their ratio, the number of channels scored and the
        rank correlation of the two maps (they should agree: the same computation).
    """
    import keras

    from gradcam_keras import shapes
    from gradcam_keras.methods import ScoreCAM
    from gradcam_keras.metrics import rank_correlation

    keras.utils.set_random_seed(seed)
    model = keras.applications.VGG19(weights=None)
    image = shapes.generate(1, seed=seed, size=224).images.astype(np.float32)
    x = keras.applications.vgg19.preprocess_input(image.copy())
    label = int(np.argmax(model.predict(x, verbose=0)[0]))
    ours = ScoreCAM(model, LAYER, channel_batch_size=channel_batch_size)
    features = keras.Model(model.input, model.get_layer(LAYER).output)(x).numpy()[0]
    varying = int(np.sum(features.max(axis=(0, 1)) > features.min(axis=(0, 1))))
    start = time.perf_counter()
    our_map = ours(x, class_index=label)[0]
    our_seconds = time.perf_counter() - start
    result = {"ours": our_seconds, "channels": features.shape[-1], "varying": varying}
    try:
        from tf_keras_vis.scorecam import Scorecam
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        return result
    peer = Scorecam(model, model_modifier=ReplaceToLinear(), clone=True)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # its predict progress bar
        peer_map = peer(CategoricalScore([label]), x, penultimate_layer=LAYER,
                        seek_penultimate_conv_layer=False)[0]
    result["tf-keras-vis"] = time.perf_counter() - start
    from gradcam_keras.image import upsample

    result["rank_correlation"] = rank_correlation(upsample(our_map, (224, 224)), peer_map)
    return result
