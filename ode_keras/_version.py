"""The distribution's version, read from its installed metadata (setup.cfg is its one source)."""

from importlib import metadata

try:
    __version__ = metadata.version("keras-repro")
except metadata.PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0+unknown"
