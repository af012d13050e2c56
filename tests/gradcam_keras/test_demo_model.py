"""The bundled demo model: offline loading, accuracy and Grad-CAM localisation on fresh images."""

import importlib.resources
import pathlib
import socket

import keras
import numpy as np
import pytest

from gradcam_keras import demo
from gradcam_keras.cam import GradCAM
from gradcam_keras.demo import shapes
from gradcam_keras.demo import train as train_demo
from gradcam_keras.image import upsample

# A plain int seed is the SeedSequence stream (seed, 0); training used (0, 1), (0, 2), (0, 3).
FRESH_SEED = 20_240_601


@pytest.fixture(scope="module")
def model():
    return demo.load_demo_model()


@pytest.fixture(scope="module")
def fresh():
    return shapes.generate(400, seed=FRESH_SEED, size=demo.IMAGE_SIZE)


def _pointing_hits(maps, boxes, size):
    """The pointing game: is the maximum of the upsampled map inside the box (no tolerance)?"""
    hits = []
    for cam_map, (x0, y0, x1, y1) in zip(maps, boxes, strict=True):
        up = upsample(cam_map, size)
        row, col = np.unravel_index(np.argmax(up), up.shape)
        hits.append(x0 <= col < x1 and y0 <= row < y1)
    return np.array(hits)


def test_model_file_ships_inside_the_package_and_is_small():
    path = pathlib.Path(str(importlib.resources.files("gradcam_keras") / "data" / demo.MODEL_FILE))
    assert path.is_file()
    assert path.parent.name == "data" and path.parent.parent.name == "gradcam_keras"
    assert path.stat().st_size <= 5 * 1024 * 1024


