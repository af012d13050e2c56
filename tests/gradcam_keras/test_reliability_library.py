"""Issue #12 (gradcam_keras) in this process: library errors, messages that need a model, the
JSON, progress and titles. The real command's cases are in test_reliability_cli.py."""

import io
import json
import math
import os
import signal
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from gradcam_keras import GradCAM, metrics
from gradcam_keras.cli import main as cli_main
from gradcam_keras.errors import InputError, ZeroMapWarning
from gradcam_keras.image import upsample
from gradcam_keras.models import describe_conv_layers
from gradcam_keras.plot import panel_title


def _one_line(run_cli, *argv, match):
    code, out, err = run_cli(*argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("gradcam-keras: error: "), err
    assert match in lines[0] and "Traceback" not in err, lines[0]


def _save(tmp_path, name, model):
    path = tmp_path / name
    model.save(path)
    return str(path)


@keras.saving.register_keras_serializable(package="issue12")
class Doubling(layers.Layer):
    def call(self, x):
        return 2 * x


@keras.saving.register_keras_serializable(package="issue12")
class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv, self.pool, self.head = (layers.Conv2D(4, 3), layers.GlobalAveragePooling2D(),
                                           layers.Dense(3))

    def call(self, x):
        return self.head(self.pool(self.conv(x)))


def test_model_messages_say_what_is_wrong(tmp_path, run_cli, photo, small_sequential):
    # 12: each used to mislead (a "shared layer", "pass `layer=`", refusing c1 while listing
    # it, "resize them first", a message cut before the missing class).
    good = photo(tmp_path / "good.png")
    pixels = keras.Input((20, 24, 3), name="pixels")
    plain = _save(tmp_path, "plain.keras", keras.Model(pixels, small_sequential()(pixels)))
    _one_line(run_cli, "--model", plain, "--input", good, "--layer", "pixels",
              match="'pixels' is the model's input, not a feature map")
    mlp = _save(tmp_path, "mlp.keras", keras.Sequential([keras.Input((8, 8, 3)),
                                                          layers.Flatten(), layers.Dense(3)]))
    _one_line(run_cli, "--model", mlp, "--input", good, match="(--layer on the command line)")
    conv1d = keras.Sequential([keras.Input((8, 8, 3)), layers.Reshape((64, 3)),
                               layers.Conv1D(4, 3, name="c1"), layers.GlobalAveragePooling1D(),
                               layers.Dense(3)])
    _one_line(run_cli, "--model", _save(tmp_path, "c1.keras", conv1d), "--input", good,
              "--layer", "c1", match="no layer with a 2-D feature map")
    four = keras.Sequential([keras.Input((8, 8, 4)), layers.Conv2D(4, 3),
                             layers.GlobalAveragePooling2D(), layers.Dense(3)])
    _one_line(run_cli, "--model", _save(tmp_path, "rgba.keras", four), "--input", good,
              match="takes images of 4 channels")
    custom = _save(tmp_path, "custom.keras", keras.Sequential([
        keras.Input((8, 8, 3)), Doubling(), layers.Conv2D(2, 3), layers.Flatten(),
        layers.Dense(3)]))
    net = Subclassed()
    net(np.zeros((1, 8, 8, 3), np.float32))
    _one_line(run_cli, "--model", _save(tmp_path, "net.keras", net), "--input", good,
              match="subclassed model 'Subclassed'")  # 11: a library TypeError is exit 2 too
    keras.saving.get_custom_objects().pop("issue12>Doubling")
    try:
        _one_line(run_cli, "--model", custom, "--input", good,
                  match="Could not locate class 'Doubling'")
    finally:
        keras.saving.get_custom_objects()["issue12>Doubling"] = Doubling


def test_unreadable_directories_and_failures_under_debug(tmp_path, run_cli, photo, monkeypatch,
                                                         model_file):
    # 11, 12: a PermissionError (tests run as root: simulated), "does not exist" for a file
    # that exists in an unreadable directory; --debug still said "rerun with --debug".
    locked = tmp_path / "locked"
    locked.mkdir()
    inside = photo(locked / "a.png")
    real_scandir, real_stat = os.scandir, os.stat

    def scandir(path):
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    def stat(path, *args, **kwargs):
        if os.fspath(path) == inside:
            raise PermissionError(13, "Permission denied")
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    _one_line(run_cli, "--demo-shapes", "--input", locked, match="cannot read input directory")
    monkeypatch.setattr(os, "stat", stat)
    _one_line(run_cli, "--demo-shapes", "--input", inside,
              match="cannot access input '" + inside + "' (Permission denied)")
    monkeypatch.undo()
    from gradcam_keras.cli import run

    monkeypatch.setattr(run, "explain", lambda *a, **k: 1 / 0)
    code, _, err = run_cli("--model", model_file, "--input", photo(tmp_path / "b.png"),
                           "--output", tmp_path / "never" / "made", "--debug")
    assert code == 1 and "ZeroDivisionError" in err and "rerun with --debug" not in err
    assert not (tmp_path / "never").exists()  # 12: no new empty folder


def test_library_arguments_give_clear_errors(small_sequential):
    # 13: raw AttributeError, "Scalar tensor has no len()", numpy's errors, argmax of an empty
    # sequence, ZeroDivisionError.
    model = small_sequential()
    images = np.random.default_rng(0).random((2, 20, 24, 3), np.float32)

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv, self.head = layers.Conv2D(4, 3), layers.Dense(3)

        def call(self, x):
            return self.head(tf.reduce_mean(self.conv(x), axis=(1, 2)))

    net = Net()
    net(images)
    with pytest.raises(TypeError, match="subclassed model 'Net'.*rebuild it with keras.Input"):
        GradCAM(net, "conv2d")
    cam = GradCAM(model, "conv2", batch_size=np.int64(4))
    np.testing.assert_array_equal(cam.compute(images, tf.constant(1)).class_index, [[1], [1]])
    with pytest.raises(InputError, match="`images` must be a numeric array"):
        cam(np.array([["a"]]))
    with pytest.raises(InputError, match="`images` must be a numeric array"):
        cam([[1, 2], [3]])
    with pytest.raises(InputError, match=r"`threshold` must be .* in \(0, 1\]"):
        metrics.localization_error(np.ones((1, 8, 8)), np.array([[0, 0, 4, 4]]), threshold=2)
    with pytest.raises(InputError, match="`cam_map` is empty"):
        upsample(np.zeros((0, 0)), (4, 4))


def test_nan_maps_are_errors_not_zero_maps(small_sequential):
    # 8: NaN weights gave NaN maps with a false ZeroMapWarning; pointing_game returned 1.0.
    model = small_sequential("linear")
    model.layers[-1].kernel.assign(np.full(model.layers[-1].kernel.shape, np.nan, np.float32))
    images = np.random.default_rng(0).random((2, 20, 24, 3), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZeroMapWarning)
        with pytest.raises(InputError, match="NaN or infinite scores for image"):
            GradCAM(model, "conv2").compute(images)
    with pytest.raises(ValueError, match="NaN or infinite"):
        metrics.pointing_game(np.full((1, 8, 8), np.nan), np.array([[0, 0, 4, 4]]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        metrics.map_box(np.full((8, 8), np.inf))


def test_json_is_valid_even_with_non_finite_numbers(capsys):
    # 8: --json wrote bare NaN, which JSON.parse rejects.
    cli_main._print_json("m", "images", [{"score": math.nan, "x": [math.inf, 1.0]}])
    text = capsys.readouterr().out
    report = json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name}"))
    assert report["images"] == [{"score": None, "x": [None, 1.0]}]


def test_list_layers_counts_channels_first_parameters_as_keras(tmp_path, run_cli):
    # 14: the input channels were read from the last axis.
    model = keras.Sequential([keras.Input((32, 10, 10)),
                              layers.Conv2D(8, 3, data_format="channels_first", name="cf")])
    rows = describe_conv_layers(model)
    assert rows[0]["params"] == model.layers[0].count_params() == 3 * 3 * 32 * 8 + 8
    code, out, _ = run_cli("--model", _save(tmp_path, "cf.keras", model), "--list-layers")
    assert code == 0 and "2,312" in out and "3*3*8*32 + 8" in out


def test_progress_for_a_short_json_run_is_on_stderr_without_carriage_returns(
        tmp_path, run_cli, monkeypatch):
    # 16: runs of 3 or fewer images, and --json runs, printed nothing until the end.
    from gradcam_keras.cli import progress

    monkeypatch.setattr(progress, "DELAY", 0.0)
    code, out, err = run_cli("--demo-shapes", "--json", "--output", tmp_path)
    assert code == 0, err
    assert json.loads(out)["images"]  # stdout is the JSON only
    assert "1/1 images" in err and "\r" not in err


def test_sighup_removes_the_temporary_file_too(tmp_path, run_cli, monkeypatch):
    # 7: as SIGTERM in test_reliability_cli.py: the hang-up arrives while a figure is written.
    from gradcam_keras.cli import run

    real_figure = run.figure

    def figure_then_hang_up(*args, **kwargs):
        fig = real_figure(*args, **kwargs)
        real_savefig = fig.savefig

        def savefig(path, **options):
            real_savefig(path, **options)
            assert os.path.basename(path).startswith(".")  # the temporary file, now written
            os.kill(os.getpid(), signal.SIGHUP)

        fig.savefig = savefig
        return fig

    def unhandled(signum, frame):  # the tool's own handler must take the signal, not this
        unhandled.calls += 1

    unhandled.calls = 0
    monkeypatch.setattr(run, "figure", figure_then_hang_up)
    previous = signal.signal(signal.SIGHUP, unhandled)
    try:
        code, _, err = run_cli("--demo-shapes", "--output", tmp_path / "maps")
        assert signal.getsignal(signal.SIGHUP) is unhandled  # put back after the run
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert code == 128 + signal.SIGHUP and unhandled.calls == 0
    assert err == "gradcam-keras: terminated by SIGHUP; no partial file was left\n"
    assert os.listdir(tmp_path / "maps") == []


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_messages_are_not_glued_to_the_progress_bar(monkeypatch):
    # 12: "error"/"interrupted" lines were appended to the half-drawn bar.
    from gradcam_keras.cli import progress

    stream = _Terminal()
    monkeypatch.setattr("sys.stderr", stream)
    bar = progress.ProgressBar(3, stream=stream)
    bar.advance()
    cli_main._say("interrupted")
    text = stream.getvalue()
    assert text.startswith("\r[") and "1/3 images" in text
    assert text.endswith("\ngradcam-keras: interrupted\n")


def test_titles_have_correct_ordinals():
    # 18: "1th dimension", "523th dimension".
    from gradcam_keras.plot import ordinal

    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111, 523)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th",
        "523rd"]
    assert panel_title(523, "cat", "conv").startswith("523rd dimension (cat)")


def test_the_readme_sanity_check_prints_no_zero_map_warning():
    # 19: the README's "Beyond Grad-CAM" example printed three ZeroMapWarnings (maps of the
    # randomised copies); the suite's conftest makes any unexpected one an error.
    from gradcam_keras import demo
    from gradcam_keras.demo import shapes

    model = demo.load_demo_model()
    images = demo.preprocess(shapes.generate(100, seed=1234).images)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZeroMapWarning)
        rhos = dict(metrics.randomization_sanity_check("gradcam", model, images[:20]))
    assert abs(rhos["logits"] - 0.38) < 0.02 and abs(rhos["conv1"] - 0.02) < 0.02
