"""Issue #12 (gradcam_keras), the real command in a subprocess: exit status, one stderr line,
the files on disk before and after. The cases that fail before TensorFlow loads are grouped."""

import json
import os
import pathlib
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

DATA = pathlib.Path(__file__).resolve().parents[2] / "gradcam_keras" / "data"


# As a user runs it: the tests' TensorFlow log level is not inherited.
ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def _cli(*argv, cwd, timeout=120):
    result = subprocess.run([sys.executable, "-m", "gradcam_keras", *map(str, argv)], cwd=cwd,
                            capture_output=True, text=True, timeout=timeout, env=ENV)
    return result.returncode, result.stdout, result.stderr


def _files(root):
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
            for p in pathlib.Path(root).rglob("*") if not p.is_fifo()}


def _one_error(code, err, match):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("gradcam-keras: error: ") and match in lines[0], lines[0]
    assert "Traceback" not in err and "usage:" not in err


def _png_claiming(path, width, height):
    """A tiny valid PNG whose header says width x height (a decompression bomb by its size)."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(pathlib.Path(path).read_bytes())
    ihdr = data[12:16] + struct.pack(">II", width, height) + data[24:29]
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    pathlib.Path(path).write_bytes(bytes(data))


def _mistakes(tmp_path):
    """(argv, text the one line must hold) for user mistakes caught before TensorFlow loads."""
    shutil.copy(DATA / "chelsea.jpg", tmp_path / "photo.png")
    shutil.copy(DATA / "coffee.jpg", tmp_path / "photo_gradcam.npy")
    shutil.copy(DATA / "coffee.jpg", tmp_path / "photo_cams.npz")
    os.mkfifo(tmp_path / "f.png")
    (tmp_path / "gap.json").write_text(json.dumps({"0": ["n0", "cat"], "2": ["n2", "dog"]}))
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)))
    long_name = "x" * 250 + ".png"
    shutil.copy(DATA / "chelsea.jpg", tmp_path / long_name)
    (tmp_path / "empty.keras").write_bytes(b"")
    (tmp_path / "corrupt.keras").write_bytes(b"not a zip archive")
    _png_claiming(tmp_path / "bomb.png", 14000, 14000)
    shapes = ("--demo-shapes", "--input", "photo.png")
    return [
        # 6: the reproduction of the issue: the .npy would have replaced an input
        (("--demo", "--input", "photo.png", "photo_gradcam.npy", "--output", ".", "--save-npy"),
         "'./photo_gradcam.npy' would overwrite an input"),
        (("--demo-shapes", "--input", "photo.png", "photo_cams.npz", "--save-npy", "--method",
          "all", "--output", "."), "would overwrite an input"),
        (("--demo", "--input", "f.png"), "not a regular file"),  # 9: a FIFO, no hang
        (("--demo-shapes", "--seed", "-1"), "--seed: expected 0 or a positive integer"),  # 11
        ((*shapes, "--labels", "gap.json"), "has no entry '1'"),
        ((*shapes, "--labels", "binary.txt"), "is not UTF-8 text"),
        (("--demo-shapes", "--input", long_name), "is too long"),
        (("--demo-shapes", "--top-k", "abc"), "--top-k: expected a positive integer, got abc"),
        ((*shapes, "--layer", ""), "--layer is empty"),  # 12
        (("--model", "empty.keras", "--input", "photo.png"), "'empty.keras' is empty"),
        (("--model", "corrupt.keras", "--input", "photo.png"), "is corrupt or not a Keras"),
        (("--demo-shapes", "--input", "bomb.png"), "decompression-bomb limit"),
        ((*shapes, "--output", "out.gif"), "names a .gif file"),
        ((*shapes, "--output", "new/deeper/x.gif"), "names a .gif file"),
    ]


def test_user_mistakes_exit_2_with_one_line_before_tensorflow_and_write_nothing(tmp_path):
    cases = _mistakes(tmp_path)
    before = _files(tmp_path)
    for argv, match in cases:
        start = time.perf_counter()
        code, out, err = _cli(*argv, cwd=tmp_path, timeout=60)
        _one_error(code, err, match)
        assert "_positive_int" not in err and out == ""
        assert time.perf_counter() - start < 20, argv  # no model was loaded, no hang
        assert _files(tmp_path) == before, argv  # nothing written, no empty folder, no out.gif/
    code, out, _ = _cli("--help", cwd=tmp_path)
    assert code == 0 and "exit status: 0 done; 2 a mistake" in out
    assert "hidden files, named .*, are skipped" in " ".join(out.split())


def test_hidden_and_unreadable_files_in_a_directory_are_skipped_and_reported(tmp_path):
    # 7: a macOS fork and a killed run's temporary file (hidden) are not inputs; a truncated
    # photo is skipped, reported in one line, and the run exits 2 after writing the others.
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(DATA / "chelsea.jpg", photos / "cat.jpg")
    (photos / "._IMG_0001.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    data = (DATA / "coffee.jpg").read_bytes()
    (photos / ".img_13_gradcam.png.ekt0a5yj.png").write_bytes(data[:100])
    (photos / "cut.jpg").write_bytes(data[: len(data) // 3])
    code, out, err = _cli("--demo-shapes", "--input", photos, "--output", tmp_path / "maps",
                          cwd=tmp_path)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "skipped input file" in lines[0] and "cut.jpg" in lines[0]
    assert "the other 1 image(s) were explained" in lines[0]
    assert os.listdir(tmp_path / "maps") == ["cat_gradcam.png"]
    assert out.startswith(f"{photos / 'cat.jpg'}: class ")


def test_a_killed_run_leaves_no_temporary_file(tmp_path):
    # 7: SIGTERM while a figure is being written left ".img_13_gradcam.png.ekt0a5yj.png" (8 of
    # 8 times); now the temporary file is removed (SIGHUP: test_reliability_library.py).
    photos, maps = tmp_path / "photos", tmp_path / "maps"
    photos.mkdir()
    for i in range(4):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (900, 900, 3), np.uint8)).save(
            photos / f"img_{i:02d}.png")
    process = subprocess.Popen([sys.executable, "-m", "gradcam_keras", "--demo-shapes",
                                "--input", str(photos), "--output", str(maps), "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        names = os.listdir(maps) if maps.is_dir() else []
        if any(name.startswith(".") for name in names):
            process.send_signal(signal.SIGTERM)  # a temporary file is being written right now
            break
        time.sleep(0.002)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines() == [
        "gradcam-keras: terminated by SIGTERM; no partial file was left"]
    assert [n for n in os.listdir(maps) if n.startswith(".")] == []


def _nan_model(path):
    model = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(4, 3, name="conv"),
                              layers.GlobalAveragePooling2D(), layers.Dense(3)])
    model.layers[-1].kernel.assign(np.full((4, 3), np.nan, np.float32))
    model.save(path)
    return path


def _many_classes(path, classes=30):
    model = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(4, 3, name="conv"),
                              layers.GlobalAveragePooling2D(), layers.Dense(classes)])
    model.save(path)
    return path


def test_nan_scores_are_an_error_not_a_zero_map(tmp_path):
    # 8: NaN weights gave all-NaN maps, a false "zero everywhere" note, exit 0 and bare NaN.
    shutil.copy(DATA / "chelsea.jpg", tmp_path / "cat.jpg")
    model = _nan_model(tmp_path / "nan.keras")
    code, out, err = _cli("--model", model, "--input", "cat.jpg", "--json", "--output", "out",
                          cwd=tmp_path)
    _one_error(code, err, "NaN or infinite scores")
    assert "zero everywhere" not in err and out == ""
    assert not (tmp_path / "out").exists()  # a failed run leaves no new empty folder


def test_big_figures_are_bounded_and_say_so(tmp_path):
    # 10: --top-k over many classes drew one panel each (a 500,490 px PNG for 1000); a big
    # photo was overlaid at full size. The maps saved keep every class.
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (1100, 1040, 3), np.uint8)).save(
        tmp_path / "big.png")
    model = _many_classes(tmp_path / "wide.keras")
    code, out, err = _cli("--model", model, "--input", "big.png", "--top-k", "26", "--json",
                          "--save-npy", "--output", "maps", cwd=tmp_path)
    assert code == 0, err
    record = json.loads(out, parse_constant=lambda name: pytest.fail(f"bare {name} in JSON"))
    record = record["images"][0]
    assert len(record["targets"]) == 26 and record["image_shape"] == [1100, 1040]
    assert np.load(tmp_path / record["npy"]).shape == (26, 30, 30)
    with Image.open(tmp_path / record["figure"]) as fig:
        assert fig.width <= 2100 and fig.height <= 2700, fig.size  # 5 rows of 5; 26 maps: 6
    assert "a figure draws at most 24 maps; 26 were asked for" in err
    assert "drawn downscaled to 1024 px" in err
