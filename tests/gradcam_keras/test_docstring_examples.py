"""Every ``>>>`` example in gradcam_keras's docstrings runs, so none can rot.

The examples use a few names they do not define: ``model`` (a small CNN with layers ``conv1``
and ``conv2`` on 20x24 RGB images), ``images`` (4 of them), ``nested`` (the same layers in a
sub-model ``backbone``) and ``photo_path`` (a 40x60 photo on disk). The metrics' examples use
the bundled demo model with ``batch`` (8 fresh shapes images), their ``images`` and ``maps``.
"""

import contextlib
import doctest
import importlib
import pkgutil
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import gradcam_keras
from tests.gradcam_keras.conftest import write_photo

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(gradcam_keras.__path__, "gradcam_keras.")
    if not info.name.endswith("__main__"))
ON_THE_DEMO_MODEL = ("gradcam_keras.metrics.faithfulness", "gradcam_keras.metrics.localization")
# Examples that show a zero map on purpose: the warning is asserted, not printed.
ZERO_MAPS = ("gradcam_keras.methods.gradient",)


def _small_model_names(tmp_path):
    keras.utils.set_random_seed(0)
    backbone = keras.Sequential([keras.Input((20, 24, 3)),
                                 layers.Conv2D(6, 3, activation="relu", name="conv1"),
                                 layers.Conv2D(8, 3, activation="relu", name="conv2")],
                                name="backbone")
    inputs = keras.Input((20, 24, 3))
    nested = keras.Model(inputs, layers.Dense(5, name="head")(
        layers.GlobalAveragePooling2D()(backbone(inputs))))
    model = keras.Sequential([keras.Input((20, 24, 3)), *(
        layers.Conv2D(n, 3, activation="relu", name=name) for n, name in ((6, "conv1"),
                                                                           (8, "conv2"))),
        layers.GlobalAveragePooling2D(name="gap"), layers.Dense(5, name="head")])
    images = np.random.default_rng(0).normal(size=(4, 20, 24, 3)).astype(np.float32)
    return {"model": model, "nested": nested, "images": images,
            "photo_path": write_photo(tmp_path / "photo.png")}


def _demo_model_names():
    from gradcam_keras import GradCAM, demo
    from gradcam_keras.methods import image_maps

    model = demo.load_demo_model()
    batch = demo.shapes.generate(8, seed=1234)
    images = demo.preprocess(batch.images)
    maps = image_maps(GradCAM(model, demo.DEMO_LAYER), images, batch.labels)
    return {"model": model, "batch": batch, "images": images, "maps": maps}


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name, tmp_path):
    module = importlib.import_module(module_name)
    tests = [t for t in doctest.DocTestFinder().find(module) if t.examples]
    if not tests:
        return
    names = (_demo_model_names() if module_name in ON_THE_DEMO_MODEL
             else _small_model_names(tmp_path))
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    from gradcam_keras.errors import ZeroMapWarning

    expected = (pytest.warns(ZeroMapWarning) if module_name in ZERO_MAPS
                else contextlib.nullcontext())
    with expected, warnings.catch_warnings():
        if module_name not in ZERO_MAPS:  # an example that warns fails (doctest catches it)
            warnings.simplefilter("error", ZeroMapWarning)
        for test in tests:
            test.globs.update({"np": np, "tf": tf, "keras": keras, **names})
            runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert attempted > 0 and failed == 0, f"{failed} example(s) of {module_name} failed"