def test_loads_with_the_network_switched_off(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    model = demo.load_demo_model()
    assert tuple(model.inputs[0].shape) == (None, *demo.IMAGE_SIZE, 3)
    assert tuple(model.outputs[0].shape) == (None, len(demo.CLASS_NAMES))


def test_each_call_hands_out_an_independent_model(fresh):
    first, second = demo.load_demo_model(), demo.load_demo_model()
    assert first is not second
    images = demo.preprocess(fresh.images[:8])
    before = second.predict(images, verbose=0)
    first.set_weights([np.zeros_like(w) for w in first.get_weights()])
    np.testing.assert_array_equal(second.predict(images, verbose=0), before)
    np.testing.assert_array_equal(demo.load_demo_model().predict(images, verbose=0), before)


def test_demo_layer_is_the_last_convolution_with_16x16_maps(model):
    layer = model.get_layer(demo.DEMO_LAYER)
    convolutions = [lay for lay in model.layers if isinstance(lay, keras.layers.Conv2D)]
    assert convolutions[-1] is layer
    assert tuple(layer.output.shape[1:3]) == (16, 16)
    assert layer.get_config()["activation"] == "relu"


def test_outputs_are_logits_not_probabilities(model):
    head = model.layers[-1]
    assert isinstance(head, keras.layers.Dense) and head.get_config()["activation"] == "linear"
    assert isinstance(model.layers[-2], keras.layers.GlobalAveragePooling2D)


def test_training_script_describes_the_shipped_architecture(model):
    built = train_demo.build_model()
    assert [(lay.name, type(lay)) for lay in built.layers] == [
        (lay.name, type(lay)) for lay in model.layers]
    assert built.count_params() == model.count_params()


def test_held_out_accuracy_on_fresh_images(model, fresh):
    logits = model.predict(demo.preprocess(fresh.images), batch_size=200, verbose=0)
    assert np.mean(np.argmax(logits, axis=1) == fresh.labels) >= 0.97


def test_grad_cam_points_at_the_shapes(model, fresh):
    # The pointing game (Zhang et al. 2016) for each image's true class, with no tolerance
    # (the usual 15 px on ~224 px images would be ~4 px here): stricter than the standard.
    cam = GradCAM(model, demo.DEMO_LAYER)
    maps = cam(demo.preprocess(fresh.images), class_index=[int(c) for c in fresh.labels])
    hits = _pointing_hits(maps, fresh.boxes, demo.IMAGE_SIZE)
    assert hits.mean() >= 0.90
    for label in range(len(demo.CLASS_NAMES)):  # no class may lean on the background
        assert hits[fresh.labels == label].mean() >= 0.80, demo.CLASS_NAMES[label]
    # Control: paired with another image's box, the same maps must mostly miss.
    shuffled = _pointing_hits(maps, np.roll(fresh.boxes, 1, axis=0), demo.IMAGE_SIZE)
    assert shuffled.mean() <= 0.35


def test_make_demo_image_is_deterministic_and_never_a_training_image():
    image = demo.make_demo_image(seed=3)
    assert image.shape == (*demo.IMAGE_SIZE, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, demo.make_demo_image(seed=3))
    np.testing.assert_array_equal(image, shapes.generate(1, 3, demo.IMAGE_SIZE).images[0])
    assert (image != demo.make_demo_image(seed=4)).any()
    training = shapes.generate(20, (0, train_demo.TRAIN_STREAM), demo.IMAGE_SIZE).images
    assert not any(np.array_equal(demo.make_demo_image(seed=s), t)
                   for s in range(5) for t in training)
    with pytest.raises(TypeError, match="seed must be an int"):
        demo.make_demo_image(seed=1.5)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_preprocess_scales_to_minus_one_one_and_leaves_its_input_alone(dtype):
    images = np.array([[[[0, 127.5, 255]]], [[[51, 204, 255]]]]).astype(dtype)
    original = images.copy()
    out = demo.preprocess(images)
    np.testing.assert_array_equal(images, original)
    assert out.dtype == np.float32 and out.shape == images.shape
    assert not np.shares_memory(out, images)
    expected = images.astype(np.float64) / 127.5 - 1.0
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert out[0, 0, 0, 0] == -1.0 and out[1, 0, 0, 2] == 1.0


def test_preprocess_rejects_non_rgb_input():
    with pytest.raises(ValueError, match="images must end in 3 RGB channels"):
        demo.preprocess(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(TypeError, match="images must hold real numbers"):
        demo.preprocess(np.zeros((4, 4, 3), bool))


def test_training_data_mixes_one_hot_shapes_and_uniform_backgrounds():
    images, targets = train_demo.training_data(seed=5, train_size=12, background_size=4)
    assert images.shape == (16, *demo.IMAGE_SIZE, 3) and images.dtype == np.uint8
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)
    uniform = np.all(np.isclose(targets, 1 / len(demo.CLASS_NAMES)), axis=1)
    assert uniform.sum() == 4 and np.all(targets[~uniform].max(axis=1) == 1.0)


@pytest.mark.filterwarnings("ignore:.*zero everywhere")  # one epoch on 80 images: maps may be 0
def test_training_script_runs_end_to_end_and_saves_a_loadable_model(tmp_path, capsys):
    output = tmp_path / "tiny.keras"
    code = train_demo.main(["--epochs", "1", "--train-size", "64", "--background-size", "16",
                            "--validation-size", "32", "--output", str(output)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "held-out accuracy:" in printed and "pointing game" in printed
    reloaded = keras.models.load_model(output, compile=False)
    assert reloaded.get_layer(demo.DEMO_LAYER).output.shape[1:3] == (16, 16)
    # Weights only: float32 parameters plus the config; Adam's moments would triple it.
    assert output.stat().st_size < 4 * reloaded.count_params() + 100_000
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.keras"]  # no temporary file left


def test_training_script_refuses_an_unwritable_output(tmp_path, capsys):
    code = train_demo.main(["--output", str(tmp_path / "missing" / "model.keras")])
    assert code == 2
    assert "--output" in capsys.readouterr().err
