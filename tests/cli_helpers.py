"""Helpers shared by the command line tests: a random photo on disk and a captured run."""

import numpy as np
from PIL import Image

from gradcam_keras.__main__ import main


def write_photo(path, size=(40, 60), seed=0):
    """Writes a random RGB image of ``size`` (rows, columns) to ``path``; returns it as str."""
    pixels = np.random.default_rng(seed).integers(0, 256, size + (3,), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return str(path)


def run_cli(capsys, *argv):
    """Runs the tool on ``argv`` in this process; returns ``(exit code, stdout, stderr)``."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err
