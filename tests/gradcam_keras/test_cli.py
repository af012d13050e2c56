"""The command line tool through main(argv): outputs, and every bad input -> exit 2, one line."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

from gradcam_keras import GradCAM, models
from gradcam_keras.cli.main import main
from gradcam_keras.image import load_image, resize


def _assert_bad_input(run_cli, *argv, match):
    code, out, err = run_cli(*argv)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gradcam-keras: error: "), err
    assert "Traceback" not in err
    assert match in lines[0], lines[0]


def test_figures_npy_and_json(model_file, tmp_path, capsys, run_cli, photo):
    a, b = photo(tmp_path / "a.png"), photo(tmp_path / "b.jpg", (50, 30), seed=1)
    before = {p: pathlib.Path(p).read_bytes() for p in (a, b)}
    out_dir = tmp_path / "out"
    code, out, _ = run_cli("--model", model_file, "--input", a, b, "--output", out_dir,
                           "--save-npy", "--json")
    assert code == 0
    records = json.loads(out)["images"]
    assert [r["input"] for r in records] == [a, b]
    model = keras.models.load_model(model_file)
    cam = GradCAM(model, "conv2")
    for record, path in zip(records, (a, b), strict=True):
        assert record["layer"] == "conv2" and record["image_shape"] == list(
            load_image(path).shape[:2])
        with Image.open(record["figure"]) as fig:
            assert fig.format == "PNG" and fig.width > fig.height
        expected = cam(resize(load_image(path), (32, 32))[None].astype(np.float32))
        np.testing.assert_allclose(np.load(record["npy"])[0], expected[0], rtol=1e-5)
        assert record["targets"][0]["class_index"] == record["predictions"][0]["index"]
    assert sorted(os.listdir(out_dir)) == ["a_gradcam.npy", "a_gradcam.png", "b_gradcam.npy",
                                           "b_gradcam.png"]  # no temporary file left
    assert {p: pathlib.Path(p).read_bytes() for p in (a, b)} == before


def test_top_k_and_class_index_give_one_map_per_class(model_file, tmp_path, capsys, run_cli,
                                                      photo):
    a = photo(tmp_path / "a.png")
    code, out, _ = run_cli("--model", model_file, "--input", a, "--top-k", "3", "--json",
                           "--save-npy", "--output", tmp_path)
    record = json.loads(out)["images"][0]
    assert code == 0 and np.load(record["npy"]).shape == (3, 28, 28)
    assert [t["class_index"] for t in record["targets"]] == [
        p["index"] for p in record["predictions"][:3]]
    code, out, _ = run_cli("--model", model_file, "--input", a, "--class-index", "4", "1",
                           "--json", "--output", tmp_path / "c.png", "--score", "softmax")
    targets = json.loads(out)["images"][0]["targets"]
    assert code == 0 and [t["class_index"] for t in targets] == [4, 1]
    assert os.path.isfile(tmp_path / "c.png")


def test_default_output_directory_and_summary_line(model_file, tmp_path, capsys, monkeypatch,
                                                   run_cli, photo):
    monkeypatch.chdir(tmp_path)
    photo(tmp_path / "cat.png")
    code, out, err = run_cli("--model", model_file, "--input", "cat.png", "--preprocess", "none")
    assert code == 0 and err == ""  # an explicit --preprocess: no note about raw pixels
    assert os.path.isfile(tmp_path / "gradcam_output" / "cat_gradcam.png")
    assert out.startswith("cat.png: class ") and "gradcam_output/cat_gradcam.png" in out


def test_a_directory_of_many_images_shows_progress(model_file, tmp_path, capsys, run_cli, photo):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(5):
        photo(photos / f"p{i}.png", seed=i)
    (photos / "readme.txt").write_text("not an image, skipped by suffix")
    code, out, err = run_cli("--model", model_file, "--input", photos, "--output",
                             tmp_path / "maps", "--batch-size", "2")
    assert code == 0 and "5/5 images" in err
    assert out.strip() == f"wrote 5 figures to {tmp_path / 'maps'}"
    assert len(os.listdir(tmp_path / "maps")) == 5


def test_list_layers_prints_the_parameter_formula(model_file, capsys, run_cli):
    code, out, _ = run_cli("--model", model_file, "--list-layers")
    assert code == 0
    assert "conv1" in out and "3*3*8*3 + 8" in out and "224" in out
    assert "conv2" in out and "(None, 28, 28, 8)" in out and "584" in out
    code, out, _ = run_cli("--model", model_file, "--list-layers", "--json")
    assert [row["params"] for row in json.loads(out)["layers"]] == [224, 584]


def test_vgg19_layers_are_listed_without_imagenet_weights(capsys, offline, run_cli):
    code, out, _ = run_cli("--list-layers")
    assert code == 0 and "block5_conv4" in out and "2,359,808" in out


def test_demo_shapes_writes_its_figure(tmp_path, capsys, monkeypatch, run_cli):
    # The shapes model, offline and without the real extra: --demo-shapes.
    from gradcam_keras import demo

    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("--demo-shapes", "--json")
    record = json.loads(out)["images"][0]
    assert code == 0 and record["layer"] == demo.DEMO_LAYER
    assert record["figure"] == os.path.join("gradcam_output", "demo_gradcam.png")
    assert record["targets"][0]["name"] in demo.CLASS_NAMES
    mode = os.stat(tmp_path / record["figure"]).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # not the 0600 of the temporary file it was written to
    with Image.open(tmp_path / record["figure"]) as fig:
        assert fig.format == "PNG"
    _assert_bad_input(run_cli, "--demo-shapes", "--model", "vgg19",
                      match="--demo-shapes uses the bundled")


def test_bad_files_exit_2_with_one_line(model_file, tmp_path, capsys, monkeypatch, run_cli, photo):
    good = photo(tmp_path / "good.png")
    m = ("--model", model_file)
    _assert_bad_input(run_cli, *m, "--input", tmp_path / "gone.jpg", match="does not exist")
    (tmp_path / "notes.jpg").write_text("hello")
    _assert_bad_input(run_cli, *m, "--input", tmp_path / "notes.jpg", match="not an image")
    data = pathlib.Path(good).read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    _assert_bad_input(run_cli, *m, "--input", tmp_path / "cut.png", match="corrupt or truncated")
    (tmp_path / "empty").mkdir()
    _assert_bad_input(run_cli, *m, "--input", tmp_path / "empty", match="holds no image")
    _assert_bad_input(run_cli, *m, "--input", good, "--output", good, match="overwrite an input")
    _assert_bad_input(run_cli, *m, "--input", good, good, "--output", tmp_path / "x.png",
                      match="names one file but there are 2 inputs")
    (tmp_path / "plain").write_text("a file, not a directory")
    _assert_bad_input(run_cli, *m, "--input", good, "--output", tmp_path / "plain" / "out",
                      match="cannot write to output directory")
    monkeypatch.setattr(Image, "open", _denied)
    _assert_bad_input(run_cli, *m, "--input", good, match="permission denied")


def _denied(*args, **kwargs):
    raise PermissionError(13, "Permission denied")


def test_bad_model_arguments_exit_2_with_one_line(model_file, tmp_path, capsys, monkeypatch,
                                                  run_cli, photo, offline):
    good = photo(tmp_path / "good.png")
    m = ("--model", model_file, "--input", good)
    _assert_bad_input(run_cli, *m, "--layer", "conv9", match="valid convolutional layers: "
                                                            "conv1, conv2")
    _assert_bad_input(run_cli, *m, "--layer", "head", match="cannot be used")
    _assert_bad_input(run_cli, *m, "--class-index", "5", match="class index 5 is out of range")
    _assert_bad_input(run_cli, *m, "--weights", tmp_path / "w.h5", match="does not exist")
    keras.Sequential([keras.Input((4,)), layers.Dense(2)]).save_weights(
        tmp_path / "other.weights.h5")
    _assert_bad_input(run_cli, *m, "--weights", tmp_path / "other.weights.h5",
                      match="does not fit")
    _assert_bad_input(run_cli, "--model", "vgg20", "--input", good, match="unknown model")
    _assert_bad_input(run_cli, match="nothing to explain")
    monkeypatch.setattr(models, "cached_weights", lambda name: None)
    monkeypatch.setattr(models, "keras_home", lambda: str(tmp_path / "kh"))
    _assert_bad_input(run_cli, "--input", good, match=str(
        tmp_path / "kh" / "models" / "vgg19_weights_tf_dim_ordering_tf_kernels.h5"))


def test_argparse_errors_exit_2():
    with pytest.raises(SystemExit) as info:
        main(["--input", "a.png", "--top-k", "0"])
    assert info.value.code == 2


def test_unexpected_failures_exit_1_with_one_line(model_file, tmp_path, capsys, monkeypatch,
                                                  run_cli, photo):
    from gradcam_keras.cli import run

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(run, "explain", broken)
    photo = photo(tmp_path / "a.png")
    code, _, err = run_cli("--model", model_file, "--input", photo, "--output", tmp_path)
    assert code == 1 and err.strip().splitlines() == [
        "gradcam-keras: failed: RuntimeError: disk on fire (rerun with --debug for details)"]


@pytest.mark.slow
def test_the_installed_command_keeps_stderr_to_one_line(model_file, tmp_path, photo):
    # A fresh process: TensorFlow's C++ start-up lines and Keras's warnings about the
    # mismatched file must not reach stderr, only the one line.
    good = photo(tmp_path / "good.png")
    keras.Sequential([keras.Input((4,)), layers.Dense(2)]).save_weights(
        tmp_path / "other.weights.h5")
    result = subprocess.run(
        [sys.executable, "-m", "gradcam_keras", "--model", model_file, "--input", good,
         "--weights", str(tmp_path / "other.weights.h5"), "--output", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "does not fit model small.keras" in result.stderr
