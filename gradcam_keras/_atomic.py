"""Writing a file so that readers see the old file or the complete new one, never a part."""

import contextlib
import os
import tempfile


def atomic_write(path, write):
    """Write ``path`` through a temporary file in the same directory, then replace it.

    ``write(tmp_path)`` writes the temporary file (keeping its suffix, so writers that choose
    the format by suffix work), which then replaces ``path`` with ``os.replace`` (atomic on
    POSIX and Windows). On any failure the temporary file is removed and ``path`` is untouched.

    Example:
        >>> import pathlib, tempfile
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
        >>> atomic_write(target, lambda tmp: pathlib.Path(tmp).write_text("done"))
        >>> target.read_text()
        'done'
    """
    directory, name = os.path.split(os.path.abspath(path))
    suffix = os.path.splitext(name)[1]
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _umask():
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask
