"""Files for the command line tool: which inputs, where outputs go, progress.

Nothing here imports TensorFlow, so bad paths are reported before any model is loaded.
"""

import dataclasses
import os
import sys
import tempfile
import time

from gradcam_keras.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm", ".pbm", ".pnm", ".jfif")
FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg", ".tif", ".tiff", ".webp")
DEFAULT_OUTPUT_DIR = "gradcam_output"
# "Chelsea the cat" by Stefan van der Walt, CC0, from scikit-image's data (skimage.data.chelsea)
DEMO_PHOTO = "chelsea.jpg"


@dataclasses.dataclass(frozen=True)
class Source:
    """One image to explain.

    Attributes:
        name: base name of its outputs (``"cat"`` for ``cat.jpg``).
        label: how reports refer to it (the path, or e.g. ``"demo image (seed 0)"``).
        load: returns the image, ``uint8 [H, W, 3]``.
    """

    name: str
    label: str
    load: object

    @classmethod
    def from_file(cls, path):
        """A source read from an image file.

        Example:
            >>> Source.from_file("photos/cat.jpg").name
            'cat'
        """
        from gradcam_keras.image import load_image

        name = os.path.splitext(os.path.basename(path))[0] or "image"
        return cls(name, path, lambda: load_image(path))

    @classmethod
    def demo(cls, seed):
        """A freshly generated shapes image for the bundled shapes model (``--demo-shapes``)."""
        def load():
            from gradcam_keras import demo

            return demo.make_demo_image(seed=seed)

        return cls("demo", f"demo image (seed {seed})", load)


def demo_photo():
    """Return the path of the bundled photo ``--demo`` explains (a cat, CC0, scikit-image)."""
    import importlib.resources

    return str(importlib.resources.files("gradcam_keras") / "data" / DEMO_PHOTO)


def collect_inputs(paths):
    """Expand files and directories into the list of image files to explain.

    A directory contributes its image files (by suffix, not recursively, sorted). A file named
    explicitly is kept whatever its suffix; it is checked when it is read.

    Raises:
        InputError: a path does not exist, or a directory holds no image.
    """
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(entry.path for entry in os.scandir(path)
                           if entry.is_file() and entry.name.lower().endswith(IMAGE_SUFFIXES))
            if not found:
                raise InputError(f"directory {path!r} holds no image file (looked for "
                                 f"{', '.join(IMAGE_SUFFIXES[:8])}, ...); pass image files or "
                                 "another directory")
            files.extend(found)
        elif os.path.exists(path):
            files.append(path)
        else:
            raise InputError(f"input {path!r} does not exist; check the path")
    return files


def plan_outputs(output, names, inputs=(), tag="gradcam"):
    """Decide the figure path of each input.

    Args:
        output: the ``--output`` value: None (``gradcam_output/``), a directory, or a figure
            file (suffix in ``FIGURE_SUFFIXES``) when there is one input.
        names: one base name per input (``"cat"`` for ``cat.jpg``).
        inputs: input file paths, which are never overwritten.
        tag: what the figures show, appended to each name in a directory
            (``cat_gradcam.png``). Defaults to ``"gradcam"``.

    Returns:
        list of figure paths; their directories exist and are writable.

    Raises:
        InputError: a file output for several inputs, an unwritable place, or an output that
            would replace an input.
    """
    output = DEFAULT_OUTPUT_DIR if output is None else os.fspath(output)
    as_file = output.lower().endswith(FIGURE_SUFFIXES) and not os.path.isdir(output)
    if as_file and len(names) != 1:
        raise InputError(f"--output {output!r} names one file but there are {len(names)} "
                         "inputs; pass a directory")
    paths = [output] if as_file else _unique_paths(output, names, tag)
    _ensure_writable_dir(os.path.dirname(paths[0]) or ".")
    taken = {os.path.realpath(p) for p in inputs}
    for path in paths:
        if os.path.realpath(path) in taken:
            raise InputError(f"output {path!r} would overwrite an input file; choose another "
                             "--output")
        if os.path.isdir(path):
            raise InputError(f"output {path!r} is a directory; choose another --output")
    return paths


def _unique_paths(directory, names, tag):
    paths, seen = [], {}
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        suffix = "" if count == 0 else f"_{count + 1}"
        paths.append(os.path.join(directory, f"{name}{suffix}_{tag}.png"))
    return paths


def _ensure_writable_dir(directory):
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InputError(f"cannot write to output directory {directory!r} ({reason}); pass a "
                         "writable --output") from error


def companion(figure_path, suffix):
    """Return the path beside a figure for another output (``x.png`` -> ``x.npy``)."""
    return os.path.splitext(figure_path)[0] + suffix


class ProgressBar:
    """A one-line progress bar on stderr: ``[#####-----] 12/24 images, 3.1 s/image``.

    Args:
        total: number of steps.
        stream: where to draw. Defaults to ``sys.stderr``.
        enabled: draw nothing when False.
    """

    def __init__(self, total, stream=None, enabled=True, width=30):
        self.total, self.done, self.width = total, 0, width
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._start = time.perf_counter()

    def advance(self, steps=1):
        """Record finished steps and redraw."""
        self.done += steps
        if not self.enabled:
            return
        filled = int(self.width * self.done / max(self.total, 1))
        rate = (time.perf_counter() - self._start) / max(self.done, 1)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} images, {rate:.2f} s/image")
        if self.done >= self.total:
            self.stream.write("\n")
        self.stream.flush()
