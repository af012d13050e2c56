"""``--method`` on the command line: each method's maps as the library computes them."""

import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from gradcam_keras import demo
from gradcam_keras.cli.main import main
from gradcam_keras.cli.parser import build_parser
from gradcam_keras.image import load_image, resize
from gradcam_keras.methods import GradCAMPlusPlus, GuidedGradCAM, ScoreCAM
from gradcam_keras.names import METHOD_NAMES


def test_method_choices_are_the_registry_and_all():
    parser = build_parser()
    chosen = [parser.parse_args(["--method", name]).method for name in (*METHOD_NAMES, "all")]
    assert chosen == [*METHOD_NAMES, "all"] and parser.parse_args([]).method == "gradcam"


@pytest.mark.parametrize("method, cls", [("gradcam++", GradCAMPlusPlus), ("scorecam", ScoreCAM)])
def test_one_method_writes_its_own_maps(rescaled_model_file, tmp_path, capsys, method, cls,
                                        run_cli, photo):
    image = photo(tmp_path / "a.png")
    code, out, _ = run_cli("--model", rescaled_model_file, "--input", image, "--output",
                           tmp_path / "out", "--method", method, "--top-k", "2", "--save-npy",
                           "--json")
    assert code == 0
    (record,) = json.loads(out)["images"]
    assert os.path.basename(record["figure"]) == f"a_{method}.png"
    assert [t["method"] for t in record["targets"]] == [method, method]
    model = keras.models.load_model(rescaled_model_file)
    x = resize(load_image(image), (32, 32))[None].astype(np.float32)
    expected = cls(model, "conv2").compute(x, top_k=2).maps[0]
    np.testing.assert_allclose(np.load(record["npy"]), expected, rtol=1e-5, atol=1e-7)
    assert [t["class_index"] for t in record["targets"]] == list(
        np.argsort(-model.predict(x, verbose=0)[0])[:2])


def test_guided_gradcam_saves_pixel_level_maps(rescaled_model_file, tmp_path, capsys, run_cli,
                                               photo):
    image = photo(tmp_path / "b.png", (30, 50))
    code, out, _ = run_cli("--model", rescaled_model_file, "--input", image, "--output",
                           tmp_path / "g.png", "--method", "guided-gradcam", "--save-npy",
                           "--json")
    assert code == 0
    (record,) = json.loads(out)["images"]
    saved = np.load(record["npy"])
    assert saved.shape == (1, 32, 32) and record["targets"][0]["map_shape"] == [32, 32]
    x = resize(load_image(image), (32, 32))[None].astype(np.float32)
    model = keras.models.load_model(rescaled_model_file)
    np.testing.assert_allclose(saved[0], GuidedGradCAM(model, "conv2").pixel_maps(x)[0],
                               rtol=1e-5, atol=1e-9)


def test_all_methods_on_the_shapes_demo(tmp_path, capsys, run_cli):
    code, out, _ = run_cli("--demo-shapes", "--method", "all", "--output", tmp_path,
                           "--save-npy", "--json")
    assert code == 0
    (record,) = json.loads(out)["images"]
    assert record["methods"] == list(METHOD_NAMES)
    assert [t["method"] for t in record["targets"]] == list(METHOD_NAMES)
    assert len({t["class_index"] for t in record["targets"]}) == 1
    with np.load(record["npy"]) as saved:
        assert sorted(saved.files) == sorted(METHOD_NAMES)
        x = demo.preprocess(demo.make_demo_image(0))[None]
        expected = ScoreCAM(demo.load_demo_model(), demo.DEMO_LAYER).compute(x).maps[0]
        np.testing.assert_allclose(saved["scorecam"], expected, rtol=1e-4, atol=1e-6)
    with Image.open(record["figure"]) as figure:
        assert figure.height > 0.3 * figure.width   # two rows of five panels, not one strip
    assert sorted(os.listdir(tmp_path)) == ["demo_cams.npz", "demo_cams.png"]


@pytest.mark.parametrize("extra", [["--top-k", "2"], ["--class-index", "1", "2"]])
def test_all_methods_for_several_classes_is_refused(capsys, extra, run_cli):
    code, _, err = run_cli("--demo-shapes", "--method", "all", *extra)
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]
    assert "--method all draws one panel per method for one class" in err


def test_unknown_method_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--demo-shapes", "--method", "grad-cam"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'grad-cam'" in capsys.readouterr().err
