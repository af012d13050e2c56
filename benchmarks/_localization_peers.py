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


def _timed(run):
    """Return ``(result, wall seconds, CPU seconds of this process)`` of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def vgg19_scorecam_race(channel_batch_size=32, faster_channels=64, seed=0):
    """Time Score-CAM on VGG19 (weights=None) at block5_conv4 for one 224x224 image.

    Both implementations get the same preprocessed image (a shapes image drawn at 224x224) and
    class; tf-keras-vis runs its default ``batch_size=32`` with ``ReplaceToLinear`` (logits, as
    ours). Each is called once, cold: a run is minutes on a CPU, and the one-time costs (our
    trace, tf-keras-vis's clone and predict function) are seconds. Wall-clock and CPU time of
    the process are both reported: other jobs on a shared machine slow the wall clock. Then
    the same race for Faster Score-CAM (``faster_channels`` channels: our ``max_channels``,
    tf-keras-vis's ``max_N``).

    Returns:
        dict: channel counts, and per run ``(wall s, CPU s)`` and the maps.
    """
    import keras

    from gradcam_keras.demo import shapes
    from gradcam_keras.methods import ScoreCAM

    keras.utils.set_random_seed(seed)
    model = keras.applications.VGG19(weights=None)
    image = shapes.generate(1, seed=seed, size=224).images.astype(np.float32)
    x = keras.applications.vgg19.preprocess_input(image.copy())
    label = int(np.argmax(model.predict(x, verbose=0)[0]))
    features = keras.Model(model.input, model.get_layer(LAYER).output)(x).numpy()[0]
    result = {"channels": features.shape[-1], "faster_channels": faster_channels,
              "varying": int(np.sum(features.max(axis=(0, 1)) > features.min(axis=(0, 1))))}
    for key, max_channels in (("ours", None), ("ours faster", faster_channels)):
        cam = ScoreCAM(model, LAYER, channel_batch_size=channel_batch_size,
                       max_channels=max_channels)
        result[key] = _timed(lambda cam=cam: cam(x, class_index=label)[0])
    try:
        from tf_keras_vis.scorecam import Scorecam
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        return result
    peer = Scorecam(model, model_modifier=ReplaceToLinear(), clone=True)

    def run_peer(max_n):
        with contextlib.redirect_stdout(io.StringIO()):  # its predict progress bar
            return peer(CategoricalScore([label]), x, penultimate_layer=LAYER,
                        seek_penultimate_conv_layer=False, max_N=max_n)[0]

    result["tf-keras-vis"] = _timed(lambda: run_peer(None))
    result["tf-keras-vis faster"] = _timed(lambda: run_peer(faster_channels))
    return result
