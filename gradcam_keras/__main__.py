"""Command line interface: ``python -m gradcam_keras`` and ``gradcam-keras``."""

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``gradcam-keras`` command."""
    return argparse.ArgumentParser(
        prog="gradcam-keras",
        description="Grad-CAM heatmaps for Keras image classifiers.",
    )


def main(argv=None) -> int:
    """Run the command line tool and return its exit status."""
    build_parser().parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
