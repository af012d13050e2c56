"""Files for the command line tool: which inputs, where outputs go, progress.

Nothing here imports TensorFlow, so bad paths are reported before any model is loaded.
"""

import dataclasses
import os
import stat
import tempfile

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

    A directory contributes its image files (by suffix, not recursively, sorted), skipping
    hidden files (names starting with ``.``: macOS ``._IMG.jpg`` forks, temporary files). A
    file named explicitly is kept whatever its suffix; it is checked when it is read.

    Returns:
        ``(files, from_directories)``: the paths, and the set of those found in a directory
        (a bad one of those is skipped and reported; a bad file named explicitly stops the run).

    Raises:
        InputError: a path does not exist, is not a regular file or directory (a FIFO, a
            device), a directory cannot be read or holds no image.
    """
    files, scanned = [], set()
    for path in paths:
        mode = path_mode(path)
        if stat.S_ISDIR(mode):
            found = _scan(path)
            files.extend(found)
            scanned.update(found)
        elif stat.S_ISREG(mode):
            files.append(path)
        else:
            raise InputError(f"input {path!r} is not a regular file (a FIFO, socket or device); "
                             "pass image files or directories")
    return files, scanned


def path_mode(path, what="input"):
    """Return ``os.stat(path).st_mode``; raise an InputError saying why it cannot be read."""
    try:
        return os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(f"{what} {path!r} does not exist; check the path") from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InputError(f"cannot access {what} {path!r} ({reason}); check the permissions of "
                         "it and of the directories above it") from None


def _scan(path):
    try:
        with os.scandir(path) as entries:
            found = sorted(entry.path for entry in entries
                           if not entry.name.startswith(".") and entry.is_file()
                           and entry.name.lower().endswith(IMAGE_SUFFIXES))
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InputError(f"cannot read input directory {path!r} ({reason}); check its "
                         "permissions") from None
    if not found:
        raise InputError(f"directory {path!r} holds no image file (looked for "
                         f"{', '.join(IMAGE_SUFFIXES[:8])}, ...; hidden files are skipped); "
                         "pass image files or another directory")
    return found


def plan_outputs(output, names, inputs=(), tag="gradcam", companions=()):
    """Decide the figure path of each input, and check every file the run will write.

    Nothing is created: the run makes the output directory when it writes the first file, so a
    run that fails before leaves no empty folder behind.

    Args:
        output: the ``--output`` value: None (``gradcam_output/``), a directory, or a figure
            file (suffix in ``FIGURE_SUFFIXES``) when there is one input.
        names: one base name per input (``"cat"`` for ``cat.jpg``).
        inputs: input file paths, which are never overwritten.
        tag: what the figures show, appended to each name in a directory
            (``cat_gradcam.png``). Defaults to ``"gradcam"``.
        companions: suffixes of the other files written beside each figure (``(".npy",)``
            for ``--save-npy``); they are checked like the figures.

    Returns:
        list of figure paths; their directory exists or can be created, and is writable.

    Raises:
        InputError: a file output for several inputs or of a format figures cannot have, an
            unwritable place, a name too long for the file system, or an output that would
            replace an input.
    """
    output = DEFAULT_OUTPUT_DIR if output is None else os.fspath(output)
    suffix = os.path.splitext(output)[1].lower()
    is_dir = os.path.isdir(output)
    if not is_dir and suffix in _FILE_SUFFIXES and suffix not in FIGURE_SUFFIXES:
        raise InputError(f"--output {output!r} names a {suffix} file, which figures cannot be "
                         f"written as; use one of {', '.join(FIGURE_SUFFIXES)}, or a directory")
    as_file = suffix in FIGURE_SUFFIXES and not is_dir
    if as_file and len(names) != 1:
        raise InputError(f"--output {output!r} names one file but there are {len(names)} "
                         "inputs; pass a directory")
    paths = [output] if as_file else _unique_paths(output, names, tag)
    _check_writable_dir(os.path.dirname(paths[0]) or ".")
    taken = {os.path.realpath(p) for p in inputs}
    for path in paths:
        for written in (path, *(companion(path, s) for s in companions)):
            _check_output_file(written, taken)
    return paths


# Suffixes that name a file, not a directory, in --output.
_FILE_SUFFIXES = (*IMAGE_SUFFIXES, *FIGURE_SUFFIXES, ".eps", ".ps", ".npy", ".npz", ".json",
                  ".txt", ".csv", ".html")
_TEMP_EXTRA = len(".") + len(".") + 8  # atomic_write's temporary name: ".NAME.XXXXXXXX.SUFFIX"


def _check_output_file(path, taken):
    if os.path.realpath(path) in taken:
        raise InputError(f"output {path!r} would overwrite an input file; choose another "
                         "--output")
    if os.path.isdir(path):
        raise InputError(f"output {path!r} is a directory; choose another --output")
    name = os.fsencode(os.path.basename(path))
    limit = _name_max(os.path.dirname(path) or ".")
    if len(name) + len(os.path.splitext(name)[1]) + _TEMP_EXTRA > limit:
        raise InputError(f"output file name {os.path.basename(path)[:40]!r}... is too long "
                         f"({len(name)} bytes; the file system allows {limit}, less "
                         f"{_TEMP_EXTRA + 4} for the temporary file); rename the input or pass "
                         "--output FILE.png")


def _name_max(directory):
    while directory and not os.path.isdir(directory):
        directory = os.path.dirname(directory)
    try:
        return os.pathconf(directory or ".", "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _unique_paths(directory, names, tag):
    paths, seen = [], {}
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        suffix = "" if count == 0 else f"_{count + 1}"
        paths.append(os.path.join(directory, f"{name}{suffix}_{tag}.png"))
    return paths


def _check_writable_dir(directory):
    existing = directory
    while not os.path.exists(existing):  # the directory is made later, by the first write
        existing = os.path.dirname(existing) or "."
    try:
        if not os.path.isdir(existing):
            raise NotADirectoryError(20, f"{existing!r} is a file")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InputError(f"cannot write to output directory {directory!r} ({reason}); pass a "
                         "writable --output") from error


def companion(figure_path, suffix):
    """Return the path beside a figure for another output (``x.png`` -> ``x.npy``)."""
    return os.path.splitext(figure_path)[0] + suffix


def check_model_file(spec):
    """Check that a ``--model`` path to a ``.keras`` or ``.h5`` file is one, before Keras reads it.

    Keras reports an empty or corrupt ``.keras`` file as "File not found"; this says what it is.

    Raises:
        InputError: the file exists but is empty or not the archive its suffix promises.
    """
    import zipfile

    suffix = os.path.splitext(spec)[1].lower()
    if suffix not in (".keras", ".h5", ".hdf5") or not os.path.exists(spec):
        return
    if not stat.S_ISREG(path_mode(spec, "model file")):
        raise InputError(f"model file {spec!r} is not a regular file; pass a saved .keras file")
    try:
        with open(spec, "rb") as handle:
            head = handle.read(8)
    except OSError as error:
        raise InputError(f"cannot read model file {spec!r} ({error.strerror}); check its "
                         "permissions") from None
    valid = zipfile.is_zipfile(spec) if suffix == ".keras" else head == b"\x89HDF\r\n\x1a\n"
    if not valid:
        what = "is empty" if not head else "is corrupt or not a Keras model file"
        kind = "zip archive" if suffix == ".keras" else "HDF5 file"
        raise InputError(f"model file {spec!r} {what} (a {suffix} file is a {kind}); save it "
                         "again with model.save('name.keras')")
