"""--preprocess by name or by numbers, reported per image; the note for a model file that gets
raw pixels; zero maps named by method; XGrad-CAM in float64; no retracing warning."""

import json
import logging

import keras
import numpy as np
import pytest
from keras import layers

from gradcam_keras import GradCAM, XGradCAM
from gradcam_keras.errors import InputError
from gradcam_keras.image import overlay
from gradcam_keras.preprocessing import Normalization, parse_preprocessing


def test_numbers_compute_scale_then_mean_and_std_per_channel():
    norm = parse_preprocessing("scale=1/255, mean=0.485,0.456,0.406, std=0.229,0.224,0.225")
    assert isinstance(norm, Normalization) and norm.scale == pytest.approx(1 / 255)
    x = np.array([[[255.0, 0.0, 127.5]]])
    expected = (x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(norm(x), expected, rtol=1e-6)
    assert parse_preprocessing("caffe") == "caffe"
    np.testing.assert_allclose(parse_preprocessing("mean=127,std=128")(x), (x - 127) / 128)


@pytest.mark.parametrize("text, reason", [
    ("imagenet", "an unknown name"), ("mean=1,sd=2", "an unknown key 'sd'"),
    ("mean=a", "'a' is not a number"), ("std=0", "every std must be > 0"),
    ("scale=0", "scale must be one non-zero number"), ("mean=1,mean=2", "a repeated key"),
    ("1,mean=2", "'1' comes before any key")])
def test_bad_preprocessing_says_what_and_how(text, reason):
    with pytest.raises(InputError, match="expected one of caffe, tf, torch, unit, none, or "
                                         r"scale=S,mean=M\[,M,M\],std=S\[,S,S\]") as info:
        parse_preprocessing(text)
    assert reason in str(info.value)


def test_cli_reports_the_preprocessing_and_rejects_bad_numbers(model_file, tmp_path, photo,
                                                               run_cli):
    image = photo(tmp_path / "p.png")
    spec = "scale=1/255,mean=0.5,std=0.25"
    code, out, err = run_cli("--model", model_file, "--input", image, "--preprocess", spec,
                             "--output", tmp_path / "o", "--json")
    assert code == 0 and err == ""  # given --preprocess: no note
    assert json.loads(out)["images"][0]["preprocess"] == spec
    code, out, _ = run_cli("--model", model_file, "--input", image, "--output", tmp_path / "o")
    assert code == 0 and ", preprocess none -> " in out
    code, _, err = run_cli("--model", model_file, "--input", image, "--preprocess", "std=-1")
    assert code == 2 and "--preprocess 'std=-1': every std must be > 0" in err
    assert len(err.strip().splitlines()) == 1


def test_a_model_file_without_input_normalisation_gets_one_note(model_file, rescaled_model_file,
                                                                tmp_path, photo, run_cli):
    image = photo(tmp_path / "p.png")
    _, _, err = run_cli("--model", model_file, "--input", image, "--output", tmp_path / "o")
    notes = [line for line in err.splitlines() if "note:" in line]
    assert len(notes) == 1 and "no Rescaling or Normalization layer at its input" in notes[0]
    _, _, err = run_cli("--model", rescaled_model_file, "--input", image, "--output",
                        tmp_path / "o")
    assert "note:" not in err


def test_a_zero_map_note_names_the_method_and_says_what_is_drawn(tmp_path, run_cli):
    code, _, err = run_cli("--demo-shapes", "--method", "counterfactual", "--layer", "conv5",
                           "--output", tmp_path)
    assert code == 0
    if "zero everywhere" in err:  # the counterfactual map of a confident image is often zero
        assert "the Counterfactual Grad-CAM map of demo image (seed 0)" in err
        assert "jet's uniform dark blue" in err
    # What the note says is what overlay draws for a zero map: jet(0) blended 50% everywhere.
    drawn = overlay(np.full((4, 4, 3), 200, np.uint8), np.zeros((4, 4)))
    assert (drawn == drawn[0, 0]).all() and drawn[0, 0].tolist() == [100, 100, 164]


def test_xgradcam_sums_in_float64_where_channel_sums_nearly_cancel():
    inputs = keras.Input((8, 8, 1))
    features = layers.Conv2D(2, 1, use_bias=False, name="conv")(inputs)
    model = keras.Model(inputs, layers.Dense(3, name="head")(
        layers.GlobalAveragePooling2D()(features)))
    rng = np.random.default_rng(0)
    model.get_layer("conv").set_weights([np.array([[[[1.0, -0.5]]]], np.float32)])
    x = rng.normal(size=(1, 8, 8, 1)).astype(np.float32) * 459.0
    x[0, -1, -1, 0] -= x.sum() - 3.5e-3  # channel sums of 3.5e-3 against values near 459
    a = x[0].astype(np.float64) * np.array([1.0, -0.5])  # [8, 8, 2], as the layer computes
    kernel = model.get_layer("head").get_weights()[0].astype(np.float64)
    c = int(np.argmax(model.predict(x, verbose=0)[0]))
    grads = np.broadcast_to(kernel[:, c] / 64.0, a.shape)
    weights = (grads * a).sum((0, 1)) / a.sum((0, 1))
    expected = np.maximum((a * weights).sum(-1), 0.0)
    got = XGradCAM(model, "conv")(x)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * expected.max())


def test_many_cam_objects_trigger_no_retracing_warning(small_sequential, caplog):
    model = small_sequential()
    x = np.random.default_rng(1).normal(size=(2, 20, 24, 3)).astype(np.float32)
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for _ in range(7):
            GradCAM(model, "conv2")(x)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
